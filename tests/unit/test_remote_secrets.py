"""The remote source's secret is encrypted with Fernet keys that are not SECRET_KEY."""

import pytest
from cryptography.fernet import Fernet

from importer.remote.secrets import SecretUnreadable, decrypt_secret, encrypt_secret

OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()


def test_it_stores_ciphertext_that_decrypts_to_the_secret(settings):
    settings.REMOTE_FERNET_KEYS = [NEW_KEY]

    stored = encrypt_secret("s3cret-p@ss")

    assert "s3cret-p@ss" not in stored
    assert decrypt_secret(stored) == "s3cret-p@ss"


def test_it_keeps_an_empty_secret_empty(settings):
    settings.REMOTE_FERNET_KEYS = [NEW_KEY]

    assert encrypt_secret("") == ""
    assert decrypt_secret("") == ""


def test_a_secret_stored_under_an_old_key_still_opens_after_a_new_key_is_put_first(settings):
    settings.REMOTE_FERNET_KEYS = [OLD_KEY]
    stored = encrypt_secret("token-1")

    settings.REMOTE_FERNET_KEYS = [NEW_KEY, OLD_KEY]

    assert decrypt_secret(stored) == "token-1"
    settings.REMOTE_FERNET_KEYS = [NEW_KEY]
    assert decrypt_secret(encrypt_secret("token-2")) == "token-2"  # New secrets use the new key.


def test_a_secret_no_configured_key_opens_is_reported_in_words_without_its_value(settings):
    settings.REMOTE_FERNET_KEYS = [OLD_KEY]
    stored = encrypt_secret("token-1")
    settings.REMOTE_FERNET_KEYS = [NEW_KEY]

    with pytest.raises(SecretUnreadable) as raised:
        decrypt_secret(stored)

    assert "Enter it again" in str(raised.value)
    assert "token-1" not in str(raised.value)


def test_without_keys_in_debug_a_local_key_derived_from_secret_key_is_used(settings):
    settings.REMOTE_FERNET_KEYS = []
    stored = encrypt_secret("local")

    assert decrypt_secret(stored) == "local"
    settings.SECRET_KEY = "another-secret-key"
    with pytest.raises(SecretUnreadable):
        decrypt_secret(stored)
