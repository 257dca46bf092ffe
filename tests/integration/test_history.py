"""The History tab: the run list and its filters, the run page's search, a person's timeline."""

import datetime as dt
import re

from django.urls import reverse
from django.utils import timezone

from importer import runs
from importer.models import ImportChange, ImportRun, RemoteSource
from importer.views import imports as imports_views
from tests.factories import UserFactory

Source, Status = ImportRun.Source, ImportRun.Status


def make_run(organization, **fields) -> ImportRun:
    return ImportRun.objects.create(
        organization=organization, **{"source": Source.UPLOAD, **fields}
    )


def listed_runs(html: str) -> list[int]:
    return [
        int(pk) for pk in re.findall(r'<td data-label="Run"><a href="/import/runs/(\d+)/">#', html)
    ]


def import_text(organization, admin, text: str) -> ImportRun:
    run = runs.create_run(
        organization=organization,
        data=text.encode(),
        name="people.csv",
        source=Source.PASTE,
        acting_user=admin,
    )
    runs.preview_run(run.pk)
    run.refresh_from_db()
    runs.request_apply(run, acting_user=admin, confirm_safeguard=True)
    runs.apply_run(run.pk)
    run.refresh_from_db()
    assert run.status == Status.APPLIED, run.message
    return run


# --- the run list -------------------------------------------------------------------------------


def test_it_lists_runs_newest_first_with_source_trigger_and_who(acme, alice, alice_client):
    now = timezone.now()
    support = UserFactory(
        email="sam@rostersync.example",
        first_name="Sam",
        last_name="Support",
        organization=None,
        is_staff=True,
    )
    upload = make_run(
        acme, created_by=alice, input_name="HR export.xlsx", created_at=now - dt.timedelta(days=3)
    )
    scheduled = make_run(
        acme,
        source=Source.REMOTE,
        trigger=ImportRun.Trigger.SCHEDULED,
        created_at=now - dt.timedelta(days=2),
    )
    by_support = make_run(
        acme, source=Source.PASTE, created_by=support, created_at=now - dt.timedelta(days=1)
    )
    undo = make_run(acme, source=Source.REVERT, reverts=upload, created_by=alice, created_at=now)

    html = alice_client.get(reverse("importer:history")).content.decode()

    assert listed_runs(html) == [undo.pk, by_support.pk, scheduled.pk, upload.pk]
    assert "HR export.xlsx" in html
    assert "Scheduled" in html and "Remote server" in html
    assert "by support: Sam Support" in html
    assert f'Revert of <a href="/import/runs/{upload.pk}/">#{upload.pk}</a>' in html


def test_it_filters_by_status_source_dates_and_changes(acme, alice_client):
    today = timezone.localdate()

    def at(days_ago):
        return timezone.make_aware(
            dt.datetime.combine(today - dt.timedelta(days=days_ago), dt.time(12))
        )

    applied = make_run(acme, status=Status.APPLIED, changed_count=2, created_at=at(10))
    empty = make_run(acme, status=Status.APPLIED, created_at=at(5))
    invalid = make_run(
        acme, status=Status.INVALID, source=Source.PASTE, error_count=3, created_at=at(1)
    )
    url = reverse("importer:history")

    def shown(**filters):
        return listed_runs(alice_client.get(url, filters).content.decode())

    assert shown(status="applied") == [empty.pk, applied.pk]
    assert shown(source="paste") == [invalid.pk]
    assert shown(with_changes="on") == [applied.pk]
    assert shown(since=(today - dt.timedelta(days=6)).isoformat()) == [invalid.pk, empty.pk]
    assert shown(until=(today - dt.timedelta(days=5)).isoformat()) == [empty.pk, applied.pk]
    assert shown(status="ready") == []
    assert (
        "No run matches these filters."
        in alice_client.get(url, {"status": "ready"}).content.decode()
    )


def test_a_backwards_date_range_is_explained_and_ignored(acme, alice_client):
    make_run(acme)

    html = alice_client.get(
        reverse("importer:history"), {"since": "2024-05-02", "until": "2024-05-01"}
    ).content.decode()

    assert "is after the end date" in html
    assert len(listed_runs(html)) == 1


def test_an_empty_history_says_so_and_links_to_the_import(alice_client):
    html = alice_client.get(reverse("importer:history")).content.decode()

    assert "No imports yet." in html
    assert reverse("importer:import") in html


def test_htmx_gets_the_history_panel_alone(acme, alice_client):
    make_run(acme)

    html = alice_client.get(reverse("importer:history"), HTTP_HX_REQUEST="true").content.decode()

    assert "<html" not in html and "history-table" in html


