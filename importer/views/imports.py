"""The Import tab: upload or paste, watch the preview, confirm the import."""

import datetime as dt
import re

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from importer import progress, runs, uploads
from importer.forms import PreviewForm
from importer.history import activity
from importer.models import ImportChange, ImportRun, RemoteSource
from importer.pipeline.corrections import CellCorrection
from importer.pipeline.mass_changes import LIMIT_LABELS
from importer.pipeline.types import field_labels
from importer.runs import corrections, selectors
from importer.runs.revert import revert_state
from importer.tasks import apply_run_task, enqueue, preview_run_task, preview_task_for
from importer.views.shared import (
    BROKER_DOWN,
    column_form_for,
    get_run,
    record_download,
    start_apply,
)
from users.access import org_admin_required

CHANGES_PER_PAGE = 50
# A search of a run's changes counts its matches up to this many ("more than 1,000": twenty pages;
# a search that finds more is a word short, and counting them would read most of a large run).
SEARCH_MATCHES_COUNTED = 1_000
# Seconds a run waits for a worker before its page offers to send it again.
SEND_AGAIN_AFTER_SECONDS = 20
ISSUES_PER_PAGE = 100
ROWS_TO_FIX_PER_PAGE = 25


@require_GET
@org_admin_required
def import_page(request):
    active = ImportRun.objects.filter(
        organization=request.organization, status__in=ImportRun.RUNNING_STATUSES
    ).first()
    return render(
        request,
        "importer/import.html",
        {
            "form": PreviewForm(initial={"text": _pasted_text(request)}),
            "active_run": active,
            **_import_context(request.organization),
        },
    )


def _pasted_text(request) -> str:
    """Return the pasted CSV of the run named by ?from_run= (to correct it), or ""."""
    pk = request.GET.get("from_run", "")
    if not pk.isdigit():
        return ""
    run = ImportRun.objects.filter(
        pk=int(pk), organization=request.organization, source=ImportRun.Source.PASTE
    ).first()
    if run is None or not run.input_file:
        return ""
    try:
        with run.input_file.open("rb") as handle:
            text = handle.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return ""
    # The run's input, shown again: for support staff, recorded as its download would be.
    record_download(request, what="run_input", filename=f"run-{run.pk}.csv", run=run)
    return text


def _import_context(organization) -> dict:
    """What every rendering of the Import tab shows: the size limit, and the banners of an
    automatic import that is failing and of scheduled imports held by a safeguard."""
    source = RemoteSource.objects.filter(organization=organization, enabled=True).first()
    held = ImportRun.objects.filter(organization=organization, status=ImportRun.Status.HELD)
    return {
        "tab": "import",
        "max_upload": settings.IMPORT_MAX_UPLOAD_BYTES,
        "failing_source": source if source and source.consecutive_failures else None,
        "held_runs": list(held.order_by("-created_at")[:5]),
    }


@require_POST
@org_admin_required
def create_preview(request):
    files = request.FILES  # Parsing the upload first tells whether it was refused as too large.
    form = PreviewForm(request.POST, files, refused_upload=uploads.refusal(request))
    if not form.is_valid():
        return render(
            request,
            "importer/import.html",
            {"form": form, **_import_context(request.organization)},
            status=400,
        )
    data, name, source = form.input()
    try:
        run = runs.create_run(
            organization=request.organization,
            data=data,
            name=name,
            source=source,
            acting_user=request.user,
        )
    except runs.InputNotStored as refusal:
        form.add_error(None, refusal.message)
        return render(
            request,
            "importer/import.html",
            {"form": form, **_import_context(request.organization)},
            status=503,
        )
    except runs.LimitReached as limit:
        form.add_error(None, str(limit))
        return render(
            request,
            "importer/import.html",
            {"form": form, **_import_context(request.organization)},
            status=429,
        )
    if not enqueue(preview_run_task, run.pk):
        messages.warning(request, BROKER_DOWN)
    return redirect("importer:run-detail", pk=run.pk)


@require_GET
@org_admin_required
def run_detail(request, pk: int):
    run = get_run(request, pk)
    return render(request, "importer/run.html", {**_run_context(request, run), "tab": "import"})


@require_GET
@org_admin_required
def run_panel(request, pk: int):
    """Return the run's panel alone: htmx polls it while the run is under way."""
    run = get_run(request, pk)
    return render(request, "importer/partials/run_panel.html", _run_context(request, run))


