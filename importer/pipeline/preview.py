"""A run's preview before its changes are made: every issue of the file, and its matching.

Pure, like the rest of the pipeline: the caller reads the file, the records and the snapshot,
and saves the outcome. With no error, the changes come from diff.iter_changes(matching, …).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from importer.pipeline.diff import (
    Matching,
    manager_cycle_issues,
    manager_issues,
    match_records,
)
from importer.pipeline.types import (
    FIELD_LABELS,
    FileError,
    ImportOptions,
    Record,
    RowIssue,
    Severity,
    Snapshot,
)

# Most issues a run stores; the rest are counted (see Preview.issues_to_store).
MAX_STORED_ISSUES = 1000


@dataclass(frozen=True)
class Preview:
    """What a preview found, known before any change is made.

    `issues` come in the order the run's page lists them: the file's first, then by row and
    column. `matching` is None when the file could not be read at all.
    """

    row_count: int
    issues: tuple[RowIssue, ...]
    matching: Matching | None = None

    @property
    def errors(self) -> list[RowIssue]:
        return [issue for issue in self.issues if issue.is_error]

    def issues_to_store(self, limit: int = MAX_STORED_ISSUES) -> list[dict]:
        """Return the issues as a run stores them: the first `limit`, errors first.

        No file can make a run's row or page huge: past the limit, one last entry (row None,
        code "more_issues") says how many errors and warnings are left out.
        """
        issues = self.issues
        if len(issues) <= limit:
            return [issue.as_dict() for issue in issues]
        errors = [issue for issue in issues if issue.is_error]
        warnings = [issue for issue in issues if not issue.is_error]
        kept = (errors + warnings)[:limit]
        left_errors = len(errors) - min(len(errors), limit)
        left_warnings = len(warnings) - (limit - (len(errors) - left_errors))
        parts = [
            f"{count:,} more {noun}{'' if count == 1 else 's'}"
            for count, noun in ((left_errors, "error"), (left_warnings, "warning"))
            if count
        ]
        more = RowIssue(
            code="more_issues",
            row=None,
            severity=Severity.ERROR if left_errors else Severity.WARNING,
            message=f"{' and '.join(parts)} not listed: only the first {limit:,} issues are "
            "kept. Correct the ones listed (often one fix in the spreadsheet mends many rows) "
            "and upload the file again to see the rest.",
        )
        return [issue.as_dict() for issue in _in_page_order(kept)] + [more.as_dict()]

    @property
    def makes_changes(self) -> bool:
        """Return whether the changes are to be made: any error blocks the whole import.

        A row with an error would otherwise count as a missing person, whom the import would
        deactivate.
        """
        return self.matching is not None and not self.errors

    @property
    def active_users(self) -> int:
        """Return how many of the organization's users are active before the import."""
        if self.matching is None:
            return 0
        return sum(1 for user in self.matching.snapshot.users if user.is_active)


def compute_preview(
    records: list[Record],
    issues: list[RowIssue],
    snapshot: Snapshot,
    options: ImportOptions,
    *,
    row_count: int,
    headers: Mapping[str, str] | None = None,
    same_person: Mapping[int, str] | None = None,
) -> Preview:
    """Return the preview of `records` (with the `issues` mapping them found) against `snapshot`.

    The diff's own issues (emails taken, rows describing the same user, managers missing or in
    a circle) join the mapping's, so a file with column errors still lists them all. The diff
    names a column by its field ("Manager email"); with `headers` ({field: the file's header},
    columns.file_headers) every issue names the file's own column ("Reports To") instead.
    `same_person` are the confirmed pairs of a user and a new address (match_records).
    """
    matching = match_records(records, snapshot, options, rejected=issues, same_person=same_person)
    found = [
        *issues,
        *matching.issues,
        *manager_issues(matching, options),
        *manager_cycle_issues(matching, options),
    ]
    if headers:
        found = _in_file_terms(found, headers)
    return Preview(row_count=row_count, issues=_in_page_order(found), matching=matching)


def _in_file_terms(issues: list[RowIssue], headers: Mapping[str, str]) -> list[RowIssue]:
    # The diff names only built-in fields' columns (an attribute's issues come from columns.py).
    header_of_label = {
        FIELD_LABELS[field]: header for field, header in headers.items() if field in FIELD_LABELS
    }
    return [
        replace(issue, column=header_of_label[issue.column])
        if issue.column in header_of_label
        else issue
        for issue in issues
    ]


def unreadable_preview(error: FileError, *, row_count: int = 0) -> Preview:
    """Return the preview of a file that could not be read: its one issue, and no matching."""
    issue = RowIssue(code=error.code, message=error.message, row=None)
    return Preview(row_count=row_count, issues=(issue,))


def _in_page_order(issues: list[RowIssue]) -> tuple[RowIssue, ...]:
    # Stable: issues of one cell keep the order they were found in.
    return tuple(
        sorted(issues, key=lambda issue: (issue.row is not None, issue.row or 0, issue.column))
    )