def test_the_history_of_ten_thousand_runs_pages_in_a_few_queries(
    acme, alice, alice_client, django_assert_max_num_queries
):
    start = timezone.now() - dt.timedelta(days=400)
    ImportRun.objects.bulk_create(
        [
            ImportRun(
                organization=acme,
                source=Source.REMOTE,
                trigger=ImportRun.Trigger.SCHEDULED,
                status=Status.APPLIED,
                changed_count=index % 3,
                created_by=alice if index % 2 else None,
                created_at=start + dt.timedelta(hours=index),
            )
            for index in range(10_000)
        ],
        batch_size=1000,
    )
    url = reverse("importer:history")

    for params in ({}, {"page": "250"}, {"with_changes": "on", "status": "applied", "page": "40"}):
        # One of them: the latest time support worked in the company's screens (the note);
        # another: what the page's runs changed, grouped by run and field ("Title ×3").
        with django_assert_max_num_queries(8):
            response = alice_client.get(url, params)
        assert response.status_code == 200
        assert len(listed_runs(response.content.decode())) == 25


# --- the run page --------------------------------------------------------------------------------


def test_the_run_page_finds_changes_by_name_or_email(acme, alice, alice_client):
    UserFactory(organization=acme, email="ben@acme.example", first_name="Ben", last_name="Okafor")
    UserFactory(organization=acme, email="cara@acme.example", first_name="Cara", last_name="Lima")
    run = runs.create_run(
        organization=acme,
        source=Source.PASTE,
        name="Pasted CSV",
        acting_user=alice,
        data=b"email,first_name,last_name,title\n"
        b"ben@acme.example,Ben,Okafor,Lead\ncara@acme.example,Cara,Lima,Chief\nnia@acme.example,Nia,Ito,Intern\n",
    )
    runs.preview_run(run.pk)
    url = reverse("importer:run-detail", args=[run.pk])

    def people(**params):
        html = alice_client.get(url, params).content.decode()
        return set(re.findall(r'<span class="person-email">([a-z]+@acme\.example)', html))

    assert people() == {"ben@acme.example", "cara@acme.example", "nia@acme.example"}
    assert people(q="okafor") == {"ben@acme.example"}  # The user's name.
    assert people(q="ben okafor") == {"ben@acme.example"}
    assert people(q="CARA@") == {"cara@acme.example"}
    assert people(q="ito") == {"nia@acme.example"}  # A new person's name in the file.
    assert people(q="ito", action="update") == set()
    assert "No change of this kind matches" in alice_client.get(url, {"q": "zzz"}).content.decode()
    # The run keeps each change's search text; the search reads that, not the JSON.
    nia = run.changes.get(email="nia@acme.example")
    assert nia.search_text == "nia@acme.example nia ito"
    assert people(q="NIA ITO") == {"nia@acme.example"}


def test_the_run_page_counts_a_search_s_matches_up_to_a_cap(acme, alice, alice_client, monkeypatch):
    """Past the cap the page says "more than", and its pages go through the first matches."""
    monkeypatch.setattr(imports_views, "SEARCH_MATCHES_COUNTED", 5)
    monkeypatch.setattr(imports_views, "CHANGES_PER_PAGE", 2)
    lines = [f"p{n}@acme.example,Pat,Okafor{n}" for n in range(12)]
    lines += [f"q{n}@acme.example,Quinn,Lima{n}" for n in range(3)]
    run = runs.create_run(
        organization=acme,
        source=Source.PASTE,
        name="Pasted CSV",
        acting_user=alice,
        data=("email,first_name,last_name\n" + "\n".join(lines) + "\n").encode(),
    )
    runs.preview_run(run.pk)
    url = reverse("importer:run-detail", args=[run.pk])

    def page(**params):
        html = alice_client.get(url, params).content.decode()
        return html, re.findall(r'<span class="person-email">([a-z0-9]+)@acme\.example', html)

    html, shown = page(q="okafor")
    assert shown == ["p0", "p1"]
    assert "1–2 of more than 5" in html
    assert "More than 5 changes match “okafor”: the pages show the first 5." in html
    assert page(q="okafor", page=3)[1] == ["p4"]  # The last page: the fifth match.
    assert page(q="okafor", page=4)[1] == ["p4"]  # Beyond it, the last page again.

    html, shown = page(q="lima")  # Under the cap: counted exactly.
    assert shown == ["q0", "q1"]
    assert "1–2 of 3" in html and "more than" not in html.lower()
    assert page(q="lima", page=2)[1] == ["q2"]


def test_the_run_page_finds_changes_stored_before_the_search_text_and_renamed_people(
    acme, alice, alice_client
):
    ben = UserFactory(
        organization=acme, email="ben@acme.example", first_name="Ben", last_name="Okafor"
    )
    run = runs.create_run(
        organization=acme,
        source=Source.PASTE,
        name="Pasted CSV",
        acting_user=alice,
        data=b"email,first_name,last_name,title\n"
        b"ben@acme.example,Ben,Okafor,Lead\nnia@acme.example,Chlo\xc3\xa9,Ito,Intern\n",
    )
    runs.preview_run(run.pk)
    url = reverse("importer:run-detail", args=[run.pk])

    def people(**params):
        html = alice_client.get(url, params).content.decode()
        return set(re.findall(r'<span class="person-email">([a-z]+@acme\.example)', html))

    assert people(q="CHLOÉ") == {"nia@acme.example"}  # Lower-cased beyond ASCII, too.
    ben.last_name = "Adeyemi"
    ben.save()
    assert people(q="adeyemi") == {"ben@acme.example"}  # The user's name as it is now.
    run.changes.update(search_text="")  # As changes stored before the column was added.
    assert people(q="ito") == {"nia@acme.example"}
    assert people(q="nia@") == {"nia@acme.example"}
    assert people(q="adeyemi") == {"ben@acme.example"}


