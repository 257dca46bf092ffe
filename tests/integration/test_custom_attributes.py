"""Custom attributes stored by an import: the bulk statements of apply, the stale check and the
revert, on the database the suite runs on (SQLite, or PostgreSQL with DATABASE_URL)."""

import csv as csv_module
import datetime as dt
import io

import openpyxl
import pytest
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from importer import runs
from importer.models import ImportConfig, ImportRun
from importer.pipeline.types import ImportOptions
from importer.runs.services import options_for
from tests.conftest import preview_text
from tests.factories import UserFactory
from users.models import CustomAttribute, User

HEADER = "Email,First name,Cost Centre,Level,Next review,Employment type"


@pytest.fixture
def attributes(acme):
    for position, (key, name, type_, choices) in enumerate(
        [
            ("cost_centre", "Cost Centre", "text", []),
            ("level", "Level", "number", []),
            ("next_review", "Next review", "date", []),
            ("employment_type", "Employment type", "choice", ["Full time", "Part time"]),
        ]
    ):
        CustomAttribute.objects.create(
            organization=acme,
            key=key,
            name=name,
            type=type_,
            choices=choices,
            column_names=["Kostenstelle"] if key == "cost_centre" else [],
            position=position,
        )


def csv(*rows: str) -> str:
    return "\n".join([HEADER, "alice@acme.example,Alice,,,,", *rows]) + "\n"


def apply(run: ImportRun, admin) -> ImportRun:
    assert run.status == ImportRun.Status.READY, (run.status, run.issues)
    runs.request_apply(run, acting_user=admin, confirm_safeguard=True)
    runs.apply_run(run.pk)
    run.refresh_from_db()
    return run


def stored() -> dict[str, dict]:
    return {
        email: attributes
        for email, attributes in User.objects.exclude(email="alice@acme.example").values_list(
            "email", "attributes"
        )
    }


FIRST = csv(
    "ann@acme.example,Ann,CC-1,3,2025-01-31,full time",
    "ben@acme.example,Ben,CC-2,12.50,,Part time",
    "cat@acme.example,Cat,,,,",
)


def test_new_people_get_their_attributes_in_canonical_text(acme, alice, attributes):
    run = apply(preview_text(acme, alice, FIRST), alice)

    assert run.status == ImportRun.Status.APPLIED
    assert stored() == {
        "ann@acme.example": {
            "cost_centre": "CC-1",
            "level": "3",
            "next_review": "2025-01-31",
            "employment_type": "Full time",
        },
        "ben@acme.example": {
            "cost_centre": "CC-2",
            "level": "12.5",
            "employment_type": "Part time",
        },
        "cat@acme.example": {},
    }
    change = run.changes.get(email="ben@acme.example")
    assert change.fields["attr_level"] == ["", "12.5"]


def test_a_next_file_merges_changes_into_the_stored_values_and_leaves_the_rest(
    acme, alice, attributes
):
    apply(preview_text(acme, alice, FIRST), alice)
    UserFactory(organization=acme, email="dan@acme.example", attributes={"cost_centre": "CC-7"})
    ImportConfig.objects.create(
        organization=acme,
        update_fields=[*ImportOptions.update_fields, "attr_cost_centre", "attr_level"]
        + ["attr_next_review", "attr_employment_type"],
        clear_blank_fields=["attr_employment_type"],
        deactivate_missing=False,
    )
    run = preview_text(
        acme,
        alice,
        csv(
            # Level changes, the date is blank (kept), the choice is blank (cleared).
            "ann@acme.example,Ann,CC-1,4,,",
            # Only a first name changes: the attributes are left as they are.
            "ben@acme.example,Benjamin,CC-2,12.5,,Part time",
            "cat@acme.example,Cat,CC-3,,2026-02-01,",
        ),
    )
    assert (run.changed_count, run.new_count) == (3, 0)

    apply(run, alice)

    assert stored() == {
        "ann@acme.example": {"cost_centre": "CC-1", "level": "4", "next_review": "2025-01-31"},
        "ben@acme.example": {
            "cost_centre": "CC-2",
            "level": "12.5",
            "employment_type": "Part time",
        },
        "cat@acme.example": {"cost_centre": "CC-3", "next_review": "2026-02-01"},
        "dan@acme.example": {"cost_centre": "CC-7"},
    }
    assert User.objects.get(email="ben@acme.example").first_name == "Benjamin"
    # The same file again changes nothing.
    again = preview_text(
        acme,
        alice,
        csv(
            "ann@acme.example,Ann,CC-1,4.0,,",
            "ben@acme.example,Benjamin,CC-2,12.50,,part time",
            "cat@acme.example,Cat,CC-3,,01.02.2026,",
        ),
    )
    assert (again.status, again.change_count) == (ImportRun.Status.READY, 0), again.issues


