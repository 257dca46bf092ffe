"""compute_preview: every issue of a file is known before the first change is made."""

from importer.pipeline.diff import iter_changes
from importer.pipeline.preview import compute_preview
from importer.pipeline.types import ImportOptions, Record, RowIssue, Snapshot, SnapshotUser


def record(row, email, **values):
    return Record(row=row, values={"email": email, **values})


def snapshot_of(*users):
    return Snapshot(users=tuple(users))


def preview_of(records, snapshot, issues=()):
    options = ImportOptions()
    return compute_preview(list(records), list(issues), snapshot, options, row_count=len(records))


def test_it_finds_an_unknown_manager_and_a_circle_before_any_change():
    records = [
        record(2, "ana@x.com", manager_email="nobody@x.com"),
        record(3, "ying@x.com", manager_email="yang@x.com"),
        record(4, "yang@x.com", manager_email="ying@x.com"),
    ]

    preview = preview_of(records, snapshot_of())

    assert [(issue.code, issue.row) for issue in preview.errors] == [
        ("manager_not_found", 2),
        ("manager_cycle", 3),
    ]
    assert not preview.makes_changes


def test_it_lists_the_diffs_errors_beside_the_mapping_errors_in_row_order():
    mapping_error = RowIssue(code="invalid_email", message="…", row=3, column="Email")
    snapshot = snapshot_of(SnapshotUser(id=1, email="ana@x.com", employee_id="1"))
    records = [record(2, "ben@x.com", manager_email="nobody@x.com"), record(4, "ana@x.com")]
    records.append(record(5, "ana.new@x.com", employee_id="1"))

    preview = preview_of(records, snapshot, issues=[mapping_error])

    assert [(issue.code, issue.row) for issue in preview.issues] == [
        ("manager_not_found", 2),
        ("invalid_email", 3),
        ("conflicting_match", 5),
    ]


def test_a_clean_file_makes_the_changes_of_its_matching():
    snapshot = snapshot_of(SnapshotUser(id=1, email="ana@x.com", title="Old"))

    preview = preview_of([record(2, "ana@x.com", title="New")], snapshot)

    assert preview.makes_changes
    assert preview.active_users == 1
    [change] = iter_changes(preview.matching, ImportOptions())
    assert change.fields == {"title": ("Old", "New")}
