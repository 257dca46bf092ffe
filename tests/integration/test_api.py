"""The REST API under /api/v1/, through the real URL configuration, with tokens of each scope."""

import datetime as dt

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from importer import api, tokens
from importer.history import activity
from importer.models import ApiToken, AuditEvent, ImportRun
from tests.conftest import wait_for_run
from tests.factories import UserFactory
from users.models import User

ALL_SCOPES = list(ApiToken.Scope.values)
# Alice, the admin, is in the file: a run through the API has no acting admin to keep.
TWO_PEOPLE = (
    b"email,first_name,last_name\nalice@acme.example,Alice,\n"
    b"ana@acme.example,Ana,Lima\nbo@acme.example,Bo,Berg\n"
)


def make_token(organization, scopes=ALL_SCOPES, *, name="HR nightly", by=None, **kwargs):
    return tokens.create_token(
        organization=organization,
        name=name,
        scopes=list(scopes),
        expires_at=kwargs.get("expires_at"),
        acting_user=by,
    )


def bearer(secret: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


@pytest.fixture
def in_process(monkeypatch):
    """Run the tasks the API enqueues at once, in this process, as a worker would."""

    def enqueue(task, run_id):
        task(run_id)
        return True

    monkeypatch.setattr(api, "enqueue", enqueue)


@pytest.fixture
def secret(acme, alice):
    return make_token(acme, by=alice)[1]


def upload(client, secret, data=TWO_PEOPLE, **headers):
    return client.post(
        reverse("api:runs"), data, content_type="text/csv", **bearer(secret), **headers
    )


# --- tokens -----------------------------------------------------------------------------------


def test_a_token_is_stored_as_a_hash_and_its_making_is_audited(acme, alice):
    token, secret = make_token(acme, ["imports:write"], by=alice)

    assert secret.startswith("rsk_") and len(secret) > 40
    assert token.secret_sha256 == tokens.hash_secret(secret)
    assert secret not in str(ApiToken.objects.filter(pk=token.pk).values().get())
    event = AuditEvent.objects.get(kind=AuditEvent.Kind.API_TOKEN_CREATED)
    assert (event.acting_user, event.data) == (
        alice,
        {"token": "HR nightly", "scopes": ["imports:write"]},
    )


def test_a_revoked_or_expired_token_or_none_is_refused_with_401(client, acme, alice):
    revoked, revoked_secret = make_token(acme)
    tokens.revoke_token(revoked, acting_user=alice)
    _expired, expired_secret = make_token(acme, expires_at=timezone.now() - dt.timedelta(minutes=1))
    for headers in (bearer(revoked_secret), bearer(expired_secret), bearer("rsk_nope"), {}):
        response = client.get(reverse("api:runs"), **headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_token"
        assert response["WWW-Authenticate"] == "Bearer"
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.API_TOKEN_REVOKED).count() == 1


def test_a_session_alone_does_not_open_the_api(alice_client):
    assert alice_client.get(reverse("api:runs")).status_code == 401


def test_the_token_records_its_last_use(client, acme):
    token, secret = make_token(acme)
    assert token.last_used_at is None

    client.get(reverse("api:runs"), **bearer(secret))

    token.refresh_from_db()
    assert token.last_used_at is not None


# --- scopes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "route", "args", "scope"),
    [
        ("post", "api:runs", [], "imports:write"),
        ("get", "api:runs", [], "history:read"),
        ("post", "api:run-apply", ["run"], "imports:apply"),
        ("post", "api:run-same-person", ["run"], "imports:apply"),
        ("get", "api:run-changes-export", ["run", "csv"], "history:read"),
        ("get", "api:users-export", ["csv"], "users:read"),
    ],
)
def test_each_route_needs_its_scope(client, acme, alice, method, route, args, scope):
    run = ImportRun.objects.create(organization=acme, source=ImportRun.Source.API)
    url = reverse(route, args=[run.pk if arg == "run" else arg for arg in args])
    for other in set(ALL_SCOPES) - {scope}:
        _token, secret = make_token(acme, [other])
        response = getattr(client, method)(url, **bearer(secret))
        assert response.status_code == 403, (other, response.content)
        assert response.json()["error"]["code"] == "missing_scope"
    _token, secret = make_token(acme, [scope])
    response = getattr(client, method)(url, **bearer(secret))
    assert response.status_code != 403