def test_an_attribute_left_out_of_the_fields_imports_may_change_is_skipped(acme, alice, attributes):
    apply(preview_text(acme, alice, FIRST), alice)
    ImportConfig.objects.create(
        organization=acme, update_fields=[*ImportOptions.update_fields, "attr_cost_centre"]
    )
    run = preview_text(
        acme,
        alice,
        csv(
            "ann@acme.example,Ann,CC-9,5,2025-01-31,Full time",
            "ben@acme.example,Ben,CC-2,12.5,,Part time",
            "cat@acme.example,Cat,,,,",
        ),
    )
    skipped = run.changes.get(email="ann@acme.example", skipped_reason__gt="")
    assert skipped.fields == {"attr_level": ["3", "5"]}
    assert skipped.skipped_reason.startswith("Level is not among")

    apply(run, alice)

    assert stored()["ann@acme.example"]["cost_centre"] == "CC-9"
    assert stored()["ann@acme.example"]["level"] == "3"


def test_apply_runs_as_many_statements_with_attributes_as_without(acme, alice, attributes):
    apply(preview_text(acme, alice, FIRST), alice)
    counts = []
    for text in (
        FIRST.replace("CC-1", "CC-5").replace("Ben,", "Benjamin,"),  # attributes and a name
        FIRST.replace("CC-1", "CC-5").replace("Ann,", "Annie,"),  # names only
    ):
        run = preview_text(acme, alice, text)
        assert run.changed_count == 2
        runs.request_apply(run, acting_user=alice, confirm_safeguard=True)
        with CaptureQueriesContext(connection) as queries:
            runs.apply_run(run.pk)
        counts.append(len(queries))
    assert counts[0] == counts[1]
    assert stored()["ann@acme.example"]["cost_centre"] == "CC-5"


@pytest.mark.parametrize(
    "edit",
    [
        lambda: User.objects.filter(email="ann@acme.example").update(
            attributes={"level": "9"}, version=F("version") + 1
        ),
        # A plain UPDATE of the attributes alone, the version as it was: the fingerprint.
        lambda: User.objects.filter(email="ann@acme.example").update(attributes={"level": "9"}),
        lambda: User.objects.filter(email="ann@acme.example").update(attributes={}),
    ],
    ids=["admin save", "update without version", "values removed"],
)
def test_attributes_edited_after_the_preview_make_it_stale(acme, alice, attributes, edit):
    apply(preview_text(acme, alice, FIRST), alice)
    run = preview_text(acme, alice, FIRST.replace("CC-1", "CC-5"))
    assert run.changed_count == 1
    edit()

    runs.request_apply(run, acting_user=alice, confirm_safeguard=True)
    runs.apply_run(run.pk)
    run.refresh_from_db()

    assert run.status == ImportRun.Status.STALE
    assert stored()["ann@acme.example"].get("cost_centre") != "CC-5"


def test_users_with_attributes_left_as_they_were_apply(acme, alice, attributes):
    """The fingerprint of a user with attributes, stored by the preview (Python), is the one
    apply computes (in SQL on PostgreSQL): unchanged users are not taken for edited ones."""
    apply(preview_text(acme, alice, FIRST), alice)
    run = preview_text(acme, alice, FIRST.replace("Ann,", "Annie,").replace("Ben,", "Benny,"))

    assert apply(run, alice).status == ImportRun.Status.APPLIED
    assert User.objects.get(email="ben@acme.example").first_name == "Benny"


