"""The README's commands as a new user types them: a fresh shell, nothing exported.

`make setup` writes var/local.env (config/local_env.py); manage.py then works from any shell in
the checkout. A deployment that says DJANGO_DEBUG=false never reads the file, so without its own
DJANGO_SECRET_KEY it still refuses to start.
"""

import json
import subprocess
import sys

import pytest
from django.conf import settings
from django.db import connection

from config import local_env
from config.settings import base_url_of_bind
from importer.models import ImportRun
from tests.conftest import _database_url_for_worker


def fresh_shell(tmp_path, **extra) -> dict[str, str]:
    """A shell's environment with none of Rostersync's variables, but the test database."""
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        # Not secrets: they point the command at this test's database instead of var/'s.
        "DATABASE_URL": _database_url_for_worker(),
        "ROSTERSYNC_VAR_DIR": str(tmp_path / "var"),
        **extra,
    }


def manage(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def checkout_set_up():
    """What `make setup` does first: the checkout's development defaults (a file the test
    writes is removed after it: the checkout is left as it was)."""
    written = local_env.write()
    assert local_env.LOCAL_ENV_FILE.exists()
    yield
    if written:
        local_env.LOCAL_ENV_FILE.unlink()


def test_the_readme_import_command_works_in_a_fresh_shell(
    transactional_db, acme, tmp_path, checkout_set_up
):
    people = tmp_path / "people.csv"
    people.write_text("Work Email,First Name\nana@acme.example,Ana\n", encoding="utf-8")
    connection.close()

    preview = manage(fresh_shell(tmp_path), "import_users", "--org", "acme", str(people), "--json")

    assert preview.returncode == 0, preview.stderr
    assert "DJANGO_SECRET_KEY" not in preview.stderr
    assert json.loads(preview.stdout)["status"] == "ready"

    applied = manage(
        fresh_shell(tmp_path), "import_users", "--org", "acme", str(people), "--apply", "--json"
    )

    assert applied.returncode == 0, applied.stderr
    assert json.loads(applied.stdout)["status"] == "applied"
    assert ImportRun.objects.filter(organization=acme, status="applied").count() == 1


def test_create_organization_works_in_a_fresh_shell(transactional_db, tmp_path, checkout_set_up):
    connection.close()
    made = manage(
        fresh_shell(tmp_path),
        "create_organization",
        "Globex",
        "--slug",
        "globex",
        "--admin-email",
        "it@globex.example",
    )

    assert made.returncode == 0, made.stderr


def test_production_without_a_secret_key_still_refuses_to_start(tmp_path, checkout_set_up):
    # The checkout's file exists, but a production deployment says DJANGO_DEBUG=false.
    refused = manage(fresh_shell(tmp_path, DJANGO_DEBUG="false"), "check")

    assert refused.returncode != 0
    assert "Set DJANGO_SECRET_KEY" in refused.stderr


def test_the_file_fills_in_only_what_the_environment_leaves_unset(tmp_path):
    path = tmp_path / "local.env"
    assert local_env.write(path)
    first = path.read_text()
    assert not local_env.write(path)  # Written once: the key stays the same.
    assert path.read_text() == first
    assert "DJANGO_DEBUG=true" in first
    assert path.stat().st_mode & 0o077 == 0


@pytest.mark.parametrize(
    ("bind", "url"),
    [
        ("127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("127.0.0.1:8123", "http://127.0.0.1:8123"),
        ("0.0.0.0:9000", "http://127.0.0.1:9000"),
        ("localhost", "http://localhost:8000"),
        ("[::1]:8080", "http://[::1]:8080"),
    ],
)
def test_the_base_url_is_the_address_the_web_process_binds_to(bind, url):
    assert base_url_of_bind(bind) == url


def test_notification_links_and_the_demo_message_follow_web_bind(tmp_path, checkout_set_up):
    shown = manage(
        fresh_shell(tmp_path, WEB_BIND="127.0.0.1:8123"),
        "shell",
        "--verbosity=0",
        "-c",
        "from django.conf import settings; from importer import notify;"
        "print(settings.ROSTERSYNC_BASE_URL); print(notify.absolute_url('/import/'))",
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.split() == ["http://127.0.0.1:8123", "http://127.0.0.1:8123/import/"]

    chosen = manage(
        fresh_shell(
            tmp_path, WEB_BIND="0.0.0.0:8123", ROSTERSYNC_BASE_URL="https://rs.example.com/"
        ),
        "shell",
        "--verbosity=0",
        "-c",
        "from django.conf import settings; print(settings.ROSTERSYNC_BASE_URL)",
    )
    assert chosen.stdout.split() == ["https://rs.example.com"]


def test_make_runs_demo_message_names_the_address_web_bind_serves(
    transactional_db, tmp_path, checkout_set_up
):
    connection.close()
    demo = manage(fresh_shell(tmp_path, WEB_BIND="127.0.0.1:8123"), "setup_demo")

    assert demo.returncode == 0, demo.stderr
    assert "Demo ready at http://127.0.0.1:8123\n" in demo.stdout
    assert "8000" not in demo.stdout
