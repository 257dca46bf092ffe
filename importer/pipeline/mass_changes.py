"""Limits on every kind of mass change: which changes of an import pass which limit, and why.

Pure, like the rest of the pipeline. Besides the deactivations and the lost rows
(importer.pipeline.safeguards), an import is checked for the share (and optionally the number)
of people whose manager, email, department, title or location it changes, and for any change
to an organization admin's email or any deactivation of an admin.

The choice of the changes that push a limit over is deterministic: the changes come in the
diff's order (the file's rows, then the deactivations by email), and of each kind the first
`allowed` ones pass no limit; every one after them passes it. So "deactivate at most 10 %"
holds the deactivations beyond the 10 %, always the same ones for the same file and users.
An admin's email change or deactivation always passes the admin limit (none is allowed).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator

from importer.pipeline.safeguards import MASS_CHANGE_FLOOR, _percent
from importer.pipeline.types import Action, Change, Limits

DEACTIVATIONS = "deactivations"
ROWS = "rows"
ADMINS = "admins"
# The fields whose mass change is limited, in the order the page names them.
LIMITED_FIELDS = ("manager_email", "email", "department", "title", "location")

# Each limit as the preview's filter and the confirmation name it.
LIMIT_LABELS: dict[str, str] = {
    DEACTIVATIONS: "Deactivations",
    ROWS: "Fewer rows than the last import",
    "manager_email": "Manager changes",
    "email": "Email changes",
    "department": "Department changes",
    "title": "Title changes",
    "location": "Location changes",
    ADMINS: "Changes to admins",
}
_FIELD_NOUNS = {
    "manager_email": "manager",
    "email": "email",
    "department": "department",
    "title": "title",
    "location": "location",
}


def allowed_counts(limits: Limits, *, active_users: int) -> dict[str, int | None]:
    """Return how many changes of each limited kind an import may make before it passes the
    limit (None: no limit). Reaching a limit exactly is allowed; going past it trips.

    A count limit, when set, replaces the share; a share limit only counts past
    MASS_CHANGE_FLOOR people (in a small company one leaver is already a large share).
    """
    allowed: dict[str, int | None] = {
        DEACTIVATIONS: _allowed(
            limits.max_deactivation_percent, limits.max_deactivation_count, active_users
        )
    }
    for name in LIMITED_FIELDS:
        allowed[name] = _allowed(
            limits.max_field_change_percent, limits.max_field_change_count, active_users
        )
    return allowed


def _allowed(percent: int, count: int | None, active_users: int) -> int | None:
    if count is not None:
        return count
    if percent >= 100:
        return None
    return max(MASS_CHANGE_FLOOR, percent * active_users // 100)


def rows_limit_passed(*, row_count: int, last_row_count: int | None, limits: Limits) -> bool:
    """Return whether the file has too few rows against the last applied import's."""
    return bool(
        last_row_count
        and last_row_count - row_count > MASS_CHANGE_FLOOR
        and row_count * 100 < limits.min_row_ratio_percent * last_row_count
    )


class LimitCheck:
    """Say, change by change in the diff's order, which limits each one passes.

    `admin_ids` are the ids of the organization's admins; `rows_short` says whether the file
    passed the lost-rows limit (then every deactivation passes it: a truncated file's leavers
    are not leavers). Use `passed(change)` on every change as it is stored, then `counts` and
    `message()` for the whole import.
    """

    def __init__(
        self,
        limits: Limits,
        *,
        active_users: int,
        admin_ids: Iterable[int] = (),
        rows_short: bool = False,
    ):
        self.limits = limits
        self.active_users = active_users
        self.admin_ids = frozenset(admin_ids)
        self.rows_short = rows_short
        self.allowed = allowed_counts(limits, active_users=active_users)
        self.seen: Counter = Counter()  # changes of each kind, made (not skipped)
        self.counts: Counter = Counter()  # changes that passed each limit

    def passed(self, change: Change) -> tuple[str, ...]:
        """Return the limits `change` passes (empty for none), counting it."""
        if change.skipped_reason or change.action is Action.CREATE:
            return ()  # No limit counts new people (a new file makes a million of them).
        kinds = []
        if change.action == Action.DEACTIVATE:
            kinds.append(DEACTIVATIONS)
        elif change.action == Action.UPDATE:
            kinds += [name for name in LIMITED_FIELDS if name in change.fields]
        found = []
        for kind in kinds:
            self.seen[kind] += 1
            allowed = self.allowed[kind]
            if allowed is not None and self.seen[kind] > allowed:
                found.append(kind)
        if change.action == Action.DEACTIVATE and self.rows_short:
            found.append(ROWS)
        if (
            self.limits.hold_admin_changes
            and change.user_id in self.admin_ids
            and (change.action == Action.DEACTIVATE or "email" in change.fields)
        ):
            found.append(ADMINS)
        for kind in found:
            self.counts[kind] += 1
        return tuple(found)

    def check(self, changes: Iterable[Change]) -> Iterator[tuple[Change, tuple[str, ...]]]:
        """Return each change with the limits it passes, in the order given."""
        for change in changes:
            yield change, self.passed(change)

    @property
    def limits_passed(self) -> list[str]:
        """Return the limits this import passed, in LIMIT_LABELS' order."""
        return [kind for kind in LIMIT_LABELS if self.counts[kind]]

    def message(self) -> str:
        """Return the field and admin limits passed, in sentences ("" for none).

        The deactivation and row limits keep safeguard_message's sentences.
        """
        sentences = []
        for name in LIMITED_FIELDS:
            if not self.counts[name]:
                continue
            changed, noun = self.seen[name], _FIELD_NOUNS[name]
            people = "person" if changed == 1 else "people"
            count_limit = self.limits.max_field_change_count
            if count_limit is not None:
                sentences.append(
                    f"This import would change the {noun} of {changed:,} {people}; the limit "
                    f"is {count_limit:,} per import."
                )
            else:
                percent = self.limits.max_field_change_percent
                share = _percent(changed, self.active_users or 1, percent, above=True)
                sentences.append(
                    f"This import would change the {noun} of {changed:,} of "
                    f"{self.active_users:,} active users ({share} %); the limit is {percent} %."
                )
        if self.counts[ADMINS]:
            admins = self.counts[ADMINS]
            sentences.append(
                f"This import would change the email of, or deactivate, {admins:,} "
                f"organization {'admin' if admins == 1 else 'admins'}."
            )
        return " ".join(sentences)


def held_reason(kinds: Iterable[str]) -> str:
    """Return why a change is held, from the limits it passed, as the page explains it."""
    return "; ".join(LIMIT_LABELS[kind] for kind in kinds)