def test_reverting_an_import_restores_the_attributes(acme, alice, attributes):
    apply(preview_text(acme, alice, FIRST), alice)
    before = stored()
    ImportConfig.objects.create(
        organization=acme,
        update_fields=[*ImportOptions.update_fields, "attr_cost_centre", "attr_level"],
        clear_blank_fields=["attr_level"],
        deactivate_missing=False,
    )
    run = apply(
        preview_text(
            acme,
            alice,
            csv(
                "ann@acme.example,Ann,CC-8,,2025-01-31,Full time",
                "ben@acme.example,Ben,,99,,Part time",
                "cat@acme.example,Cat,CC-new,1,,",
            ),
        ),
        alice,
    )
    assert stored()["ann@acme.example"].get("level") is None
    assert stored()["cat@acme.example"] == {"cost_centre": "CC-new", "level": "1"}

    reverting = apply(runs.create_revert_run(run, acting_user=alice), alice)

    assert reverting.status == ImportRun.Status.APPLIED
    assert stored() == before


def test_a_changed_attribute_since_the_import_is_named_as_a_revert_conflict(
    acme, alice, attributes
):
    run = apply(preview_text(acme, alice, FIRST), alice)
    second = apply(preview_text(acme, alice, FIRST.replace(",3,", ",4,")), alice)
    User.objects.filter(email="ann@acme.example").update(attributes={"level": "7"})

    with pytest.raises(runs.RevertRefused) as refused:
        runs.create_revert_run(second, acting_user=alice)

    assert "Level is now “7”, not “4”" in str(refused.value)
    assert run.status == ImportRun.Status.APPLIED


def test_options_without_a_configuration_let_imports_change_every_attribute(acme, attributes):
    options = options_for(acme, None)

    assert options.update_fields == ImportOptions.update_fields | {
        "attr_cost_centre",
        "attr_level",
        "attr_next_review",
        "attr_employment_type",
    }
    assert [spec.name for spec in options.attributes] == [
        "Cost Centre",
        "Level",
        "Next review",
        "Employment type",
    ]


def test_errors_in_attribute_cells_name_the_row_and_the_files_column(acme, alice, attributes):
    run = preview_text(
        acme,
        alice,
        "Email,Kostenstelle,Level,Employment type\n"
        'ann@acme.example,CC-1,"1,5",Full time\n'
        "ben@acme.example,CC-2,2,Contractor\n",
    )

    assert run.status == ImportRun.Status.INVALID
    assert [(issue["row"], issue["column"], issue["code"]) for issue in run.issues] == [
        (2, "Level", "invalid_number"),
        (3, "Employment type", "invalid_choice"),
    ]


# --- downloads -----------------------------------------------------------------------------------


def download(client, url) -> bytes:
    response = client.get(url)
    assert response.status_code == 200, response
    if response.streaming:
        return b"".join(response.streaming_content)
    return response.content


@pytest.fixture
def people_with_attributes(acme, alice, attributes):
    apply(
        preview_text(
            acme,
            alice,
            csv(
                "ann@acme.example,Ann,-CC-1,3,2025-01-31,full time",
                "ben@acme.example,Ben,=SUM(A1),-0.5,,Part time",
                "cat@acme.example,Cat,,1200,,",
            ),
        ),
        alice,
    )
    return acme


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_the_users_download_has_a_column_per_attribute_and_imports_back_unchanged(
    people_with_attributes, alice, alice_client, fmt
):
    data = download(alice_client, reverse("importer:users-export", args=[fmt]))
    before = stored()

    if fmt == "csv":
        rows = list(csv_module.reader(io.StringIO(data.decode("utf-8-sig"))))
    else:
        sheet = openpyxl.load_workbook(io.BytesIO(data)).active
        rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert rows[0][9:] == ["Cost Centre", "Level", "Next review", "Employment type"]
    by_email = {row[0]: row[9:] for row in rows[1:]}
    if fmt == "csv":
        assert by_email["ann@acme.example"] == ["'-CC-1", "3", "2025-01-31", "Full time"]
        assert by_email["ben@acme.example"] == ["'=SUM(A1)", "'-0.5", "", "Part time"]
    else:
        assert by_email["ann@acme.example"] == ["-CC-1", "3", dt.datetime(2025, 1, 31), "Full time"]
        assert by_email["ben@acme.example"] == ["=SUM(A1)", "-0.5", None, "Part time"]

    run = runs.create_run(
        organization=people_with_attributes,
        data=data,
        name=f"users.{fmt}",
        source=ImportRun.Source.UPLOAD,
        acting_user=alice,
    )
    runs.preview_run(run.pk)
    run.refresh_from_db()

    assert run.status == ImportRun.Status.READY, run.issues
    assert (run.error_count, run.warning_count, run.change_count) == (0, 0, 0)
    assert not run.changes.exists()  # Not even a skipped change.
    assert stored() == before


