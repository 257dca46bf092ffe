"""Support staff acting for a company in tests: the session users.access.start_acting_for keeps."""

import datetime as dt

from django.utils import timezone

from users.access import ACT_AS_SESSION_KEY, ACT_AS_SINCE_KEY


def act_for(client, organization, *, since: dt.datetime | None = None) -> None:
    """Make `client`'s session act for `organization`, chosen at `since` (now by default)."""
    session = client.session
    session[ACT_AS_SESSION_KEY] = organization.pk
    session[ACT_AS_SINCE_KEY] = (since or timezone.now()).timestamp()
    session.save()
