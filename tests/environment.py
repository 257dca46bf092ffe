"""The environment of a test run, set before Django reads its settings (`-p tests.environment`).

The Celery worker that the integration tests start inherits it (tests/conftest.py).
"""

import os

# Hashing a password the production way takes about a second: the tests make many users.
os.environ.setdefault("ROSTERSYNC_FAST_PASSWORD_HASHER", "true")
# One secret key for the test process and every process it starts (workers, manage.py): without
# it each would take var/local.env's or the built-in one, whichever it found when it started,
# and a worker could not read what the tests encrypted (test_documented_commands writes the file).
os.environ.setdefault("DJANGO_SECRET_KEY", "tests-only-secret-key-never-used-elsewhere")
