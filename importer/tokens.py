"""Company API tokens: make one (its secret shown once), revoke it, find the token of a request.

    >>> token, secret = create_token(organization=acme, name="HR nightly", scopes=["imports:write"],
    ...                              expires_at=None, acting_user=alice)
    >>> secret
    'rsk_Xq3…'                      # shown to the admin once; only its SHA-256 is stored
    >>> find_token(secret) == token
    True

A secret is "rsk_" and 32 random bytes (URL-safe base64): recognisable in a leaked log or a
secret scanner, and too long to guess, so a plain SHA-256 (no salt, no slow hash) is enough
and lets a request's token be found by one indexed lookup.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from django.db import transaction
from django.utils import timezone

from importer.models import ApiToken
from importer.runs import events, outbox
from users.models import Organization, User

SECRET_PREFIX = "rsk_"
# last_used_at is written at most this often per token: a busy script costs no write per call.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


def hash_secret(secret: str) -> str:
    """Return the stored form of a secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(
    *,
    organization: Organization,
    name: str,
    scopes: list[str],
    expires_at: dt.datetime | None,
    acting_user: User | None,
) -> tuple[ApiToken, str]:
    """Make a token with its audit event; return it and its secret (never stored, never again)."""
    unknown = set(scopes) - set(ApiToken.Scope.values)
    if unknown or not scopes:
        raise ValueError(f"Unknown or no scopes: {sorted(unknown)}")
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(
            organization=organization,
            name=name,
            scopes=[scope for scope in ApiToken.Scope.values if scope in scopes],
            prefix=secret[: len(SECRET_PREFIX) + 6],
            secret_sha256=hash_secret(secret),
            expires_at=expires_at,
            created_by=acting_user,
        )
        events.api_token_created_event(token=token, acting_user=acting_user)
        outbox.record_token_event(token, outbox.Event.TOKEN_CREATED)
    return token, secret


def revoke_token(token: ApiToken, *, acting_user: User | None) -> bool:
    """Revoke a token at once, with its audit event; return False if it already was."""
    with transaction.atomic():
        revoked = ApiToken.objects.filter(pk=token.pk, revoked_at=None).update(
            revoked_at=timezone.now(), revoked_by=acting_user
        )
        if revoked:
            events.api_token_revoked_event(token=token, acting_user=acting_user)
            outbox.record_token_event(token, outbox.Event.TOKEN_REVOKED)
    token.refresh_from_db()
    return bool(revoked)


def find_token(secret: str, *, now: dt.datetime | None = None) -> ApiToken | None:
    """Return the usable token whose secret this is (None if unknown, revoked or expired).

    Record its use, at most once per LAST_USED_RESOLUTION.
    """
    if not secret.startswith(SECRET_PREFIX):
        return None
    now = now or timezone.now()
    token = (
        ApiToken.objects.select_related("organization")
        .filter(secret_sha256=hash_secret(secret))
        .first()
    )
    if token is None or not token.is_usable(now):
        return None
    if token.last_used_at is None or token.last_used_at < now - LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
