"""The History tab: every run of the organization, a person's timeline, downloads and undo."""

import datetime as dt

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import FileResponse, Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET, require_POST

from importer import runs
from importer.forms import HistoryFilterForm, PersonSearchForm
from importer.history import activity, exports
from importer.models import ImportChange, ImportRun, RemoteCheck
from importer.pipeline.parse import read_table
from importer.pipeline.types import FileError, field_labels
from importer.runs.selectors import (
    attribute_specs,
    changed_field_counts,
    filter_runs,
    run_attributes,
)
from importer.views.shared import get_run, record_download
from users.access import org_admin_required
from users.models import User

RUNS_PER_PAGE = 25
ACTIVITY_PER_PAGE = 50
TIMELINE_PER_PAGE = 50
PEOPLE_LIMIT = 50
EXPORT_FORMATS = ("csv", "xlsx")
# The run page checks a revert in full (loading every change) only up to this many changes.


@require_GET
@org_admin_required
def history(request):
    """List the organization's runs, newest first, filtered as the form asks."""
    form = HistoryFilterForm(request.GET or None)
    runs_qs = ImportRun.objects.filter(organization=request.organization).select_related(
        "created_by", "api_token", "reverts"
    )
    if form.is_bound and form.is_valid():
        runs_qs = filter_runs(runs_qs, **form.cleaned_data)
    page = Paginator(runs_qs, RUNS_PER_PAGE).get_page(request.GET.get("page"))
    summaries = changed_field_counts(
        [run.pk for run in page], attributes={run.pk: run_attributes(run) for run in page}
    )
    for run in page:
        run.changed_fields = summaries.get(run.pk, [])
    context = {
        "last_check": _last_check_since_a_run(request.organization),
        # The company's admins see that support worked in their screens, and who (Activity).
        "support_visit": activity.latest_support_visit(
            request.organization.pk,
            since=timezone.now() - dt.timedelta(days=activity.SUPPORT_VISIT_DAYS),
        ),
        "support_visit_days": activity.SUPPORT_VISIT_DAYS,
        "runs_page": page,
        "form": form,
        "is_filtered": form.is_bound and any(form.data.get(name) for name in form.fields),
        "person_form": PersonSearchForm(),
        "tab": "history",
    }
    template = (
        "importer/partials/history.html"
        if request.headers.get("HX-Request")
        else "importer/history.html"
    )
    return render(request, template, context)


def _last_check_since_a_run(organization) -> RemoteCheck | None:
    """Return the automatic import's latest check that found nothing new, if nothing came after.

    Such a check adds no run, so History says it happened: otherwise the list would look as if
    the automatic import had stopped.
    """
    check = (
        RemoteCheck.objects.filter(source__organization=organization, source__enabled=True)
        .order_by("-checked_at", "-id")
        .first()
    )
    if check is None:
        return None
    later_run = ImportRun.objects.filter(
        organization=organization, source=ImportRun.Source.REMOTE, created_at__gt=check.checked_at
    )
    return None if later_run.exists() else check


@require_GET
@org_admin_required
def activity_log(request):
    """List the organization's audited actions, newest first: who did what, when."""
    events = activity.organization_events(request.organization.pk)
    page = Paginator(events, ACTIVITY_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "importer/activity.html",
        {"events_page": page, "activity": activity.activities(page), "tab": "history"},
    )


# --- the run page -------------------------------------------------------------------------------


@require_POST
@org_admin_required
def run_revert(request, pk: int):
    """Create the run that undoes an applied run, and show its preview."""
    run = get_run(request, pk)
    try:
        reverting = runs.create_revert_run(run, acting_user=request.user)
    except runs.RevertRefused as refusal:
        messages.error(request, str(refusal))
        return redirect("importer:run-detail", pk=run.pk)
    messages.info(
        request,
        f"This is what reverting import #{run.pk} changes. Nothing has changed yet: check it, "
        "then click Import to apply it.",
    )
    return redirect("importer:run-detail", pk=reverting.pk)


# --- a person's timeline ------------------------------------------------------------------------


@require_GET
@org_admin_required
def people(request):
    """Find people of the organization by name or email, to open their timeline."""
    form = PersonSearchForm(request.GET or None)
    query = form.cleaned_data["q"].strip() if form.is_valid() else ""
    found = []
    if query:
        users = User.objects.filter(organization=request.organization).search(query)
        found = list(users.order_by("last_name", "first_name", "email")[: PEOPLE_LIMIT + 1])
    return render(
        request,
        "importer/timeline_search.html",
        {
            "form": form,
            "query": query,
            "people": found[:PEOPLE_LIMIT],
            "more": len(found) > PEOPLE_LIMIT,
            "tab": "history",
        },
    )


