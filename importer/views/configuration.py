"""The Configuration tab: import options, column names, custom attributes, and the people kept
out of sync."""

from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from importer import configuration
from importer.forms import (
    ColumnNameFormSet,
    CustomAttributeForm,
    ImportConfigForm,
    SyncProtectionForm,
)
from importer.models import ImportConfig, ImportConfigChange
from importer.pipeline.types import MAX_ATTRIBUTES, field_labels
from importer.runs.selectors import attribute_specs
from users.access import org_admin_required
from users.models import CustomAttribute, User

PEOPLE_PER_PAGE = 50
RECENT_CHANGES = 20
COLUMNS_PREFIX = "columns"


@require_GET
@org_admin_required
def configuration_page(request):
    config = configuration.config_for(request.organization)
    values = configuration.option_values(config)
    specs = attribute_specs(request.organization.pk)
    form = ImportConfigForm(initial=values, attributes=specs)
    columns = ColumnNameFormSet(
        prefix=COLUMNS_PREFIX,
        initial=[
            {"header": header, "field": field} for header, field in values["column_mapping"].items()
        ],
        form_kwargs={"attributes": specs},
    )
    return render(request, "importer/configuration.html", _options_context(request, form, columns))


@require_POST
@org_admin_required
def save_configuration(request):
    specs = attribute_specs(request.organization.pk)
    form = ImportConfigForm(request.POST, attributes=specs)
    columns = ColumnNameFormSet(
        request.POST, prefix=COLUMNS_PREFIX, form_kwargs={"attributes": specs}
    )
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
    return {
        "section": "options",
        "form": form,
        "columns": columns,
        **_log_context(request.organization),
        **_tab_context(request.organization),
    }


def _log_context(organization, *, kind: str = "") -> dict:
    """Return the Configuration change log's recent entries (of `kind`, or all)."""
    entries = ImportConfigChange.objects.filter(organization=organization)
    if kind:
        entries = entries.filter(kind=kind)
    labels = field_labels(attribute_specs(organization.pk))
    return {
        "log": [
            (entry, configuration.describe_changes(entry.changes, kind=entry.kind, labels=labels))
            for entry in entries.select_related("changed_by")[:RECENT_CHANGES]
        ]
    }


def _tab_context(organization) -> dict:
    """Return what every Configuration page needs: the tab and the sub-navigation's counts."""
    return {
        "tab": "configuration",
        "protected_count": _protected_users(organization).count(),
        "attribute_count": CustomAttribute.objects.filter(organization=organization).count(),
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
            **_tab_context(request.organization),
            "section": "people",
            "people_page": page,
            "rows": rows,
            "query": query,
            "only_protected": only_protected,
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


# --- custom attributes --------------------------------------------------------------------------


def _attribute_form(request, data=None, *, instance: CustomAttribute | None = None):
    others = CustomAttribute.objects.filter(organization=request.organization)
    if instance is not None:
        others = others.exclude(pk=instance.pk)
    config = ImportConfig.objects.filter(organization=request.organization).first()
    initial = None
    if instance is not None:
        initial = {
            "name": instance.name,
            "type": instance.type,
            "choices": "\n".join(instance.choices or ()),
            "column_names": "\n".join(instance.column_names or ()),
        }
    return CustomAttributeForm(
        data,
        initial=initial,
        others=list(others),
        column_mapping=config.column_mapping if config else {},
        instance=instance,
    )


def _attributes_context(request, form, *, status: int = 200):
    organization = request.organization
    listed = list(CustomAttribute.objects.filter(organization=organization))
    context = {
        **_tab_context(organization),
        **_log_context(organization, kind=ImportConfigChange.Kind.ATTRIBUTES),
        "section": "attributes",
        "attributes": listed,
        "form": form,
        "max_attributes": MAX_ATTRIBUTES,
        "at_limit": len(listed) >= MAX_ATTRIBUTES,
    }
    return render(request, "importer/configuration.html", context, status=status)


def _get_attribute(request, pk: int) -> CustomAttribute:
    """Return one of the admin's organization's attributes; another organization's is a 404."""
    return get_object_or_404(CustomAttribute, pk=pk, organization=request.organization)


@require_GET
@org_admin_required
def attributes(request):
    return _attributes_context(request, _attribute_form(request))


@require_POST
@org_admin_required
def attribute_create(request):
    form = _attribute_form(request, request.POST)
    if not form.is_valid():
        return _attributes_context(request, form, status=400)
    data = form.cleaned_data
    try:
        attribute = configuration.create_attribute(
            request.organization,
            name=data["name"],
            type=data["type"],
            choices=data["choices"],
            column_names=data["column_names"],
            acting_user=request.user,
        )
    except configuration.AttributeRefused as refusal:
        form.add_error(None, str(refusal))
        return _attributes_context(request, form, status=400)
    messages.success(
        request,
        f"“{attribute.name}” is added. The next preview reads it from a column named "
        f"“{attribute.name}”{' or one of its other names' if attribute.column_names else ''}.",
    )
    return redirect("importer:attributes")


@require_http_methods(["GET", "POST"])
@org_admin_required
def attribute_edit(request, pk: int):
    attribute = _get_attribute(request, pk)
    form = _attribute_form(request, request.POST or None, instance=attribute)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        changed = configuration.update_attribute(
            attribute,
            name=data["name"],
            choices=data["choices"],
            column_names=data["column_names"],
            acting_user=request.user,
        )
        if changed:
            messages.success(
                request, f"“{attribute.name}” is saved: it applies from the next preview."
            )
        else:
            messages.info(request, "Nothing to save: the attribute was already set this way.")
        return redirect("importer:attributes")
    context = {
        **_tab_context(request.organization),
        "section": "attribute_edit",
        "attribute": attribute,
        "form": form,
    }
    status = 400 if request.method == "POST" else 200
    return render(request, "importer/configuration.html", context, status=status)


@require_POST
@org_admin_required
def attribute_move(request, pk: int):
    """Move an attribute one place up or down (`direction`), then show the list again."""
    attribute = _get_attribute(request, pk)
    configuration.move_attribute(
        attribute, up=request.POST.get("direction") == "up", acting_user=request.user
    )
    return redirect(f"{reverse('importer:attributes')}#attribute-{attribute.pk}")


@require_http_methods(["GET", "POST"])
@org_admin_required
def attribute_delete(request, pk: int):
    """Ask first (how many people have a value), then delete the attribute and its values."""
    attribute = _get_attribute(request, pk)
    if request.method == "POST":
        name = attribute.name
        cleared = configuration.delete_attribute(attribute, acting_user=request.user)
        someone = "1 person" if cleared == 1 else f"{cleared:,} people"
        messages.success(
            request,
            f"“{name}” is deleted, with the values of {someone}. Past imports still show the "
            "changes they made to it.",
        )
        return redirect("importer:attributes")
    context = {
        **_tab_context(request.organization),
        "section": "attribute_delete",
        "attribute": attribute,
        "value_count": configuration.attribute_value_count(attribute),
    }
    return render(request, "importer/configuration.html", context)
