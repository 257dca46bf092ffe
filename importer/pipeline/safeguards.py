"""Safeguards against mass changes: a truncated or empty export must not deactivate a company.

Pure: given the preview's numbers and the limits in force, say in a sentence what trips.
"""

from __future__ import annotations

from importer.pipeline.types import Limits

# Share limits only count when more people than this are concerned: in a small company one
# leaver is already a large share, and the count limit (when set) still applies to every import.
MASS_CHANGE_FLOOR = 3


def safeguard_message(
    *,
    deactivations: int,
    active_users: int,
    row_count: int,
    last_row_count: int | None,
    limits: Limits,
) -> str | None:
    """Return why an import needs a second look, in numbers, or None when no safeguard trips.

    `active_users` counts the organization's active users before the import; `last_row_count`
    is the row count of the last applied import (None when there is none). Reaching a limit
    exactly is allowed; going past it trips.
    """
    reasons = []
    count_limit = limits.max_deactivation_count
    if count_limit is not None and deactivations > count_limit:
        reasons.append(
            f"This import would deactivate {deactivations:,} "
            f"{'user' if deactivations == 1 else 'users'}; the limit is {count_limit:,} per import."
        )
    elif (
        deactivations > MASS_CHANGE_FLOOR
        and active_users
        and deactivations * 100 > limits.max_deactivation_percent * active_users
    ):
        share = _percent(deactivations, active_users, limits.max_deactivation_percent, above=True)
        reasons.append(
            f"This import would deactivate {deactivations:,} of {active_users:,} active users "
            f"({share} %); the limit is {limits.max_deactivation_percent} %."
        )
    if (
        last_row_count
        and last_row_count - row_count > MASS_CHANGE_FLOOR
        and row_count * 100 < limits.min_row_ratio_percent * last_row_count
    ):
        share = _percent(row_count, last_row_count, limits.min_row_ratio_percent, above=False)
        rows = "row" if row_count == 1 else "rows"
        reasons.append(
            f"The file has {row_count:,} {rows}, {share} % of the {last_row_count:,} rows of the "
            f"last import; the minimum is {limits.min_row_ratio_percent} %."
        )
    return " ".join(reasons) or None


def _percent(part: int, whole: int, limit: int, *, above: bool) -> str:
    """Return part/whole as a percentage that never reads as the limit it crossed, nor as 0."""
    value = part * 100 / whole
    if part and value < 0.005:
        return "less than 0.01"
    for decimals in (1, 2):
        text = f"{value:.{decimals}f}".rstrip("0").rstrip(".")
        shown = float(text)
        crossed = (shown > limit) if above else (shown < limit)
        if crossed and (shown > 0 or part == 0):
            return text
    # Crossed by less than 0.005 points: say so rather than print a misleading figure.
    return f"{'just over' if above else 'just under'} {limit}"
