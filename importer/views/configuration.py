"""The Configuration tab: import options, column names, and the people kept out of sync."""

from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from importer import configuration
from importer.forms import ColumnNameFormSet, ImportConfigForm, SyncProtectionForm
from importer.models import ImportConfigChange
from users.access import org_admin_required
from users.models import User

PEOPLE_PER_PAGE = 50
RECENT_CHANGES = 20
COLUMNS_PREFIX = "columns"


@require_GET
@org_admin_required
def configuration_page(request):
    config = configuration.config_for(request.organization)
    values = configuration.option_values(config)
    form = ImportConfigForm(initial=values)
    columns = ColumnNameFormSet(
        prefix=COLUMNS_PREFIX,
        initial=[
            {"header": header, "field": field} for header, field in values["column_mapping"].items()
        ],
    )
    return render(request, "importer/configuration.html", _options_context(request, form, columns))


@require_POST
@org_admin_required
def save_configuration(request):
    form = ImportConfigForm(request.POST)
    columns = ColumnNameFormSet(request.POST, prefix=COLUMNS_PREFIX)
    if not (form.is_valid() and columns.is_valid()):
        context = _options_context(request, form, columns)
        return render(request, "importer/configuration.html", context, status=400)
    values = {**form.cleaned_data, "column_mapping": columns.mapping()}
    changes = configuration.update_config(request.organization, values, acting_user=request.user)
    if changes:
        messages.success(request, "Saved. The new options apply from the next preview on.")
    else:
        messages.info(request, "Nothing to save: the options were already set this way.")
    return redirect("importer:configuration")


def _options_context(request, form, columns) -> dict:
    organization = request.organization
    log = ImportConfigChange.objects.filter(organization=organization).select_related("changed_by")[
        :RECENT_CHANGES
    ]
    return {
        "tab": "configuration",
        "section": "options",
        "form": form,
        "columns": columns,
        "log": [
            (entry, configuration.describe_changes(entry.changes, kind=entry.kind)) for entry in log
        ],
        "protected_count": _protected_users(organization).count(),
    }


def _protected_users(organization):
    return User.objects.filter(organization=organization).kept_out_of_sync(timezone.localdate())


@require_GET
@org_admin_required
def people(request):
    query = request.GET.get("q", "").strip()[:200]
    only_protected = request.GET.get("only") == "protected"
    users = User.objects.filter(organization=request.organization).order_by(
        "last_name", "first_name", "email"
    )
    if only_protected:
        users = users.filter(pk__in=_protected_users(request.organization).values("pk"))
    if query:
        users = users.search(query)
    page = Paginator(users, PEOPLE_PER_PAGE).get_page(request.GET.get("page"))
    today = timezone.localdate()
    rows = [
        (
            user,
            configuration.protection_text(user, today),
            user.is_protected_on(today),
        )
        for user in page
    ]
    return render(
        request,
        "importer/configuration.html",
        {
            "tab": "configuration",
            "section": "people",
            "people_page": page,
            "rows": rows,
            "query": query,
            "only_protected": only_protected,
            "protected_count": _protected_users(request.organization).count(),
            "today": today,
        },
    )


@require_POST
@org_admin_required
def set_protection(request, pk: int):
    """Keep one user of the admin's organization out of sync, or stop; another org's is a 404."""
    user = get_object_or_404(User, pk=pk, organization=request.organization)
    today = timezone.localdate()
    form = SyncProtectionForm(request.POST, today=today)
    if not form.is_valid():
        problems = " ".join(error for errors in form.errors.values() for error in errors)
        messages.error(request, f"{user.email} was not changed: {problems}")
    else:
        changed = configuration.set_sync_protection(
            user,
            protected=form.cleaned_data["protected"],
            until=form.cleaned_data["until"],
            acting_user=request.user,
            today=today,
        )
        if not changed:
            pass
        elif user.is_sync_protected:
            until = user.sync_protected_until
            messages.success(
                request,
                f"{user.email} is kept out of sync"
                f"{f' until {until:%d %b %Y}' if until else ''}: imports leave them alone from "
                f"the next preview on.",
            )
        else:
            messages.success(
                request,
                f"{user.email} is no longer kept out of sync: imports update them again from "
                f"the next preview on.",
            )
    return redirect(_people_url(request.POST))


def _people_url(data) -> str:
    """Return the People list as the admin left it (search, filter, page)."""
    params = {
        name: data.get(name, "")[:200] for name in ("q", "only", "page") if data.get(name, "")
    }
    url = reverse("importer:people")
    return f"{url}?{urlencode(params)}" if params else url