def test_a_run_is_read_with_any_scope_of_the_import_but_not_users_read(client, acme):
    run = ImportRun.objects.create(organization=acme, source=ImportRun.Source.API)
    for scope, status in [
        ("imports:write", 200),
        ("imports:apply", 200),
        ("history:read", 200),
        ("users:read", 403),
    ]:
        _token, secret = make_token(acme, [scope])
        assert client.get(reverse("api:run", args=[run.pk]), **bearer(secret)).status_code == status


# --- a whole import from a script -------------------------------------------------------------


def test_a_script_uploads_polls_and_applies(client, acme, alice, secret, in_process):
    response = upload(client, secret)

    assert response.status_code == 202
    body = response.json()
    run = ImportRun.objects.get(pk=body["run"])
    assert response["Location"] == reverse("api:run", args=[run.pk])
    assert (run.source, run.api_token.name, run.created_by) == ("api", "HR nightly", None)

    body = client.get(response["Location"], **bearer(secret)).json()
    assert body["status"] == "ready" and body["can_apply"]
    assert body["counts"]["new"] == 2
    assert [change["email"] for change in body["changes"]] == [
        "ana@acme.example",
        "bo@acme.example",
    ]
    assert body["api_token"] == "HR nightly"
    assert body["url"].endswith(reverse("importer:run-detail", args=[run.pk]))

    response = client.post(reverse("api:run-apply", args=[run.pk]), **bearer(secret))

    assert response.status_code == 202
    assert client.get(reverse("api:run", args=[run.pk]), **bearer(secret)).json()["status"] == (
        "applied"
    )
    # The run's activity says who applied it: the token, by name.
    applied = [line for line in activity.run_activity(run) if line.what == "Import requested"]
    assert [line.by_system_inline for line in applied] == ["by API token HR nightly"]
    assert set(User.objects.filter(organization=acme).values_list("email", flat=True)) >= {
        "ana@acme.example",
        "bo@acme.example",
    }


def test_the_run_is_the_shape_of_import_users_json(client, acme, secret, in_process):
    from importer.runs.selectors import run_as_json

    run = ImportRun.objects.get(pk=upload(client, secret).json()["run"])
    body = client.get(reverse("api:run", args=[run.pk]), **bearer(secret)).json()

    command = run_as_json(run)
    assert {key: body[key] for key in command} == command


def test_a_multipart_file_or_csv_field_makes_a_run(client, acme, secret, fixture_path):
    data = fixture_path("two_employees.xlsx").read_bytes()
    response = client.post(
        reverse("api:runs"),
        {"file": SimpleUploadedFile("HR export.xlsx", data)},
        **bearer(secret),
    )
    assert response.status_code == 202
    assert ImportRun.objects.get(pk=response.json()["run"]).input_name == "HR export.xlsx"

    response = client.post(reverse("api:runs"), {"csv": TWO_PEOPLE.decode()}, **bearer(secret))
    assert response.status_code == 202
    run = ImportRun.objects.get(pk=response.json()["run"])
    assert run.input_file.read() == TWO_PEOPLE


def test_changes_come_a_page_at_a_time(client, acme, secret, in_process):
    run_id = upload(client, secret).json()["run"]

    body = client.get(
        reverse("api:run", args=[run_id]), {"offset": 1, "limit": 1}, **bearer(secret)
    ).json()

    assert [change["email"] for change in body["changes"]] == ["bo@acme.example"]
    assert body["paging"] == {"offset": 1, "limit": 1, "changes_total": 2, "skipped_total": 0}


def test_an_idempotency_key_never_makes_two_runs(client, acme, secret):
    first = upload(client, secret, HTTP_IDEMPOTENCY_KEY="nightly-2026-12-01")
    again = upload(client, secret, HTTP_IDEMPOTENCY_KEY="nightly-2026-12-01")

    assert (first.status_code, again.status_code) == (202, 200)
    assert first.json()["run"] == again.json()["run"]
    assert ImportRun.objects.count() == 1

    other = upload(
        client, secret, b"email\nother@acme.example\n", HTTP_IDEMPOTENCY_KEY="nightly-2026-12-01"
    )
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert upload(client, secret, HTTP_IDEMPOTENCY_KEY="nightly-2026-12-02").status_code == 202


