"""The login name as django-axes counts it: the same normalised address login looks up.

Login ignores case and surrounding spaces (users.managers.normalise_email), so the lockout must
too: otherwise every case variant of an address would get its own tries.
"""

from django.conf import settings

from users.managers import normalise_email


def lockout_username(request, credentials: dict | None = None) -> str | None:
    """Return the normalised username of a login attempt (AXES_USERNAME_CALLABLE)."""
    field = settings.AXES_USERNAME_FORM_FIELD
    if credentials:
        raw = credentials.get(field)
    else:
        raw = getattr(request, "data", request.POST).get(field)
    if not isinstance(raw, str):
        return raw
    return normalise_email(raw)
