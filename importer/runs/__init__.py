"""Import runs: the only writer of ImportRun; callers use the services re-exported here.

services.py creates, previews, holds, approves, discards and applies runs (the state machine is
in its docstring); leases.py holds a worker's lease on the run it works on and recovers runs
whose worker stopped; corrections.py makes the run of a file corrected in the browser;
revert.py makes the run that undoes another; selectors.py holds the reads several callers share.
"""

from importer.runs.corrections import CorrectionRefused, create_corrected_run
from importer.runs.leases import LeaseHeld, recover_abandoned_runs
from importer.runs.limits import LimitReached, check_room
from importer.runs.revert import RevertRefused, create_revert_run
from importer.runs.same_person import SamePersonRefused, confirm_same_person
from importer.runs.services import (
    ApplyRefused,
    DatabaseUnavailable,
    InputNotStored,
    NothingToPreviewAgain,
    apply_run,
    approve_held_run,
    attach_input,
    create_fetch_run,
    create_run,
    discard_held_run,
    fail_database_unavailable,
    fail_fetch,
    hold_run,
    import_now,
    mark_sync_recorded,
    matches_in_browser,
    options_for,
    preview_again,
    preview_run,
    request_apply,
    requeue_preview,
    skip_column_matching,
)

__all__ = [
    "ApplyRefused",
    "CorrectionRefused",
    "DatabaseUnavailable",
    "InputNotStored",
    "LimitReached",
    "LeaseHeld",
    "NothingToPreviewAgain",
    "RevertRefused",
    "SamePersonRefused",
    "apply_run",
    "approve_held_run",
    "attach_input",
    "check_room",
    "confirm_same_person",
    "create_corrected_run",
    "create_fetch_run",
    "create_revert_run",
    "create_run",
    "discard_held_run",
    "fail_database_unavailable",
    "fail_fetch",
    "hold_run",
    "import_now",
    "mark_sync_recorded",
    "matches_in_browser",
    "options_for",
    "preview_again",
    "preview_run",
    "recover_abandoned_runs",
    "request_apply",
    "requeue_preview",
    "skip_column_matching",
]
