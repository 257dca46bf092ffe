"""API tokens on the Configuration tab (company admins) and in Django admin (support staff)."""

from django.urls import reverse

from importer import tokens
from importer.models import ApiToken, AuditEvent, ImportRun
from tests.factories import UserFactory


def test_an_admin_makes_a_token_and_sees_its_secret_once(alice_client, acme, alice):
    response = alice_client.post(
        reverse("importer:api-token-create"),
        {"name": "HR nightly", "scopes": ["imports:write", "imports:apply"]},
    )

    assert response.status_code == 201
    assert "no-store" in response["Cache-Control"]
    token = ApiToken.objects.get()
    secret = response.context["new_secret"]
    assert secret.startswith("rsk_") and secret in response.content.decode()
    assert (token.organization, token.created_by, token.scopes) == (
        acme,
        alice,
        ["imports:write", "imports:apply"],
    )
    assert token.secret_sha256 == tokens.hash_secret(secret)
    page = alice_client.get(reverse("importer:api-tokens")).content.decode()
    assert "HR nightly" in page and token.prefix in page and secret not in page
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.API_TOKEN_CREATED).count() == 1


def test_a_token_needs_a_name_a_scope_and_a_future_end(alice_client):
    response = alice_client.post(
        reverse("importer:api-token-create"), {"name": "", "expires_on": "2000-01-01"}
    )

    assert response.status_code == 400
    assert set(response.context["form"].errors) == {"name", "scopes", "expires_on"}
    assert not ApiToken.objects.exists()


def test_an_admin_revokes_a_token_and_it_stops_working(alice_client, client, acme, alice):
    token, secret = tokens.create_token(
        organization=acme, name="Old", scopes=["history:read"], expires_at=None, acting_user=alice
    )
    assert client.get(reverse("api:runs"), HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 200

    response = alice_client.post(reverse("importer:api-token-revoke", args=[token.pk]))

    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at and token.revoked_by == alice
    assert client.get(reverse("api:runs"), HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 401
    event = AuditEvent.objects.get(kind=AuditEvent.Kind.API_TOKEN_REVOKED)
    assert (event.acting_user, event.data) == (alice, {"token": "Old"})
    assert "Revoked" in alice_client.get(reverse("importer:api-tokens")).content.decode()


def test_a_run_made_by_a_token_shows_its_name_on_the_run_page_and_in_history(alice_client, acme):
    token, _secret = tokens.create_token(
        organization=acme,
        name="HR nightly",
        scopes=["imports:write"],
        expires_at=None,
        acting_user=None,
    )
    run = ImportRun.objects.create(organization=acme, source=ImportRun.Source.API, api_token=token)
    ImportRun.objects.filter(pk=run.pk).update(status=ImportRun.Status.INVALID)

    run_page = alice_client.get(reverse("importer:run-detail", args=[run.pk])).content.decode()
    history = alice_client.get(reverse("importer:history")).content.decode()

    assert "by API token HR nightly" in run_page
    assert "API token HR nightly" in history


def test_support_lists_and_revokes_any_companys_tokens_in_django_admin(client, acme, globex):
    support = UserFactory(organization=None, is_staff=True, is_superuser=True)
    token, secret = tokens.create_token(
        organization=globex,
        name="Globex sync",
        scopes=["users:read"],
        expires_at=None,
        acting_user=None,
    )
    client.force_login(support)

    listing = client.get(reverse("admin:importer_apitoken_changelist")).content.decode()
    assert "Globex sync" in listing and token.secret_sha256 not in listing
    detail = client.get(reverse("admin:importer_apitoken_change", args=[token.pk])).content
    assert token.secret_sha256.encode() not in detail
    response = client.post(
        reverse("admin:importer_apitoken_changelist"),
        {"action": "revoke", "_selected_action": [token.pk]},
    )

    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_by == support
    assert tokens.find_token(secret) is None


def test_a_token_name_with_markup_is_shown_as_text(alice_client, acme, alice):
    name = "<script>alert(1)</script>"
    token, _secret = tokens.create_token(
        organization=acme, name=name, scopes=["imports:write"], expires_at=None, acting_user=alice
    )
    run = ImportRun.objects.create(organization=acme, source=ImportRun.Source.API, api_token=token)

    for url in (
        reverse("importer:api-tokens"),
        reverse("importer:run-detail", args=[run.pk]),
        reverse("importer:history"),
        reverse("importer:history-activity"),
    ):
        html = alice_client.get(url).content.decode()
        assert name not in html, url
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, url