def test_the_template_has_the_attributes_columns(acme, alice_client, attributes):
    data = download(alice_client, reverse("importer:template-export", args=["csv"]))
    header, example = list(csv_module.reader(io.StringIO(data.decode("utf-8-sig"))))

    assert header[9:] == ["Cost Centre", "Level", "Next review", "Employment type"]
    assert example[9:] == ["", "", "", ""]


def test_a_runs_changes_download_labels_attributes_by_the_name_the_run_knew(
    acme, alice, alice_client, attributes
):
    run = apply(preview_text(acme, alice, FIRST), alice)
    second = apply(preview_text(acme, alice, FIRST.replace(",3,", ",4,")), alice)
    reverting = runs.create_revert_run(second, acting_user=alice)
    CustomAttribute.objects.filter(key="level").update(name="Grade")  # Renamed since.

    data = download(alice_client, reverse("importer:run-changes-export", args=[run.pk, "csv"]))
    rows = list(csv_module.reader(io.StringIO(data.decode("utf-8-sig"))))

    fields = {(row[2], row[5]): row[6:8] for row in rows[1:]}
    assert fields[("ann@acme.example", "Level")] == ["", "3"]
    assert fields[("ann@acme.example", "Next review")] == ["", "2025-01-31"]
    assert fields[("ben@acme.example", "Employment type")] == ["", "Part time"]
    # A revert run (which keeps no options of its own) labels them as the run it reverts.
    data = download(
        alice_client, reverse("importer:run-changes-export", args=[reverting.pk, "csv"])
    )
    rows = list(csv_module.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert [(row[2], row[5], row[6], row[7]) for row in rows[1:]] == [
        ("ann@acme.example", "Level", "4", "3")
    ]


def test_an_attribute_error_is_fixed_in_the_browser_with_every_attribute_column_shown(
    acme, alice, attributes
):
    from importer.pipeline.corrections import CellCorrection
    from importer.runs.corrections import read_input, rows_to_fix

    run = preview_text(
        acme,
        alice,
        "Email,Kostenstelle,Level,Employment type\n"
        "alice@acme.example,,,\n"
        "ann@acme.example,CC-1,1e3,Full time\n",
    )
    assert run.status == ImportRun.Status.INVALID

    (row,) = rows_to_fix(run, read_input(run), [3])

    # Every column the import reads, attributes included, not only the one in error.
    assert [(header, value) for _index, header, value in row.cells] == [
        ("Email", "ann@acme.example"),
        ("Kostenstelle", "CC-1"),
        ("Level", "1e3"),
        ("Employment type", "Full time"),
    ]
    corrected = runs.create_corrected_run(
        run,
        cells=[CellCorrection(row=3, column=2, value="1000")],
        dropped=[],
        acting_user=alice,
    )
    runs.preview_run(corrected.pk)
    corrected.refresh_from_db()
    assert corrected.status == ImportRun.Status.READY, corrected.issues
    apply(corrected, alice)
    assert stored()["ann@acme.example"] == {
        "cost_centre": "CC-1",
        "level": "1000",
        "employment_type": "Full time",
    }


def test_a_run_whose_options_name_no_attributes_still_stores_those_its_changes_carry(
    acme, alice, attributes
):
    """A run previewed before its options kept the attributes: apply reads every attr_ field."""
    run = preview_text(acme, alice, FIRST)
    policy = {**run.policy}
    del policy["attributes"]
    ImportRun.objects.filter(pk=run.pk).update(policy=policy)
    run.refresh_from_db()

    apply(run, alice)

    assert stored()["ann@acme.example"] == {
        "cost_centre": "CC-1",
        "level": "3",
        "next_review": "2025-01-31",
        "employment_type": "Full time",
    }
