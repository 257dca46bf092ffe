"""The environment of a test run, set before Django reads its settings (`-p tests.environment`).

The Celery worker that the integration tests start inherits it (tests/conftest.py).
"""

import os

# Hashing a password the production way takes about a second: the tests make many users.
os.environ.setdefault("ROSTERSYNC_FAST_PASSWORD_HASHER", "true")
