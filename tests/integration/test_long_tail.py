"""The long tail of real HR exports, imported into a real database."""

import unicodedata

import pytest

from importer import runs
from importer.models import ImportRun
from tests.conftest import FIXTURES
from tests.factories import UserFactory
from users.models import User

Status = ImportRun.Status


def import_bytes(organization, admin, data: bytes) -> ImportRun:
    run = runs.create_run(
        organization=organization,
        data=data,
        name="people.csv",
        source=ImportRun.Source.PASTE,
        acting_user=admin,
    )
    runs.preview_run(run.pk)
    run.refresh_from_db()
    assert run.status == Status.READY, run.issues
    runs.request_apply(run, acting_user=admin, confirm_safeguard=True)
    runs.apply_run(run.pk)
    run.refresh_from_db()
    assert run.status == Status.APPLIED, run.message
    return run


@pytest.mark.django_db(transaction=True)
def test_two_people_swap_their_addresses_in_one_import(acme, alice):
    UserFactory(organization=acme, email="ana@acme.example", employee_id="1")
    UserFactory(organization=acme, email="ben@acme.example", employee_id="2")
    UserFactory(organization=acme, email="carl@acme.example", employee_id="3")
    csv = (
        "Email,Employee ID\n"
        "alice@acme.example,\n"
        "ben@acme.example,1\n"  # three-way rotation: ana → ben → carl → ana
        "carl@acme.example,2\n"
        "ana@acme.example,3\n"
    )

    run = import_bytes(acme, alice, csv.encode())

    assert run.changed_count == 3
    emails = dict(User.objects.filter(organization=acme).values_list("employee_id", "email"))
    assert emails == {
        "": "alice@acme.example",
        "1": "ben@acme.example",
        "2": "carl@acme.example",
        "3": "ana@acme.example",
    }


@pytest.mark.django_db(transaction=True)
def test_an_unchanged_file_written_decomposed_changes_nothing_once_imported(acme, alice):
    data = (
        (FIXTURES / "nfd_names.csv")
        .read_bytes()
        .replace(b"Location\n", b"Location\nalice@acme.example,Alice,,\n", 1)
    )
    first = import_bytes(acme, alice, data)
    again = import_bytes(acme, alice, data)

    assert first.new_count == 2
    assert (again.new_count, again.changed_count, again.unchanged_count) == (0, 0, 3)
    joerg = User.objects.get(email="joerg@example.com")
    assert joerg.first_name == "Jörg" and unicodedata.is_normalized("NFC", joerg.location)


@pytest.mark.django_db(transaction=True)
def test_ids_a_script_wrote_as_floats_match_the_stored_ids(acme, alice):
    UserFactory(organization=acme, email="ana@example.com", employee_id="1001")
    data = b"email,employee_id\nalice@acme.example,\nana@example.com,1001.0\n"

    run = import_bytes(acme, alice, data)

    assert (run.changed_count, run.unchanged_count) == (0, 2)
    assert User.objects.get(email="ana@example.com").employee_id == "1001"


@pytest.mark.django_db(transaction=True)
def test_a_5000_person_manager_loop_is_one_short_error_and_a_small_run(acme, alice):
    people = 5000
    lines = ["Email,Manager"] + [
        f"p{n}@acme.example,p{(n + 1) % people}@acme.example" for n in range(people)
    ]
    lines += [f"bad{n}@," for n in range(1500)]  # more issues than a run stores
    run = runs.create_run(
        organization=acme,
        data=("\n".join(lines) + "\n").encode(),
        name="loop.csv",
        source=ImportRun.Source.PASTE,
        acting_user=alice,
    )

    runs.preview_run(run.pk)
    run.refresh_from_db()

    assert run.status == Status.INVALID
    assert run.error_count == 1 + 1500
    assert len(run.issues) == 1001
    assert run.issues[-1]["code"] == "more_issues"
    assert "501 more errors not listed" in run.issues[-1]["message"]
    cycles = [issue for issue in run.issues if issue["code"] == "manager_cycle"]
    assert len(cycles) == 1 and len(cycles[0]["message"]) < 600
