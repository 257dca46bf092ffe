"""Who may reach the import screens, and of which organization.

A company admin always works in their own organization. Support staff (is_staff) work in the
organization they chose on its page in Django admin ("Open Import Users"): the choice is kept in
their session, and nothing else ever lets anyone reach another company's screens.
"""

from functools import wraps

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect

from users.models import Organization

# Session key holding the id of the organization a support user acts for.
ACT_AS_SESSION_KEY = "support_organization_id"


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


def support_organization(request) -> Organization | None:
    """Return the organization a support user chose to act for, or None.

    Always None for anyone who is not active support staff, whatever their session holds.
    """
    user = request.user
    if not (user.is_authenticated and user.is_active and user.is_staff):
        return None
    organization_id = request.session.get(ACT_AS_SESSION_KEY)
    if organization_id is None:
        return None
    return Organization.objects.filter(pk=organization_id).first()


def start_acting_for(request, organization: Organization) -> None:
    """Remember that the support user of `request` acts for `organization` from now on."""
    if not request.user.is_staff:
        raise PermissionDenied("Only support staff can act for an organization.")
    request.session[ACT_AS_SESSION_KEY] = organization.pk


def stop_acting(request) -> None:
    """Forget the organization a support user acted for."""
    request.session.pop(ACT_AS_SESSION_KEY, None)