@require_GET
@org_admin_required
def person_timeline(request, user_id: int):
    """Show every applied run that changed a person, oldest first, with what it changed."""
    person = get_object_or_404(User, pk=user_id, organization=request.organization)
    changes = (
        ImportChange.objects.filter(
            run__organization=request.organization,
            run__status=ImportRun.Status.APPLIED,
            skipped_reason="",
        )
        # Rows whose user was deleted meanwhile still count if they name the same address.
        .filter(Q(user=person) | Q(user=None, email=person.email))
        .select_related("run", "run__created_by", "run__reverts")
        .order_by("run__finished_at", "run_id", "id")
    )
    page = Paginator(changes, TIMELINE_PER_PAGE).get_page(request.GET.get("page"))
    # Each change is labelled as its run named the fields (an attribute renamed since keeps
    # the name it had); the person's current values by today's definitions.
    run_labels = {}
    for change in page:
        if change.run_id not in run_labels:
            run_labels[change.run_id] = field_labels(run_attributes(change.run))
        change.field_labels = run_labels[change.run_id]
    return render(
        request,
        "importer/timeline.html",
        {
            "person": person,
            "attribute_values": _attribute_values(person),
            "changes_page": page,
            "person_form": PersonSearchForm(),
            "tab": "history",
        },
    )


def _attribute_values(person: User) -> list[tuple[str, str]]:
    """Return the person's custom attribute values as (name, value), in the attributes' order."""
    values = person.attributes or {}
    return [
        (spec.name, values[spec.key])
        for spec in attribute_specs(person.organization_id)
        if values.get(spec.key) not in (None, "")
    ]


# --- downloads ----------------------------------------------------------------------------------


@require_GET
@org_admin_required
@cache_control(no_store=True, private=True)  # Personal data: kept by no browser or proxy cache.
def run_changes_export(request, pk: int, fmt: str):
    """Download a run's changes, one row per field changed."""
    run = get_run(request, pk)
    name = f"{request.organization.slug}-import-{run.pk}-changes"
    return _download(
        request,
        fmt,
        name,
        exports.CHANGE_HEADERS,
        exports.change_rows(run),
        exports.changes_xlsx,
        what="run_changes",
        run=run,
    )


@require_GET
@org_admin_required
@cache_control(no_store=True, private=True)  # Personal data: kept by no browser or proxy cache.
def run_errors_export(request, pk: int, fmt: str):
    """Download a run's errors: as .xlsx, its input with each offending cell marked and
    commented plus an Errors sheet; as .csv, the list alone. For the HR team to fix."""
    run = get_run(request, pk)
    name = f"{request.organization.slug}-import-{run.pk}-errors"
    errors = run.errors
    return _download(
        request,
        fmt,
        name,
        exports.ERROR_HEADERS,
        exports.error_rows(errors),
        lambda _rows: exports.error_report_xlsx(errors, _input_table(run)),
        what="run_errors",
        run=run,
    )


def _input_table(run: ImportRun):
    """Return the run's stored input as the import read it, or None if it is gone or unreadable."""
    if not run.input_file:
        return None
    try:
        with run.input_file.open("rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        return None
    try:
        return read_table(
            data,
            run.input_name,
            extra_synonyms=(run.policy or {}).get("column_mapping") or None,
            max_rows=settings.IMPORT_MAX_ROWS,
            max_xml_bytes=settings.IMPORT_MAX_XLSX_EXPANDED_BYTES,
        )
    except FileError:
        return None


@require_GET
@org_admin_required
@cache_control(no_store=True, private=True)
def users_export(request, fmt: str):
    """Download the organization's active users in the import format."""
    name = f"{request.organization.slug}-users-{timezone.localdate():%Y-%m-%d}"
    headers, rows, write_xlsx = exports.users_download(request.organization.pk)
    return _download(request, fmt, name, headers, rows, write_xlsx, what="users")


@require_GET
@org_admin_required
def template_export(request, fmt: str):
    """Download an empty import file: the header row and one example person."""
    headers, rows, write_xlsx = exports.template_download(request.organization.pk)
    name = "rostersync-import-template"
    return _download(request, fmt, name, headers, rows, write_xlsx, what="template")


def _download(request, fmt: str, name: str, headers, rows, write_xlsx, *, what: str, run=None):
    if fmt not in EXPORT_FORMATS:
        raise Http404("Downloads come as .csv or .xlsx.")
    # Support staff's downloads are in the company's Activity (their content is not kept).
    record_download(request, what=what, filename=f"{name}.{fmt}", run=run)
    if fmt == "xlsx":
        return FileResponse(
            write_xlsx(rows),
            as_attachment=True,
            filename=f"{name}.xlsx",
            content_type=exports.XLSX_CONTENT_TYPE,
        )
    response = StreamingHttpResponse(
        exports.csv_lines(headers, rows), content_type=exports.CSV_CONTENT_TYPE
    )
    response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    return response
