"""The REST API under /api/v1/ for HR scripts, on django-ninja (its OpenAPI document included).

    curl -H "Authorization: Bearer $TOKEN" --data-binary @people.csv \
         -H "Content-Type: text/csv" -H "Idempotency-Key: nightly-2026-12-01" \
         https://rostersync.example/api/v1/runs          → 202 {"run": 41, "status": "queued", …}

Every operation needs a company API token (importer.tokens) with the scope it names; the
token's company is the only one any query sees, so another company's run is a 404. A token
makes at most settings.API_RATE_LIMIT_PER_MINUTE requests a minute (429 with Retry-After). A run
is the JSON of `import_users --json` (runs.selectors.run_as_json), and every error is
{"error": {"code": …, "message": …}} with a code that stays the same across releases.
The web's services do the work, so the same limits, safeguards and audit events apply.
"""

from __future__ import annotations

import hashlib
import math
import time

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import RequestDataTooBig
from django.core.paginator import Paginator
from django.db import IntegrityError, transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.defaultfilters import filesizeformat
from django.urls import URLPattern, reverse
from ninja import NinjaAPI, Schema, Status
from ninja.errors import AuthenticationError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.security import HttpBearer

from importer import runs, tokens
from importer.forms import HistoryFilterForm
from importer.history import exports
from importer.models import ApiToken, AuditEvent, ImportRun
from importer.runs import selectors
from importer.tasks import apply_run_task, enqueue, preview_run_task

Scope = ApiToken.Scope
RUNS_PER_PAGE = 25
CHANGES_LIMIT = 100
MAX_CHANGES_LIMIT = 1000
EXPORT_FORMATS = ("csv", "xlsx")
IDEMPOTENCY_KEY_MAX = 200


class ApiError(Exception):
    """An error answered as {"error": {"code", "message"}} with `status` (and `headers`)."""

    def __init__(self, status: int, code: str, message: str, *, headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


class TokenAuth(HttpBearer):
    """Authorization: Bearer rsk_…; the token must be usable, and within its rate."""

    def authenticate(self, request: HttpRequest, token: str) -> ApiToken | None:
        api_token = tokens.find_token(token)
        if api_token is None:
            return None
        _check_rate(api_token)
        request.api_token = api_token
        request.organization = api_token.organization
        return api_token


api = NinjaAPI(
    title="Rostersync API",
    version="1",
    description=(
        "Import a company's users from a script: upload a file, poll its preview, apply it. "
        "Authenticate with a company API token (Configuration tab): `Authorization: Bearer rsk_…`."
    ),
    urls_namespace="api",
    docs_url=None,
    auth=TokenAuth(),
)


def urls() -> tuple[list, str, str]:
    """Return the API's URL patterns for include(): open to requests without a session.

    LoginRequiredMiddleware would send a script to the login page; the token is checked instead.
    django-ninja's root route (/api/v1/, a 404 without its docs page) stays: it reverses it.
    """
    patterns, app_name, namespace = api.urls
    for pattern in patterns:
        if isinstance(pattern, URLPattern):
            pattern.callback.login_required = False
    return patterns, app_name, namespace


# --- errors -------------------------------------------------------------------------------------


class ErrorDetail(Schema):
    code: str
    message: str


class ErrorOut(Schema):
    error: ErrorDetail


def _error(request, status: int, code: str, message: str, headers: dict | None = None):
    response = api.create_response(
        request, {"error": {"code": code, "message": message}}, status=status
    )
    for name, value in (headers or {}).items():
        response[name] = value
    return response


@api.exception_handler(ApiError)
def _api_error(request, error: ApiError):
    return _error(request, error.status, error.code, error.message, error.headers)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request, error):
    return _error(
        request,
        401,
        "invalid_token",
        "Send a valid API token as `Authorization: Bearer rsk_…`: this one is missing, unknown, "
        "revoked or expired. Company admins make tokens on the Configuration tab.",
        {"WWW-Authenticate": "Bearer"},
    )


@api.exception_handler(Http404)
def _not_found(request, error):
    return _error(request, 404, "not_found", "No such run in your organization.")


