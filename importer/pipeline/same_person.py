"""The same person with a new address: pairs of a user leaving the file and a new row.

Pure, like the rest of the pipeline. A person whose email changes and whom no employee ID
links to their row would otherwise be deactivated, and a new account created for the row:
their history, reviews and manager links would stay with the old account. same_person_pairs
finds such pairs for the preview to ask about ("Same person with a new email?"); nothing is
matched until an admin confirms a pair, and match_records then matches the confirmed rows
(its `same_person` argument).
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from dataclasses import dataclass

from importer.pipeline.diff import Matching, display
from importer.pipeline.types import Record, SnapshotUser

# The fields that, when both the row and the user have them, must agree: any that differs
# means two different people with the same name.
EVIDENCE_FIELDS = ("hire_date", "department", "employee_id")
EVIDENCE_LABELS = {
    "hire_date": "hire date",
    "department": "department",
    "employee_id": "employee ID",
}


@dataclass(frozen=True)
class SamePersonPair:
    """A user missing from the file and the new row that may be them with a new address."""

    user_id: int
    old_email: str
    new_email: str
    row: int
    name: str
    # The fields both have and that agree, by name, with their value ("department": "Sales").
    evidence: dict[str, str]

    def as_dict(self) -> dict:
        return {
            "user_id": self.user_id,
            "old_email": self.old_email,
            "new_email": self.new_email,
            "row": self.row,
            "name": self.name,
            "evidence": dict(self.evidence),
        }


def name_key(first_name: str, last_name: str) -> tuple[str, str] | None:
    """Return a name as pairs compare it: accents, case and spacing aside; None when either
    part is blank (a name half known says nothing)."""
    parts = []
    for part in (first_name, last_name):
        text = unicodedata.normalize("NFKD", part or "")
        text = "".join(char for char in text if not unicodedata.combining(char))
        text = " ".join(text.casefold().split())
        if not text:
            return None
        parts.append(text)
    return parts[0], parts[1]


def _compare(record: Record, user: SnapshotUser) -> dict[str, str] | None:
    """Return the fields that agree, or None when one both have differs."""
    evidence = {}
    for name in EVIDENCE_FIELDS:
        new = display(record.get(name))
        old = display(getattr(user, name))
        if not new or not old:
            continue
        if name == "department":
            same = " ".join(new.casefold().split()) == " ".join(old.casefold().split())
        else:
            same = new.strip() == old.strip()
        if not same:
            return None
        evidence[name] = old
    return evidence


def same_person_pairs(
    matching: Matching, *, excluding: frozenset[int] = frozenset()
) -> list[SamePersonPair]:
    """Return the pairs of a user who leaves the file and a new row with the same name.

    A user leaves the file when they are active, matched to no row, not support staff and not
    kept out of sync (an import never changes their email); a row is new when it is matched to
    no user. A pair has the same first and last name (accents, case and spacing aside), and
    none of hire date, department or employee ID differs where both have one. A user or a row
    with two possible partners is in no pair: which of two people is meant is for the file to
    say (an employee ID), not for a guess. Users in `excluding` (pairs already decided) are
    left out. In file order of the rows.
    """
    leaving: dict[tuple[str, str], list[SnapshotUser]] = defaultdict(list)
    for user in matching.snapshot.users:
        if (
            not user.is_active
            or user.is_staff
            or user.is_protected
            or user.id in matching.matched_rows
            or user.id in excluding
        ):
            continue
        key = name_key(user.first_name, user.last_name)
        if key is not None:
            leaving[key].append(user)
    if not leaving:
        return []
    candidates: list[tuple[Record, SnapshotUser, dict[str, str]]] = []
    for record in matching.records:
        if record.row in matching.matches:
            continue
        key = name_key(record.get("first_name") or "", record.get("last_name") or "")
        if key is None or key not in leaving:
            continue
        for user in leaving[key]:
            evidence = _compare(record, user)
            if evidence is not None:
                candidates.append((record, user, evidence))
    per_row = defaultdict(int)
    per_user = defaultdict(int)
    for record, user, _evidence in candidates:
        per_row[record.row] += 1
        per_user[user.id] += 1
    return [
        SamePersonPair(
            user_id=user.id,
            old_email=user.email,
            new_email=record.email,
            row=record.row,
            name=f"{record.get('first_name')} {record.get('last_name')}".strip(),
            evidence=evidence,
        )
        for record, user, evidence in candidates
        if per_row[record.row] == 1 and per_user[user.id] == 1
    ]


def evidence_text(evidence: dict[str, str]) -> str:
    """Return what a pair has in common beside the name, as the preview says it."""
    if not evidence:
        return "the same name (the file gives no hire date, department or employee ID to compare)"
    parts = [f"{EVIDENCE_LABELS[name]} {value}" for name, value in evidence.items()]
    return "the same name, " + ", ".join(parts)


# Most pairs a run stores and its page lists; a file with more is not one to re-key pair by
# pair (an export that rewrote every address wants an employee ID column).
MAX_STORED_PAIRS = 500
