"""Encrypt and decrypt the password, token or header value of a remote source.

Fernet (AES-128-CBC with an HMAC-SHA256, from `cryptography`) keyed by ROSTERSYNC_FERNET_KEYS:
the first key encrypts, every key decrypts, so keys rotate by putting a new one first. The keys
are not DJANGO_SECRET_KEY, so rotating that one (sessions, CSRF) leaves stored secrets readable.

Without keys (allowed only with DJANGO_DEBUG=true; settings refuse to start otherwise) a key is
derived from SECRET_KEY for local use.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class SecretUnreadable(Exception):
    """The stored secret was encrypted with a key that is no longer configured."""


def encrypt_secret(plaintext: str) -> str:
    """Return `plaintext` encrypted for storage; an empty secret stays empty."""
    if not plaintext:
        return ""
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt_secret(token: str) -> str:
    """Return the plaintext of a stored secret ("" for none).

    Raise SecretUnreadable when no configured key opens it.
    """
    if not token:
        return ""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "The stored password or token cannot be decrypted (the encryption keys changed). "
            "Enter it again in the remote import settings."
        ) from None


def _fernet() -> MultiFernet:
    keys = list(settings.REMOTE_FERNET_KEYS) or [_local_key()]
    return MultiFernet([Fernet(key) for key in keys])


def _local_key() -> bytes:
    # Only reachable with DEBUG on: settings refuse to start in production without keys.
    digest = hashlib.sha256(b"rostersync remote secrets:" + settings.SECRET_KEY.encode()).digest()
    return base64.urlsafe_b64encode(digest)