@api.exception_handler(NinjaValidationError)
def _invalid(request, error):
    return _error(request, 422, "invalid_request", f"The request is not valid: {error.errors}")


def _check_rate(token: ApiToken) -> None:
    """Count a request of `token` in the current minute; raise ApiError(429) past the limit."""
    limit = settings.API_RATE_LIMIT_PER_MINUTE
    if not limit:
        return
    now = time.time()
    key = f"api-rate:{token.secret_sha256[:24]}:{int(now // 60)}"
    cache.add(key, 0, timeout=61)
    try:
        count = cache.incr(key)
    except ValueError:  # Expired between add and incr: this request starts the window.
        cache.set(key, 1, timeout=61)
        count = 1
    if count > limit:
        retry_after = max(1, math.ceil(60 - now % 60))
        raise ApiError(
            429,
            "rate_limited",
            f"This token made more than {limit} requests in a minute. Wait {retry_after} "
            "seconds (Retry-After), then go on.",
            headers={"Retry-After": str(retry_after)},
        )


def _require(request, *scopes: str) -> None:
    """Raise ApiError(403) unless the request's token has one of `scopes`."""
    if not any(request.auth.has_scope(scope) for scope in scopes):
        raise ApiError(
            403,
            "missing_scope",
            f"This token lacks the scope {' or '.join(scopes)}. A company admin can make a "
            "token with it on the Configuration tab.",
        )


def _get_run(request, pk: int) -> ImportRun:
    return get_object_or_404(ImportRun, pk=pk, organization=request.organization)


# --- runs ---------------------------------------------------------------------------------------


class IssueOut(Schema):
    row: int | None
    column: str | None
    value: str | None
    code: str
    message: str


class ChangeOut(Schema):
    action: str
    email: str
    row: int | None
    fields: dict[str, list]


class SkippedOut(ChangeOut):
    reason: str


class CountsOut(Schema):
    new: int
    changed: int
    deactivated: int
    reactivated: int
    unchanged: int
    errors: int
    warnings: int


class PagingOut(Schema):
    offset: int
    limit: int
    changes_total: int
    skipped_total: int


class SamePersonPairOut(Schema):
    user_id: int
    old_email: str
    new_email: str
    row: int | None
    name: str
    evidence: dict[str, str]
    confirmed: bool


class RunOut(Schema):
    run: int
    status: str
    message: str
    counts: CountsOut
    errors: list[IssueOut]
    warnings: list[IssueOut]
    safeguard: str
    changes: list[ChangeOut]
    skipped: list[SkippedOut]
    paging: PagingOut
    can_apply: bool
    api_token: str | None
    url: str
    # The limits the preview passed ({kind: changes past it}), and the held part links of
    # "apply what is within the limits, hold the rest".
    limits_passed: dict[str, int]
    held_part_of: int | None
    held_parts: list[int]
    # "Same person with a new email?": the pairs the preview asks about (confirmed false), then
    # the pairs confirmed (true), which the preview matched.
    same_person_pairs: list[SamePersonPairOut]


class RunSummaryOut(Schema):
    run: int
    status: str
    source: str
    trigger: str
    created_at: str
    finished_at: str | None
    counts: CountsOut
    api_token: str | None
    url: str


class RunListOut(Schema):
    runs: list[RunSummaryOut]
    page: int
    pages: int
    count: int


def _run_out(request, run: ImportRun, *, offset: int = 0, limit: int = CHANGES_LIMIT) -> dict:
    body = selectors.run_as_json(run, changes_page=(offset, limit))
    body["paging"] = {
        "offset": offset,
        "limit": limit,
        "changes_total": run.changes.filter(skipped_reason="").count(),
        "skipped_total": run.changes.exclude(skipped_reason="").count(),
    }
    body["can_apply"] = run.can_apply
    body["api_token"] = run.api_token.name if run.api_token_id else None
    body["url"] = request.build_absolute_uri(reverse("importer:run-detail", args=[run.pk]))
    body["same_person_pairs"] = _same_person_pairs(run)
    return body


