"""Support staff acting for a company: the audit side of users.access's session switch.

users.access keeps the choice in the session and refuses it once its time is up; this module,
on every request, ends such a lapsed choice with a stop event ("expired", or "withdrawn" for a
user who lost the permission), and writes the stop event of a support user who logs out while
acting. It also sets request.acting (users.access.Acting, or None), which templates/base.html
reads for the banner shown on every page while acting.
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.dispatch import receiver

from importer.runs import events
from users import access
from users.models import Organization


class SupportActingMiddleware:
    """End a lapsed choice of company (with its event), then set request.acting."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.acting = None
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.is_staff:
            lapsed = access.end_lapsed_acting(request)
            if lapsed is not None:
                _record_stop(request, *lapsed)
            request.acting = access.current_acting(request)
        return self.get_response(request)


def _record_stop(request, organization_id: int, reason: str) -> None:
    organization = Organization.objects.filter(pk=organization_id).first()
    if organization is None:
        return  # Deleted meanwhile, with its events.
    with transaction.atomic():
        events.acting_as_stopped_event(
            organization=organization, acting_user=request.user, reason=reason
        )
    if reason == access.EXPIRED:
        messages.info(
            request,
            f"Your access to {organization.name}’s screens as support ended: it lasts "
            f"{_minutes()} at most. Open Import Users again on the company’s page to go on.",
        )


def _minutes() -> str:
    minutes = settings.SUPPORT_ACT_AS_MINUTES
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


@receiver(user_logged_out, dispatch_uid="importer.acting.logged_out")
def _logged_out_while_acting(sender, request, user, **kwargs):
    """Logging out ends acting (the session is flushed next): record it."""
    if request is None or user is None:
        return
    acting = access.current_acting(request)
    if acting is not None:
        events.acting_as_stopped_event(
            organization=acting.organization, acting_user=user, reason=access.LOGGED_OUT
        )
