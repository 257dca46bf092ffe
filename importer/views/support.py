"""Support staff opening a company's Import Users screens from Django admin.

Only active staff with the permission users.act_as_organization (superusers have it) may:
staff without it get a 403, anyone else a 404. Acting for a company, and leaving it, are audit
events of that company (users.access keeps the session; the events are importer's, since users
never imports importer; importer.acting records the ends that no view sees: expiry, logout).
"""

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from importer.runs import events
from users import access
from users.models import Organization


def _require_support(request) -> None:
    # A 404, not a 403: to anyone but support staff these screens do not exist.
    if not (request.user.is_active and request.user.is_staff):
        raise Http404("No such page.")
    if not access.may_act_as(request.user):
        raise PermissionDenied(
            "Working in a company's screens needs the permission “Can work in a company's "
            "Import Users screens as support”: ask a superuser for it."
        )


@require_http_methods(["GET", "POST"])
def act_as(request, organization_id: int):
    """Ask support staff to confirm, then open the organization's Import Users screens."""
    _require_support(request)
    organization = get_object_or_404(Organization, pk=organization_id)
    if request.method == "POST":
        with transaction.atomic():
            previous = access.support_organization(request)
            if previous is not None:
                reason = access.REOPENED if previous == organization else access.SWITCHED
                events.acting_as_stopped_event(
                    organization=previous, acting_user=request.user, reason=reason
                )
            access.start_acting_for(request, organization)
            events.acting_as_started_event(organization=organization, acting_user=request.user)
        return redirect("importer:import")
    return render(
        request,
        "importer/support_act_as.html",
        {"organization": organization, "minutes": settings.SUPPORT_ACT_AS_MINUTES},
    )


@require_POST
def stop_acting_as(request):
    """Leave the organization a support user acted for and go back to Django admin."""
    _require_support(request)
    organization = access.support_organization(request)
    with transaction.atomic():
        access.stop_acting(request)
        if organization is not None:
            events.acting_as_stopped_event(
                organization=organization, acting_user=request.user, reason=access.STOPPED
            )
    return redirect("admin:users_organization_changelist")