def _run_context(request, run: ImportRun) -> dict:
    context = {"run": run, "field_labels": field_labels(selectors.run_attributes(run))}
    if run.is_running:
        context["progress"] = progress.read(run.pk)
        # "Send again" only once a worker is overdue: right after a submit it would only
        # tempt a second click while the worker is still picking the run up.
        context["offer_send_again"] = (
            run.status == ImportRun.Status.QUEUED
            and timezone.now() - run.updated_at > dt.timedelta(seconds=SEND_AGAIN_AFTER_SECONDS)
        )
        return context
    action = request.GET.get("action", "")
    # Skipped changes (kept from happening by an option or a protection) have a filter of their own.
    # Every count comes from the run (written with its changes): the page counts no change.
    changes = run.changes.all()
    skipped_count = run.skipped_count
    counts = {
        "": run.change_count,
        "create": run.new_count,
        "update": run.changed_count,
        "deactivate": run.deactivated_count,
        "reactivate": run.reactivated_count,
        "skipped": skipped_count,
    }
    # The preview's "Limit passed" filter: the changes that pushed one limit over.
    limit = request.GET.get("limit", "")
    limits_passed = run.limits_passed or {}
    context["limit"] = limit if limit in limits_passed else ""
    context["limit_filters"] = [
        (kind, LIMIT_LABELS.get(kind, kind), count) for kind, count in limits_passed.items()
    ]
    if context["limit"]:
        action = ""
        counts[""] = limits_passed[limit]
        changes = changes.filter(limits_passed__contains=f",{limit},")
    if action == "skipped":
        changes = changes.exclude(skipped_reason="")
    elif action in ImportChange.Action.values:
        changes = changes.filter(action=action, skipped_reason="")
    else:
        action = ""
        changes = changes.filter(skipped_reason="")
    context["skipped_count"] = skipped_count
    context["action"] = action
    context["actions"] = [
        ("", "All", run.change_count),
        ("create", "New", run.new_count),
        ("update", "Changed", run.changed_count),
        ("deactivate", "Deactivated", run.deactivated_count),
        ("reactivate", "Reactivated", run.reactivated_count),
        *([("skipped", "Skipped", skipped_count)] if skipped_count else []),
    ]
    # History: search the changes by name or email, and the run's options, input and undo.
    context["q"] = request.GET.get("q", "").strip()
    changes = selectors.search_changes(changes, context["q"], organization_id=run.organization_id)
    context.update(revert_state(run), by_support=bool(run.created_by and run.created_by.is_staff))
    context["run_activity"] = activity.run_activity(run)
    if not context["q"]:
        paginator = Paginator(changes, CHANGES_PER_PAGE)
        paginator.count = counts[action]  # Known: the paginator need not count the changes.
        context["changes_page"] = paginator.get_page(request.GET.get("page"))
    else:
        # The matches' ids, up to a cap (past it the search would read the whole run, a
        # million changes; the pages go through the first SEARCH_MATCHES_COUNTED): one query
        # both counts them and gives the page's, so the users whose name matches are looked
        # for once rather than for the count and again for the page (0.3 s each time in an
        # organization of a million users on PostgreSQL).
        matches = list(changes.values_list("pk", flat=True)[: SEARCH_MATCHES_COUNTED + 1])
        context["matches_capped"] = len(matches) > SEARCH_MATCHES_COUNTED
        page = Paginator(matches[:SEARCH_MATCHES_COUNTED], CHANGES_PER_PAGE).get_page(
            request.GET.get("page")
        )
        page.object_list = list(
            run.changes.filter(pk__in=page.object_list).select_related("user").order_by("pk")
        )
        context["changes_page"] = page
    context["errors_page"] = Paginator(run.errors, ISSUES_PER_PAGE).get_page(
        request.GET.get("errors_page")
    )
    context["warnings"] = run.warnings
    context.update(_fix_state(run))
    context["column_form"] = column_form_for(run)
    return context


def _fix_state(run: ImportRun) -> dict:
    """Return whether the run's errors can be fixed in the browser, or the run that did."""
    if run.status != ImportRun.Status.INVALID:
        return {"can_fix": False, "corrected_by": None}
    try:
        corrections.check_correctable(run)
    except runs.CorrectionRefused:
        return {"can_fix": False, "corrected_by": run.corrected_by_runs.order_by("pk").first()}
    return {"can_fix": True, "corrected_by": None}


@require_POST
@org_admin_required
def run_apply(request, pk: int):
    run = get_run(request, pk)
    confirm_safeguard = request.POST.get("confirm_safeguard") == "1"
    # "Apply what is within the limits, hold the rest", the button beside "Import".
    hold_rest = request.POST.get("hold_rest") == "1"
    return start_apply(
        request,
        run,
        lambda: runs.request_apply(
            run, acting_user=request.user, confirm_safeguard=confirm_safeguard, hold_rest=hold_rest
        ),
    )