# --- the same refusals as the web -------------------------------------------------------------


def test_an_empty_or_too_large_upload_is_refused(client, acme, secret, settings):
    response = upload(client, secret, b"  \n")
    assert (response.status_code, response.json()["error"]["code"]) == (400, "empty_input")

    settings.IMPORT_MAX_UPLOAD_BYTES = 10
    response = upload(client, secret)
    assert (response.status_code, response.json()["error"]["code"]) == (413, "too_large")
    assert not ImportRun.objects.exists()


def test_the_companys_limit_of_waiting_runs_holds(client, acme, secret, settings):
    settings.IMPORT_MAX_QUEUED_RUNS_PER_ORG = 1
    assert upload(client, secret).status_code == 202

    response = upload(client, secret, b"email\nsomeone@acme.example\n")

    assert response.status_code == 429
    assert response.json()["error"]["code"] == "limit_reached"
    assert ImportRun.objects.count() == 1


def test_a_run_past_its_safeguard_needs_the_confirmation(client, acme, alice, secret, in_process):
    people = [UserFactory(organization=acme, email=f"p{n}@acme.example") for n in range(10)]
    data = "email\n" + "".join(f"{person.email}\n" for person in people[5:])
    run_id = upload(client, secret, data.encode()).json()["run"]
    run = ImportRun.objects.get(pk=run_id)
    assert run.safeguard_message

    refused = client.post(reverse("api:run-apply", args=[run_id]), **bearer(secret))
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "safeguard_confirmation_required"
    run.refresh_from_db()
    assert run.status == ImportRun.Status.READY

    url = reverse("api:run-apply", args=[run_id]) + "?confirm_safeguard=true"
    assert client.post(url, **bearer(secret)).status_code == 202
    run.refresh_from_db()
    assert run.status == ImportRun.Status.APPLIED


def test_hold_rest_applies_within_the_limits_and_names_the_held_part(
    client, acme, alice, secret, in_process, django_capture_on_commit_callbacks
):
    people = [UserFactory(organization=acme, email=f"p{n}@acme.example") for n in range(10)]
    data = "email\n" + "".join(f"{person.email}\n" for person in [alice, *people[5:]])
    run_id = upload(client, secret, data.encode()).json()["run"]

    url = reverse("api:run-apply", args=[run_id]) + "?hold_rest=true"
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, **bearer(secret))

    assert response.status_code == 202
    body = client.get(reverse("api:run", args=[run_id]), **bearer(secret)).json()
    (held_id,) = body["held_parts"]
    assert body["status"] == "applied" and body["counts"]["deactivated"] == 3
    held = client.get(reverse("api:run", args=[held_id]), **bearer(secret)).json()
    assert (held["status"], held["held_part_of"]) == ("held", run_id)
    assert held["counts"]["deactivated"] == 2 and held["limits_passed"] == {"deactivations": 2}
    # The admins hear of the held part: nobody on the web asked for it.
    [email] = mail.outbox
    assert email.to == [alice.email] and f"Import #{held_id} for" in email.subject
    assert reverse("importer:run-detail", args=[held_id]) in email.body


# María of Sales is missing from the file, and a new row of the same name and department
# arrives: "Same person with a new email?". María of Legal contradicts the pair: not offered.
RENAMED = (
    "email,first name,last name,department\n"
    "alice@acme.example,Alice,,\n"
    "maria.g@acme.example,Maria,Garcia,Sales\n"
    "m.garcia@acme.example,María,García,Legal\n"
).encode()


@pytest.fixture
def marias(acme):
    sales = UserFactory(
        organization=acme,
        email="maria.garcia@acme.example",
        first_name="María",
        last_name="García",
        department="Sales",
    )
    legal = UserFactory(
        organization=acme,
        email="m.garcia@acme.example",
        first_name="María",
        last_name="García",
        department="Legal",
    )
    return sales, legal


