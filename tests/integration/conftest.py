"""Fixtures of the integration tests: a real local HTTPS server for remote import."""

import os

import pytest

from tests.integration.https_server import HTTPSServer, test_ca_bundle

# The Celery worker process (tests/conftest.py) takes its settings from this environment when it
# starts, which is after every conftest is imported: it then trusts the test CA and may connect
# to the loopback test server, as the test process does through the `https_server` fixture.
os.environ["ROSTERSYNC_REMOTE_CA_BUNDLE"] = test_ca_bundle()
os.environ["ROSTERSYNC_REMOTE_ALLOWED_HOSTS"] = "127.0.0.1,localhost"


@pytest.fixture
def remote_settings(settings):
    """Trust the test CA and allow the loopback test server, in this process."""
    settings.REMOTE_CA_BUNDLE = os.environ["ROSTERSYNC_REMOTE_CA_BUNDLE"]
    settings.REMOTE_ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
    return settings


@pytest.fixture
def https_server(remote_settings):
    """A running HTTPS server on 127.0.0.1 whose certificate the fetch trusts."""
    server = HTTPSServer().start()
    yield server
    server.stop()