@require_POST
@org_admin_required
def run_retry(request, pk: int):
    """Send a run whose task could not be enqueued to the workers again."""
    run = get_run(request, pk)
    if run.status == ImportRun.Status.APPLYING:
        sent = enqueue(apply_run_task, run.pk)
    elif run.status in (ImportRun.Status.QUEUED, ImportRun.Status.PREVIEWING):
        sent = enqueue(preview_task_for(run), run.pk)
    else:
        sent = True
    if not sent:
        messages.warning(request, BROKER_DOWN)
    return redirect("importer:run-detail", pk=run.pk)


@require_POST
@org_admin_required
def run_preview_again(request, pk: int):
    """Preview an outdated run's stored input again, as a new run, against the users of now."""
    run = get_run(request, pk)
    try:
        again = runs.preview_again(run, acting_user=request.user)
    except runs.NothingToPreviewAgain:
        messages.error(request, "The file of this import is no longer stored: upload it again.")
        return redirect("importer:import")
    except runs.InputNotStored as refusal:
        messages.error(request, refusal.message)
        return redirect("importer:run-detail", pk=run.pk)
    except runs.LimitReached as limit:
        messages.error(request, str(limit))
        return redirect("importer:run-detail", pk=run.pk)
    if not enqueue(preview_run_task, again.pk):
        messages.warning(request, BROKER_DOWN)
    return redirect("importer:run-detail", pk=again.pk)


@require_GET
@org_admin_required
@cache_control(no_store=True, private=True)  # Personal data: kept by no browser or proxy cache.
def run_input(request, pk: int):
    """Download the run's stored input, to its organization's admins only."""
    run = get_run(request, pk)
    if not run.input_file:
        raise Http404("The input of this run is no longer stored.")
    try:
        handle = run.input_file.open("rb")
    except FileNotFoundError:
        raise Http404("The input of this run is no longer stored.") from None
    name = run.input_name if run.source == ImportRun.Source.UPLOAD else f"run-{run.pk}.csv"
    name = name or f"run-{run.pk}"
    record_download(request, what="run_input", filename=name, run=run)
    return FileResponse(handle, as_attachment=True, filename=name)


@require_http_methods(["GET", "POST"])
@org_admin_required
def run_fix(request, pk: int):
    """Show a page of a run's rows with errors to correct in place; on POST, preview the
    corrected file as a new run (the original keeps its own file)."""
    run = get_run(request, pk)
    page = Paginator(corrections.error_row_numbers(run), ROWS_TO_FIX_PER_PAGE).get_page(
        request.GET.get("page")
    )
    try:
        corrections.check_correctable(run)
        table = corrections.read_input(run)
    except runs.CorrectionRefused as refusal:
        messages.error(request, str(refusal))
        return redirect("importer:run-detail", pk=run.pk)
    rows = corrections.rows_to_fix(run, table, page.object_list)
    if request.method == "POST":
        cells, dropped = _corrections_posted(request.POST, rows)
        try:
            corrected = runs.create_corrected_run(
                run, acting_user=request.user, cells=cells, dropped=dropped
            )
        except (runs.CorrectionRefused, runs.LimitReached) as refusal:
            messages.error(request, str(refusal))
        except runs.InputNotStored as refusal:
            messages.error(request, refusal.message)
        else:
            if not enqueue(preview_run_task, corrected.pk):
                messages.warning(request, BROKER_DOWN)
            return redirect("importer:run-detail", pk=corrected.pk)
    return render(
        request,
        "importer/fix.html",
        {
            "run": run,
            "rows": rows,
            "rows_page": page,
            "unlisted": any(issue.get("code") == "more_issues" for issue in run.errors),
            "tab": "import",
        },
    )


def _corrections_posted(data, rows: list[corrections.RowToFix]):
    """Return the cells edited and the rows dropped in the form of `rows` (only those shown)."""
    cells = []
    dropped = []
    for row in rows:
        if data.get(f"drop-{row.number}") == "1":
            dropped.append(row.number)
            continue
        for index, _header, value in row.cells:
            posted = data.get(f"cell-{row.number}-{index}")
            # A text field drops line breaks from its value: a quoted line break left alone
            # comes back without it, and is no correction.
            if posted is not None and posted != re.sub(r"[\r\n]", "", value):
                cells.append(CellCorrection(row=row.number, column=index, value=posted))
    return cells, dropped