def test_the_run_page_shows_the_input_and_its_checksum(acme, alice, alice_client):
    run = runs.create_run(
        organization=acme,
        data=b"email\nana@acme.example\n",
        name="people.csv",
        source=Source.UPLOAD,
        acting_user=alice,
    )
    runs.preview_run(run.pk)

    html = alice_client.get(reverse("importer:run-detail", args=[run.pk])).content.decode()

    assert "people.csv" in html and "23\xa0bytes" in html
    assert run.input_sha256 in html
    assert reverse("importer:run-input", args=[run.pk]) in html
    assert reverse("importer:run-changes-export", args=[run.pk, "xlsx"]) in html


# --- a person's timeline -------------------------------------------------------------------------


def test_a_persons_timeline_lists_the_applied_runs_that_changed_them_oldest_first(
    acme, alice, alice_client
):
    first = import_text(
        acme, alice, "email,first_name,last_name,title\nben@acme.example,Ben,Okafor,Engineer\n"
    )
    second = import_text(
        acme, alice, "email,first_name,last_name,title\nben@acme.example,Ben,Okafor,Lead\n"
    )
    preview_only = runs.create_run(
        organization=acme,
        data=b"email,title\nben@acme.example,CTO\n",
        name="x.csv",
        source=Source.UPLOAD,
        acting_user=alice,
    )
    runs.preview_run(preview_only.pk)
    ben = ImportChange.objects.get(run=first).user

    found = alice_client.get(reverse("importer:history-people"), {"q": "okafor"}).content.decode()
    assert reverse("importer:person-timeline", args=[ben.pk]) in found
    html = alice_client.get(reverse("importer:person-timeline", args=[ben.pk])).content.decode()

    shown = [int(pk) for pk in re.findall(r">Import #(\d+)</a>", html)]
    assert shown == [first.pk, second.pk]
    assert "Engineer" in html and "Lead" in html and "CTO" not in html


def test_a_person_search_with_no_match_says_what_to_do(alice_client):
    html = alice_client.get(
        reverse("importer:history-people"), {"q": "nobody-here"}
    ).content.decode()

    assert "Nobody in your organization matches" in html


def test_a_person_search_never_finds_another_organizations_users(alice_client, charlie):
    html = alice_client.get(reverse("importer:history-people"), {"q": "charlie"}).content.decode()

    assert "charlie@globex.example" not in html


# --- scoping ------------------------------------------------------------------------------------


def test_an_admin_of_another_organization_gets_404_for_every_history_url(
    acme, alice, client, charlie
):
    run = import_text(acme, alice, "email,first_name\nben@acme.example,Ben\n")
    ben = ImportChange.objects.get(run=run).user
    client.force_login(charlie)

    for url in (
        reverse("importer:run-changes-export", args=[run.pk, "csv"]),
        reverse("importer:run-changes-export", args=[run.pk, "xlsx"]),
        reverse("importer:person-timeline", args=[ben.pk]),
        reverse("importer:act-as", args=[acme.pk]),
    ):
        assert client.get(url).status_code == 404, url
    for url in (
        reverse("importer:run-revert", args=[run.pk]),
        reverse("importer:act-as", args=[acme.pk]),
    ):
        assert client.post(url).status_code == 404, url
    assert not ImportRun.objects.filter(source=Source.REVERT).exists()


def test_history_says_when_the_automatic_import_last_found_nothing_new(alice_client, acme, globex):
    now = timezone.now()
    source = RemoteSource.objects.create(organization=acme, enabled=True)
    source.checks.create(
        checked_at=now - dt.timedelta(hours=2), http_status=304, message="Old check."
    )
    source.checks.create(
        checked_at=now - dt.timedelta(hours=1), http_status=304, message="Not modified."
    )
    other = RemoteSource.objects.create(organization=globex, enabled=True)
    other.checks.create(checked_at=now, http_status=200, message="Globex check.")

    html = alice_client.get(reverse("importer:history")).content.decode()

    assert 'id="last-check"' in html and "(Not modified.)" in html
    assert "Old check." not in html and "Globex" not in html

    make_run(acme, source=Source.REMOTE, created_at=now)  # A later automatic run speaks for itself.
    html = alice_client.get(reverse("importer:history")).content.decode()
    assert 'id="last-check"' not in html
