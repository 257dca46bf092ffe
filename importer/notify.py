"""Emails to an organization's admins about its imports."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse
from django.utils import timezone

from importer.models import ImportRun
from users.models import User

logger = logging.getLogger(__name__)


def absolute_url(path: str) -> str:
    """Return `path` as a link that works from an email (ROSTERSYNC_BASE_URL in front)."""
    return settings.ROSTERSYNC_BASE_URL.rstrip("/") + path


def admin_emails(organization_id: int) -> list[str]:
    """Return the addresses of the organization's active admins."""
    return list(
        User.objects.filter(
            organization_id=organization_id, is_org_admin=True, is_active=True
        ).values_list("email", flat=True)
    )


def send_held_run_email(run: ImportRun) -> int:
    """Tell the organization's admins that a scheduled import is held; return how many got it.

    A mail server that refuses is logged, not raised: the held run waits on its page and in
    History either way.
    """
    recipients = admin_emails(run.organization_id)
    if not recipients:
        logger.warning("Run %s is held but its organization has no active admin to tell", run.pk)
        return 0
    link = absolute_url(reverse("importer:run-detail", args=[run.pk]))
    subject = f"Import #{run.pk} for {run.organization.name} is waiting for your approval"
    if run.held_part_of_id:
        why = (
            f"Import #{run.held_part_of_id} of users into {run.organization.name} passed a "
            f"limit: its changes within the limits were applied, and the {run.change_count} "
            f"that passed a limit are held in import #{run.pk}; they have not been made."
            f"\n\n{run.safeguard_message}"
        )
    elif run.safeguard_message:
        why = (
            f"A scheduled import of users into {run.organization.name} was held by a "
            f"safeguard, and nothing has been changed.\n\n{run.safeguard_message}"
        )
    else:
        pairs = len(run.same_person_pairs)
        why = (
            f"A scheduled import of users into {run.organization.name} is held for a "
            "decision, and nothing has been changed.\n\n"
            + (
                "A person missing from the file may be the same person as a new row with "
                "another email"
                if pairs == 1
                else f"{pairs} people missing from the file may each be the same person as a "
                "new row with another email"
            )
            + ": match them on the import's page to change their email instead of replacing "
            "their account."
        )
    body = (
        f"{why}\n\n"
        f"It would create {run.new_count}, change {run.changed_count}, deactivate "
        f"{run.deactivated_count} and reactivate {run.reactivated_count} users.\n\n"
        f"Review the changes, then approve or discard the import:\n{link}\n\n"
        f"If the file on your HR server is incomplete, fix it there and discard this import; "
        f"the next scheduled fetch picks up the corrected file.\n"
    )
    return _send(
        subject, body, recipients, failure=("Could not email the admins about held run %s", run.pk)
    )


# --- Remote import (importer.remote.services) ---------------------------------------------


def send_remote_failures_email(source) -> int:
    """Tell the admins that the scheduled fetch keeps failing; return how many were emailed.

    `source` is the organization's RemoteSource; its last_error (which never holds the secret)
    says what went wrong. A mail server that refuses is logged, not raised.
    """
    recipients = admin_emails(source.organization_id)
    if not recipients:
        logger.warning("Remote source %s keeps failing and has no active admin to tell", source.pk)
        return 0
    organization = source.organization
    settings_link = absolute_url(reverse("importer:remote"))
    history_link = absolute_url(reverse("importer:history"))
    subject = f"Automatic user import for {organization.name} is failing"
    body = (
        f"The last {source.consecutive_failures} scheduled fetches of the user file for "
        f"{organization.name} failed, so users have not been updated from your HR server "
        f"since {_when(source.last_success_at)}. Nothing was changed by the failed attempts.\n\n"
        f"The last error:\n{source.last_error}\n\n"
        f"Check the server URL and credentials, and use Test connection:\n{settings_link}\n\n"
        f"Every attempt is in History:\n{history_link}\n\n"
        f"Rostersync keeps trying, less often, until a fetch works.\n"
    )
    return _send(
        subject,
        body,
        recipients,
        failure=("Could not email the admins about remote source %s", source.pk),
    )


def _send(subject: str, body: str, recipients: list[str], *, failure: tuple) -> int:
    """Send one email; return how many got it. A mail server that refuses is logged, not raised.

    `failure` is the log message (and its arguments) that says what the email was about.
    """
    try:
        return send_mail(subject, body, None, recipients)
    except Exception:
        logger.exception(*failure)
        return 0


def _when(moment) -> str:
    if moment is None:
        return "automatic import was set up"
    return f"{timezone.localtime(moment):%d %b %Y, %H:%M}"


# --- Webhooks (importer.webhooks) ---------------------------------------------------------------


def send_webhook_paused_email(endpoint) -> int:
    """Tell the admins that a webhook endpoint was paused after failing; return how many got it."""
    recipients = admin_emails(endpoint.organization_id)
    if not recipients:
        logger.warning("Webhook %s was paused and has no active admin to tell", endpoint.pk)
        return 0
    organization = endpoint.organization
    last = endpoint.deliveries.order_by("-id").values_list("last_error", flat=True).first()
    link = absolute_url(reverse("importer:webhooks"))
    subject = f"Notifications to “{endpoint.name}” for {organization.name} are paused"
    body = (
        f"Rostersync could not deliver {endpoint.consecutive_failures} notifications in a row "
        f"to the endpoint “{endpoint.name}” of {organization.name}, so it stopped sending to "
        f"it. Imports go on as before; only the notifications wait.\n\n"
        f"The last error:\n{last or ''}\n\n"
        f"Once the endpoint answers again, resume it on the Configuration tab; the waiting "
        f"notifications are sent then:\n{link}\n"
    )
    return _send(
        subject,
        body,
        recipients,
        failure=("Could not email the admins about webhook %s", endpoint.pk),
    )