def _same_person_pairs(run: ImportRun) -> list[dict]:
    """Return the run's undecided pairs, then its confirmed ones (as their audit events
    recorded them, or by user id and new email alone for a pair confirmed before those)."""
    fields = ("user_id", "old_email", "new_email", "row", "name")
    pairs = [
        {
            **{name: pair.get(name) for name in fields},
            "evidence": pair.get("evidence", {}),
            "confirmed": False,
        }
        for pair in run.same_person_pairs
    ]
    if not run.same_person_confirmed:
        return pairs
    recorded = {
        event.data.get("user_id"): event.data
        for event in run.events.filter(kind=AuditEvent.Kind.SAME_PERSON_CONFIRMED).order_by("id")
    }
    for user_id, new_email in run.same_person_confirmed.items():
        data = recorded.get(int(user_id), {})
        pairs.append(
            {
                "user_id": int(user_id),
                "old_email": data.get("old_email", ""),
                "new_email": new_email,
                "row": data.get("row"),
                "name": data.get("name", ""),
                "evidence": {},
                "confirmed": True,
            }
        )
    return pairs


UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                "schema": {"type": "string", "format": "binary"}
            },
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "csv": {"type": "string"},
                    },
                }
            },
        },
    },
    "parameters": [
        {
            "in": "header",
            "name": "Idempotency-Key",
            "required": False,
            "schema": {"type": "string", "maxLength": IDEMPOTENCY_KEY_MAX},
            "description": "A retried upload with the same key returns the first run.",
        }
    ],
}


@api.post(
    "/runs",
    url_name="runs",
    response={200: RunOut, 202: RunOut, 400: ErrorOut, 413: ErrorOut, 422: ErrorOut},
    openapi_extra=UPLOAD_BODY,
    summary="Upload a file or CSV text; its preview is computed by a worker",
    tags=["runs"],
)
def create_run(request, response: HttpResponse, name: str = ""):
    """Make a run of the body (raw CSV/xlsx) or of a multipart `file` or `csv` field (scope
    imports:write). 202 with the queued run; poll it until its status is no longer queued or
    previewing. With an Idempotency-Key already used, 200 with that key's run."""
    _require(request, Scope.IMPORTS_WRITE)
    key = request.headers.get("Idempotency-Key", "").strip()
    if len(key) > IDEMPOTENCY_KEY_MAX:
        raise ApiError(
            400,
            "invalid_idempotency_key",
            f"Use an Idempotency-Key of {IDEMPOTENCY_KEY_MAX} characters at most.",
        )
    data, display_name = _read_input(request, name)
    if key:
        earlier = _run_for_key(request, key, data)
        if earlier is not None:
            response["Location"] = reverse("api:run", args=[earlier.pk])
            return Status(200, _run_out(request, earlier))
    try:
        with transaction.atomic():
            run = runs.create_run(
                organization=request.organization,
                data=data,
                name=display_name,
                source=ImportRun.Source.API,
                api_token=request.auth,
                idempotency_key=key,
            )
    except IntegrityError:
        earlier = _run_for_key(request, key, data) if key else None
        if earlier is None:
            raise
        return Status(200, _run_out(request, earlier))  # Two retries at once: the other one won.
    except runs.LimitReached as limit:
        raise ApiError(429, "limit_reached", str(limit), headers={"Retry-After": "60"}) from None
    except runs.InputNotStored as refusal:
        raise ApiError(503, "input_not_stored", refusal.message) from None
    # A broker that cannot be reached leaves the run queued: the stuck-run recovery sends it.
    enqueue(preview_run_task, run.pk)
    response["Location"] = reverse("api:run", args=[run.pk])
    return Status(202, _run_out(request, run))


def _read_input(request, name: str) -> tuple[bytes, str]:
    limit = settings.IMPORT_MAX_UPLOAD_BYTES
    too_large = ApiError(
        413, "too_large", f"The upload is larger than the limit of {filesizeformat(limit)}."
    )
    if int(request.META.get("CONTENT_LENGTH") or 0) > limit + 1024 * 1024:
        raise too_large
    try:
        if request.content_type == "multipart/form-data":
            upload = request.FILES.get("file")
            if upload is not None:
                data, display_name = b"".join(upload.chunks()), upload.name
            else:
                data, display_name = request.POST.get("csv", "").encode(), "CSV text"
        else:
            data, display_name = request.body, "API upload"
    except RequestDataTooBig:
        raise too_large from None
    if len(data) > limit:
        raise too_large
    if not data.strip():
        raise ApiError(
            400,
            "empty_input",
            "The upload is empty: send the file as the body, or as the multipart field `file` "
            "(or CSV text as `csv`).",
        )
    display_name = name or display_name
    return data, "".join(ch for ch in display_name if ch.isprintable())[:200]