def test_a_token_reads_the_same_person_pairs_and_confirms_one_as_the_button_does(
    client, acme, secret, in_process, marias
):
    sales, legal = marias
    run_id = upload(client, secret, RENAMED).json()["run"]
    body = client.get(reverse("api:run", args=[run_id]), **bearer(secret)).json()
    assert body["same_person_pairs"] == [
        {
            "user_id": sales.pk,
            "old_email": "maria.garcia@acme.example",
            "new_email": "maria.g@acme.example",
            "row": 3,
            "name": "Maria Garcia",
            "evidence": {"department": "Sales"},
            "confirmed": False,
        }
    ]
    assert (body["counts"]["new"], body["counts"]["deactivated"]) == (1, 1)

    url = reverse("api:run-same-person", args=[run_id])
    not_offered = client.post(f"{url}?user_id={legal.pk}", **bearer(secret))
    assert (not_offered.status_code, not_offered.json()["error"]["code"]) == (
        409,
        "pair_not_offered",
    )
    neither = client.post(url, **bearer(secret))
    assert (neither.status_code, neither.json()["error"]["code"]) == (422, "invalid_request")
    response = client.post(f"{url}?user_id={sales.pk}", **bearer(secret))

    assert response.status_code == 202
    body = client.get(reverse("api:run", args=[run_id]), **bearer(secret)).json()
    assert body["status"] == "ready"
    assert (body["counts"]["new"], body["counts"]["deactivated"], body["counts"]["changed"]) == (
        0,
        0,
        1,
    )
    [pair] = body["same_person_pairs"]
    assert (pair["user_id"], pair["old_email"], pair["new_email"], pair["confirmed"]) == (
        sales.pk,
        "maria.garcia@acme.example",
        "maria.g@acme.example",
        True,
    )
    event = AuditEvent.objects.get(kind=AuditEvent.Kind.SAME_PERSON_CONFIRMED)
    assert (event.acting_user, event.run_id, event.data["api_token"]) == (
        None,
        run_id,
        "HR nightly",
    )
    [line] = activity.run_activity(ImportRun.objects.get(pk=run_id))
    assert (line.what, line.by_system_inline) == (
        "Matched as the same person",
        "by API token HR nightly",
    )
    assert client.post(reverse("api:run-apply", args=[run_id]), **bearer(secret)).status_code == 202
    sales.refresh_from_db()
    assert (sales.email, sales.is_active) == ("maria.g@acme.example", True)
    again = client.post(f"{url}?all=true", **bearer(secret))
    assert (again.status_code, again.json()["error"]["code"]) == (409, "run_not_ready")


def test_confirming_a_pair_needs_imports_apply_and_the_tokens_company(
    client, acme, globex, alice, secret, in_process, marias
):
    run_id = upload(client, secret, RENAMED).json()["run"]
    url = reverse("api:run-same-person", args=[run_id]) + "?all=true"
    _token, write_only = make_token(acme, ["imports:write"], name="uploader")
    _token, theirs = make_token(globex, name="Globex HR")

    refused = client.post(url, **bearer(write_only))
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "missing_scope")
    other = client.post(url, **bearer(theirs))
    assert (other.status_code, other.json()["error"]["code"]) == (404, "not_found")
    run = ImportRun.objects.get(pk=run_id)
    assert (run.same_person_confirmed, len(run.same_person_pairs)) == ({}, 1)
    assert not AuditEvent.objects.filter(kind=AuditEvent.Kind.SAME_PERSON_CONFIRMED).exists()


def test_a_run_with_errors_or_applied_already_is_refused(client, acme, secret, in_process):
    invalid = upload(client, secret, b"email\nnot-an-email\n").json()["run"]
    response = client.post(reverse("api:run-apply", args=[invalid]), **bearer(secret))
    assert (response.status_code, response.json()["error"]["code"]) == (409, "run_has_errors")

    ready = upload(client, secret).json()["run"]
    assert client.post(reverse("api:run-apply", args=[ready]), **bearer(secret)).status_code == 202
    again = client.post(reverse("api:run-apply", args=[ready]), **bearer(secret))
    assert (again.status_code, again.json()["error"]["code"]) == (409, "run_not_ready")


