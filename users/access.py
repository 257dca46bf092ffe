"""Who may reach the import screens, and of which organization.

A company admin always works in their own organization. Support staff (is_staff) with the
permission `users.act_as_organization` (superusers have it implicitly) work in the organization
they chose on its page in Django admin ("Open Import Users"): the choice is kept in their
session for settings.SUPPORT_ACT_AS_MINUTES at most, and nothing else ever lets anyone reach
another company's screens. The audit events of starting and stopping are the importer's
(importer.acting), since this app never imports the importer.
"""

import datetime as dt
from dataclasses import dataclass
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.utils import timezone

from users.models import Organization

# The permission that lets support staff act for a company (users.Organization's Meta).
ACT_AS_PERMISSION = "users.act_as_organization"
# Session keys: the id of the organization a support user acts for, and since when (a POSIX
# timestamp). A choice without a start time (or with one that is not a number) has expired.
ACT_AS_SESSION_KEY = "support_organization_id"
ACT_AS_SINCE_KEY = "support_organization_since"

# Why acting ended, as the stop event records it.
STOPPED = "stopped"  # The support user clicked "Stop acting".
EXPIRED = "expired"  # settings.SUPPORT_ACT_AS_MINUTES passed.
WITHDRAWN = "withdrawn"  # The user is no longer staff, or lost the permission.
SWITCHED = "switched"  # The support user opened another company's screens.
REOPENED = "reopened"  # The support user opened the same company's screens again (a new hour).
LOGGED_OUT = "logged_out"


@dataclass(frozen=True)
class Acting:
    """A support user working in an organization's screens, until `until`."""

    organization: Organization
    since: dt.datetime
    until: dt.datetime


def may_act_as(user) -> bool:
    """Return whether `user` may act for a company: active staff with the permission."""
    return bool(
        user.is_authenticated
        and user.is_active
        and user.is_staff
        and user.has_perm(ACT_AS_PERMISSION)
    )


def org_admin_required(view):
    """Let only active admins of an organization (or support staff acting for one) through.

    Set request.organization (and request.is_support, True for staff acting for a company).
    Everything a view reads or writes is then filtered by request.organization, so another
    organization's objects are simply not found (404).
    """

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        user = request.user
        request.is_support = False
        if user.is_active and user.is_staff:
            organization = support_organization(request)
            if organization is not None:
                request.organization = organization
                request.is_support = True
                return view(request, *args, **kwargs)
            if not (user.is_org_admin and user.organization_id):
                if not may_act_as(user):
                    raise PermissionDenied("Only an organization admin can import users.")
                messages.info(
                    request,
                    "Choose the company first: open its page under Organizations and click "
                    "“Open Import Users”.",
                )
                return redirect("admin:users_organization_changelist")
        if not (user.is_active and user.is_org_admin and user.organization_id):
            raise PermissionDenied("Only an organization admin can import users.")
        request.organization = user.organization
        return view(request, *args, **kwargs)

    return wrapper


def current_acting(request) -> Acting | None:
    """Return the organization a support user acts for and until when, or None.

    None for anyone who may not act for a company, and once the time is up, whatever the
    session holds (end_lapsed_acting() then clears it).
    """
    if not may_act_as(request.user):
        return None
    organization_id = request.session.get(ACT_AS_SESSION_KEY)
    since = _since(request)
    if organization_id is None or since is None:
        return None
    until = since + dt.timedelta(minutes=settings.SUPPORT_ACT_AS_MINUTES)
    if not since <= timezone.now() < until:
        return None
    # Read once per request (the middleware, the view's decorator and the page all ask).
    cached = getattr(request, "_acting", None)
    if cached is not None and cached.organization.pk == organization_id and cached.since == since:
        return cached
    organization = Organization.objects.filter(pk=organization_id).first()
    if organization is None:
        return None
    request._acting = Acting(organization, since, until)
    return request._acting


def support_organization(request) -> Organization | None:
    """Return the organization a support user acts for (see current_acting()), or None."""
    acting = current_acting(request)
    return None if acting is None else acting.organization


def start_acting_for(request, organization: Organization) -> None:
    """Remember that the support user of `request` acts for `organization` from now on."""
    if not may_act_as(request.user):
        raise PermissionDenied("Only support staff with the permission can act for a company.")
    request.session[ACT_AS_SESSION_KEY] = organization.pk
    request.session[ACT_AS_SINCE_KEY] = timezone.now().timestamp()


def stop_acting(request) -> int | None:
    """Forget the organization a support user acted for; return its id (None if there was none)."""
    request.session.pop(ACT_AS_SINCE_KEY, None)
    return request.session.pop(ACT_AS_SESSION_KEY, None)


def end_lapsed_acting(request) -> tuple[int, str] | None:
    """Forget a choice of organization whose time is up or whose user may no longer act.

    Return (the organization's id, EXPIRED or WITHDRAWN) when it did, for the stop event;
    None when there was nothing to forget. Called on every request (importer.acting).
    """
    if not request.user.is_authenticated:
        return None
    organization_id = request.session.get(ACT_AS_SESSION_KEY)
    if organization_id is None or current_acting(request) is not None:
        return None
    stop_acting(request)
    return organization_id, (EXPIRED if may_act_as(request.user) else WITHDRAWN)


def _since(request) -> dt.datetime | None:
    value = request.session.get(ACT_AS_SINCE_KEY)
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    return dt.datetime.fromtimestamp(value, tz=dt.UTC)