def _run_for_key(request, key: str, data: bytes) -> ImportRun | None:
    """Return the run an Idempotency-Key already made; refuse the key for another body."""
    run = ImportRun.objects.filter(organization=request.organization, idempotency_key=key).first()
    if run is not None and run.input_sha256 != hashlib.sha256(data).hexdigest():
        raise ApiError(
            422,
            "idempotency_key_reused",
            f"This Idempotency-Key made run {run.pk} from another file. Use a new key for a "
            "new file.",
        )
    return run


@api.get(
    "/runs",
    url_name="runs",
    response={200: RunListOut, 422: ErrorOut},
    summary="List runs, newest first, with History's filters",
    tags=["runs"],
)
def list_runs(
    request,
    status: str = "",
    source: str = "",
    since: str = "",
    until: str = "",
    with_changes: bool = False,
    page: int = 1,
):
    """The organization's runs, 25 a page (scope history:read); dates are YYYY-MM-DD."""
    _require(request, Scope.HISTORY_READ)
    form = HistoryFilterForm(
        {
            "status": status,
            "source": source,
            "since": since,
            "until": until,
            "with_changes": with_changes,
        }
    )
    if not form.is_valid():
        problems = "; ".join(
            f"{field}: {' '.join(errors)}" for field, errors in form.errors.items()
        )
        raise ApiError(422, "invalid_filter", problems)
    runs_qs = selectors.filter_runs(
        ImportRun.objects.filter(organization=request.organization).select_related("api_token"),
        **form.cleaned_data,
    )
    paginator = Paginator(runs_qs, RUNS_PER_PAGE)
    current = paginator.get_page(page)
    return {
        "runs": [
            {
                "run": run.pk,
                "status": run.status,
                "source": run.source,
                "trigger": run.trigger,
                "created_at": run.created_at.isoformat(),
                "finished_at": run.finished_at.isoformat() if run.finished_at else None,
                "counts": run.counts,
                "api_token": run.api_token.name if run.api_token_id else None,
                "url": request.build_absolute_uri(reverse("importer:run-detail", args=[run.pk])),
            }
            for run in current
        ],
        "page": current.number,
        "pages": paginator.num_pages,
        "count": paginator.count,
    }


@api.get(
    "/runs/{int:pk}",
    url_name="run",
    response={200: RunOut, 404: ErrorOut},
    summary="Get a run: status, counts, errors, warnings, safeguard and a page of its changes",
    tags=["runs"],
)
def get_run(request, pk: int, offset: int = 0, limit: int = CHANGES_LIMIT):
    """The run as `import_users --json` prints it, its changes `limit` at a time from `offset`
    (scopes imports:write, imports:apply or history:read)."""
    _require(request, Scope.IMPORTS_WRITE, Scope.IMPORTS_APPLY, Scope.HISTORY_READ)
    run = _get_run(request, pk)
    limit = min(max(limit, 1), MAX_CHANGES_LIMIT)
    return _run_out(request, run, offset=max(offset, 0), limit=limit)


