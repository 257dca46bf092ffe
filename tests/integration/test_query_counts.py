"""A preview and an apply run a fixed number of SQL statements, whatever the size of the file."""

import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from importer import runs
from importer.models import ImportRun

HEADER = ("Email", "First Name", "Last Name", "Job Title", "Employee ID", "Hire Date", "Manager")


def people(count: int, domain: str) -> list[list[str]]:
    """Return `count` people in a manager tree, about 8 reports per manager."""
    rows = []
    for index in range(count):
        manager = f"person{(index - 1) // 8}@{domain}" if index else ""
        rows.append(
            [
                f"person{index}@{domain}",
                f"First{index}",
                f"Last{index}",
                "Engineer",
                f"E{index}",
                "2020-02-03",
                manager,
            ]
        )
    return rows


def next_people(rows: list[list[str]], domain: str) -> list[list[str]]:
    """Return the same company later: a tenth changed, leaves removed, people added."""
    count = len(rows)
    changed = [list(row) for row in rows]
    for row in changed[1::10]:
        row[3] = "Senior Engineer"
    for row in changed[2::10]:
        row[6] = f"person0@{domain}"
    leaves = {index for index in range(count // 8 + 1, count) if index % 10 == 5}
    kept = [row for index, row in enumerate(changed) if index not in leaves]
    added = [
        [
            f"new{index}@{domain}",
            "New",
            f"Hire{index}",
            "Analyst",
            f"N{index}",
            "",
            f"person{index % 3}@{domain}",
        ]
        for index in range(count // 10)
    ]
    return kept + added


def as_csv(rows: list[list[str]]) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(HEADER)
    writer.writerows(rows)
    return text.getvalue().encode()


def statements(function, *args) -> int:
    with CaptureQueriesContext(connection) as queries:
        function(*args)
    return len(queries)


def import_file(organization, data: bytes) -> tuple[int, int]:
    """Preview and apply `data`; return the number of statements of each."""
    run = runs.create_run(
        organization=organization, data=data, name="people.csv", source=ImportRun.Source.CLI
    )
    previewing = statements(runs.preview_run, run.pk)
    run.refresh_from_db()
    assert run.status == ImportRun.Status.READY, run.issues[:3]
    runs.request_apply(run, acting_user=None, confirm_safeguard=True)
    applying = statements(runs.apply_run, run.pk)
    run.refresh_from_db()
    assert run.status == ImportRun.Status.APPLIED, run.message
    return previewing, applying


@pytest.fixture
def import_at_size(db):
    from tests.factories import OrganizationFactory

    def counts(size: int) -> dict[str, tuple[int, int]]:
        organization = OrganizationFactory(slug=f"size-{size}")
        domain = f"size-{size}.example"
        rows = people(size, domain)
        return {
            "new file": import_file(organization, as_csv(rows)),
            "next file": import_file(organization, as_csv(next_people(rows, domain))),
        }

    return counts


def test_it_runs_as_many_statements_for_3000_people_as_for_30(import_at_size):
    # 3,000 is past every batch size a bulk statement could hide behind (Django's bulk_create
    # and SQLite's parameter limit split around 1,000 rows).
    small = import_at_size(30)
    large = import_at_size(3000)

    assert large == small
