"""The import pipeline: plain data in, plain data out. No ORM, settings, request or clock.

Read it in this order, the story of one import:

- types.py: the data passed between the stages (Table, Record, RowIssue, Snapshot, Change …).
- headers.py: which header text names which field ("E-Mail", "Reports To", "Vorname").
- parse.py: bytes → Table (.xlsx or CSV, encoding and delimiter sniffed, title rows skipped).
- columns.py: Table → Records + RowIssues (cells cleaned, checked by row and across rows).
- diff.py: Records + the organization's users (a Snapshot) + the options → the changes, in
  phases: match_records, then the issues found from the matching, then iter_changes.
- preview.py: compute_preview, everything a preview knows before its changes are stored.
- safeguards.py: whether the changes pass the organization's limits on mass deactivation.
- revert_plan.py: the changes that undo an applied import, or the users in the way.

The database side of the same story is importer.store; importer.runs drives both.
"""
