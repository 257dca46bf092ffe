"""Who may reach the import screens, and of which organization."""

from functools import wraps

from django.core.exceptions import PermissionDenied


def org_admin_required(view):
    """Let only active admins of an organization through; set request.organization.

    Everything a view reads or writes is then filtered by request.organization, so another
    organization's objects are simply not found (404).
    """

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        user = request.user
        if not (user.is_active and user.is_org_admin and user.organization_id):
            raise PermissionDenied("Only an organization admin can import users.")
        request.organization = user.organization
        return view(request, *args, **kwargs)

    return wrapper
