"""Automatic import from the company's HR server: its settings, Test connection, and Fetch.

Every screen here exists only once support staff enabled automatic import for the organization
(elsewhere it is a 404). The stored secret never leaves the server: the form shows whether one
is set, never its value.
"""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from importer import runs
from importer.forms import RemoteSourceForm
from importer.models import ImportRun, RemoteSource
from importer.pipeline.attributes import header_names
from importer.remote import http as remote
from importer.remote import services as sync
from importer.remote.secrets import SecretUnreadable, decrypt_secret
from importer.tasks import enqueue, fetch_remote_task
from importer.views.shared import BROKER_DOWN
from users.access import org_admin_required

RECENT_CHECKS = 10


def _get_enabled_source(request) -> RemoteSource:
    """Return the organization's remote source if support enabled it; otherwise a 404."""
    return get_object_or_404(RemoteSource, organization=request.organization, enabled=True)


@require_GET
@org_admin_required
def remote_settings(request):
    source = _get_enabled_source(request)
    form = RemoteSourceForm(stored=source, initial=_initial(source))
    return render(request, "importer/remote.html", _context(source, form))


@require_POST
@org_admin_required
def remote_save(request):
    source = _get_enabled_source(request)
    form = RemoteSourceForm(request.POST, stored=source)
    if not form.is_valid():
        return render(request, "importer/remote.html", _context(source, form), status=400)
    data = form.cleaned_data
    changed = sync.configure_source(
        source,
        url=data["url"],
        auth=data["auth"],
        username=data["username"],
        header_name=data["header_name"],
        secret=data["secret"],
        keep_secret=data["keep_secret"],
        file_format=data["file_format"],
        cadence=data["cadence"],
        daily_hour=data["daily_hour"],
        acting_user=request.user,
        now=timezone.now(),
    )
    if changed:
        messages.success(request, _saved_message(source))
    else:
        messages.info(request, "Nothing to save: the settings were already like this.")
    return redirect("importer:remote")


def _saved_message(source: RemoteSource) -> str:
    if source.cadence == RemoteSource.Cadence.MANUAL:
        return "Saved. Use Fetch on the Import tab to preview the file from your server."
    when = timezone.localtime(source.next_fetch_at)
    return f"Saved. The next automatic import is due at {when:%H:%M on %d %b %Y}."


@require_POST
@org_admin_required
def remote_test(request):
    """Try the settings in the form (saved or not) and report what the server sends."""
    source = _get_enabled_source(request)
    form = RemoteSourceForm(request.POST, stored=source)
    report = None
    if form.is_valid():
        data = form.cleaned_data
        try:
            secret = (
                decrypt_secret(source.secret_encrypted) if data["keep_secret"] else data["secret"]
            )
        except SecretUnreadable as error:
            report = sync.ConnectionReport(ok=False, message=str(error))
        else:
            options = runs.options_for(request.organization, None)
            report = sync.check_connection(
                data["url"],
                headers=remote.auth_headers(
                    data["auth"],
                    username=data["username"],
                    header_name=data["header_name"],
                    secret=secret,
                ),
                file_format=data["file_format"],
                # The headers an import reads: the column names and the attributes' names.
                column_mapping=header_names(options.column_mapping, options.attributes),
            )
    if request.headers.get("HX-Request"):
        return render(
            request,
            "importer/partials/remote_test_result.html",
            {"report": report, "form": form},
        )
    context = {**_context(source, form), "report": report}
    return render(request, "importer/remote.html", context, status=200 if report else 400)


@require_POST
@org_admin_required
def remote_fetch(request):
    """Fetch the file in a worker into a new run, and show that run's preview as it comes."""
    source = _get_enabled_source(request)
    if not source.url:
        messages.error(request, "Set the server URL first, then fetch.")
        return redirect("importer:remote")
    pending = ImportRun.objects.filter(
        organization=request.organization,
        source=ImportRun.Source.REMOTE,
        status=ImportRun.Status.QUEUED,
        input_file="",
    ).first()
    if pending is not None:
        return redirect("importer:run-detail", pk=pending.pk)  # A second click: same fetch.
    try:
        run = runs.create_fetch_run(organization=request.organization, acting_user=request.user)
    except runs.LimitReached as limit:
        messages.error(request, str(limit))
        return redirect("importer:import")
    if not enqueue(fetch_remote_task, run.pk):
        messages.warning(request, BROKER_DOWN)
    return redirect("importer:run-detail", pk=run.pk)


def _initial(source: RemoteSource) -> dict:
    return {
        "url": remote.masked_url(source.url),  # A token in the query string is not shown.
        "auth": source.auth,
        "username": source.username,
        "header_name": source.header_name,
        "file_format": source.file_format,
        "cadence": source.cadence,
        "daily_hour": source.daily_hour,
    }


def _context(source: RemoteSource, form: RemoteSourceForm) -> dict:
    return {
        "tab": "configuration",
        "source": source,
        "form": form,
        "checks": source.checks.all()[:RECENT_CHECKS],
    }