# --- lists, downloads, rate ---------------------------------------------------------------------


def test_runs_are_listed_with_the_history_filters(client, acme, secret, in_process):
    upload(client, secret)
    upload(client, secret, b"email\nnot-an-email\n")

    body = client.get(reverse("api:runs"), {"status": "invalid"}, **bearer(secret)).json()
    assert [run["status"] for run in body["runs"]] == ["invalid"]
    assert body["count"] == 1 and body["runs"][0]["api_token"] == "HR nightly"
    assert client.get(reverse("api:runs"), **bearer(secret)).json()["count"] == 2

    response = client.get(
        reverse("api:runs"), {"since": "2026-12-02", "until": "2026-12-01"}, **bearer(secret)
    )
    assert (response.status_code, response.json()["error"]["code"]) == (422, "invalid_filter")


def test_the_users_and_a_runs_changes_download_as_csv_and_xlsx(
    client, acme, alice, secret, in_process
):
    run_id = upload(client, secret).json()["run"]
    for url in (
        reverse("api:users-export", args=["csv"]),
        reverse("api:run-changes-export", args=[run_id, "csv"]),
    ):
        response = client.get(url, **bearer(secret))
        assert response.status_code == 200
        assert "attachment" in response["Content-Disposition"]
        assert "no-store" in response["Cache-Control"]
    body = b"".join(
        client.get(reverse("api:users-export", args=["csv"]), **bearer(secret)).streaming_content
    )
    assert alice.email.encode() in body
    xlsx = client.get(reverse("api:users-export", args=["xlsx"]), **bearer(secret))
    assert xlsx.status_code == 200 and xlsx["Content-Type"].startswith("application/vnd.openxml")
    unknown = client.get(reverse("api:users-export", args=["pdf"]), **bearer(secret))
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "unknown_format")


def test_a_token_past_its_rate_gets_429_with_retry_after(client, acme, settings):
    settings.API_RATE_LIMIT_PER_MINUTE = 3
    _token, secret = make_token(acme)
    _other, other_secret = make_token(acme, name="Another script")
    statuses = [client.get(reverse("api:runs"), **bearer(secret)).status_code for _ in range(4)]

    assert statuses[:3] == [200, 200, 200]
    response = client.get(reverse("api:runs"), **bearer(secret))
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(response["Retry-After"]) <= 60
    # Another token has a rate of its own.
    assert client.get(reverse("api:runs"), **bearer(other_secret)).status_code == 200


def test_another_companys_run_is_not_found(client, acme, globex, charlie):
    theirs = ImportRun.objects.create(organization=globex, source=ImportRun.Source.UPLOAD)
    _token, secret = make_token(acme)

    response = client.get(reverse("api:run", args=[theirs.pk]), **bearer(secret))

    assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")


# --- the OpenAPI document ---------------------------------------------------------------------


def test_the_openapi_document_is_served_and_valid(db):
    from openapi_spec_validator import validate

    response = Client().get(reverse("api:openapi-json"))

    assert response.status_code == 200
    document = response.json()
    validate(document)
    assert document["openapi"].startswith("3.")
    assert set(document["paths"]) == {
        "/api/v1/runs",
        "/api/v1/runs/{pk}",
        "/api/v1/runs/{pk}/apply",
        "/api/v1/runs/{pk}/same-person",
        "/api/v1/runs/{pk}/changes.{fmt}",
        "/api/v1/exports/users.{fmt}",
    }
    assert document["components"]["securitySchemes"]["TokenAuth"]["scheme"] == "bearer"


# --- a real worker ---------------------------------------------------------------------------


@pytest.mark.worker
def test_a_script_imports_through_a_real_worker(worker, acme, alice):
    _token, secret = make_token(acme, by=alice)
    client = Client()
    run = ImportRun.objects.get(pk=upload(client, secret).json()["run"])

    assert wait_for_run(run).status == ImportRun.Status.READY
    assert client.post(reverse("api:run-apply", args=[run.pk]), **bearer(secret)).status_code == 202
    assert wait_for_run(run).status == ImportRun.Status.APPLIED