@api.post(
    "/runs/{int:pk}/apply",
    url_name="run-apply",
    response={202: RunOut, 404: ErrorOut, 409: ErrorOut},
    summary="Apply a ready run (confirm_safeguard=true when its safeguard tripped, or "
    "hold_rest=true to apply what is within the limits and hold the rest)",
    tags=["runs"],
)
def apply_run(request, pk: int, confirm_safeguard: bool = False, hold_rest: bool = False):
    """Mark the run for applying and hand it to a worker (scope imports:apply); 202, then poll
    until its status is applied (or failed, or stale). With hold_rest, the changes that passed
    a limit wait in a held run of their own, named in held_parts."""
    _require(request, Scope.IMPORTS_APPLY)
    run = _get_run(request, pk)
    try:
        runs.request_apply(
            run,
            acting_user=None,
            confirm_safeguard=confirm_safeguard,
            hold_rest=hold_rest,
            api_token=request.auth.name,
        )
    except runs.ApplyRefused as refusal:
        run.refresh_from_db()
        if run.error_count:
            code = "run_has_errors"
        elif run.safeguard_message and run.status == ImportRun.Status.READY:
            code = "safeguard_confirmation_required"
        else:
            code = "run_not_ready"
        raise ApiError(409, code, str(refusal)) from None
    enqueue(apply_run_task, run.pk)
    return Status(202, _run_out(request, run))


@api.post(
    "/runs/{int:pk}/same-person",
    url_name="run-same-person",
    response={202: RunOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut},
    summary='Answer "Same person with a new email?": match a pair (user_id) or all of them '
    "(all=true); the preview is computed again",
    tags=["runs"],
)
def confirm_same_person(request, pk: int, user_id: int | None = None, all: bool = False):
    """Confirm one of the run's same_person_pairs (its `user_id`), or every one with
    all=true, as the same person with a new address (scope imports:apply), as the run page's
    button does; 202 with the run queued, then poll it: its preview shows an email change
    instead of a deactivation and a new account. A pair the preview did not offer, or a run
    that is not ready or held, is a 409."""
    _require(request, Scope.IMPORTS_APPLY)
    run = _get_run(request, pk)
    if (user_id is None) == (not all):
        raise ApiError(
            422, "invalid_request", "Name one pair with user_id, or match all with all=true."
        )
    try:
        runs.confirm_same_person(
            run,
            acting_user=None,
            user_ids=None if all else [user_id],
            api_token=request.auth.name,
        )
    except runs.SamePersonRefused as refusal:
        run.refresh_from_db()
        offered = run.status in (ImportRun.Status.READY, ImportRun.Status.HELD)
        code = "pair_not_offered" if offered and not run.error_count else "run_not_ready"
        raise ApiError(409, code, str(refusal)) from None
    enqueue(preview_run_task, run.pk)
    return Status(202, _run_out(request, run))


# --- downloads ----------------------------------------------------------------------------------


@api.get(
    "/runs/{int:pk}/changes.{fmt}",
    url_name="run-changes-export",
    summary="Download a run's changes (csv or xlsx), one row per field changed",
    tags=["downloads"],
)
def run_changes_export(request, pk: int, fmt: str):
    """The file the run page offers (scope history:read)."""
    _require(request, Scope.HISTORY_READ)
    run = _get_run(request, pk)
    name = f"{request.organization.slug}-import-{run.pk}-changes"
    return _download(
        fmt, name, exports.CHANGE_HEADERS, exports.change_rows(run), exports.changes_xlsx
    )


@api.get(
    "/exports/users.{fmt}",
    url_name="users-export",
    summary="Download the organization's active users in the import format (csv or xlsx)",
    tags=["downloads"],
)
def users_export(request, fmt: str):
    """The file History offers (scope users:read)."""
    _require(request, Scope.USERS_READ)
    name = f"{request.organization.slug}-users"
    headers, rows, write_xlsx = exports.users_download(request.organization.pk)
    return _download(fmt, name, headers, rows, write_xlsx)


def _download(fmt: str, name: str, headers, rows, write_xlsx) -> HttpResponse:
    if fmt not in EXPORT_FORMATS:
        raise ApiError(404, "unknown_format", "Downloads come as .csv or .xlsx.")
    if fmt == "xlsx":
        response = FileResponse(
            write_xlsx(rows),
            as_attachment=True,
            filename=f"{name}.xlsx",
            content_type=exports.XLSX_CONTENT_TYPE,
        )
    else:
        response = StreamingHttpResponse(
            exports.csv_lines(headers, rows), content_type=exports.CSV_CONTENT_TYPE
        )
        response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    response["Cache-Control"] = "no-store, private"  # Personal data.
    return response
