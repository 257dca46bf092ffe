"""Protections against password guessing, framing, injected scripts and a weak deployment."""

import json
import os
import re
import subprocess
import sys

from django.conf import settings
from django.test import Client
from django.urls import reverse

from importer.models import ImportRun
from tests.conftest import PASSWORD


def test_login_is_locked_after_five_wrong_passwords_even_for_the_right_one(client, alice):
    statuses = [
        client.post(reverse("login"), {"username": alice.email, "password": "guess"}).status_code
        for _ in range(5)
    ]
    assert statuses == [200, 200, 200, 200, 429]
    response = client.post(
        reverse("login"), {"username": alice.email, "password": "correct-horse-battery"}
    )
    assert response.status_code == 429
    assert "Too many failed logins" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_lockout_of_one_account_does_not_lock_another(client, alice, charlie):
    for _ in range(6):
        client.post(reverse("login"), {"username": alice.email, "password": "guess"})
    response = client.post(
        reverse("login"), {"username": charlie.email, "password": "correct-horse-battery"}
    )
    assert response.status_code == 302


def test_a_locked_account_stays_locked_whatever_the_case_or_spaces_of_its_email(client, alice):
    variants = [
        "Alice@acme.example",
        "ALICE@ACME.EXAMPLE",
        " alice@Acme.example ",
        "aLiCe@acme.example",
    ]
    for variant in variants[:-1] + [alice.email, alice.email]:
        client.post(reverse("login"), {"username": variant, "password": "guess"})
    for variant in variants:
        response = client.post(
            reverse("login"), {"username": variant, "password": "correct-horse-battery"}
        )
        assert response.status_code == 429, variant
    assert "_auth_user_id" not in client.session


def test_pages_allow_no_inline_script_and_cannot_be_framed(alice_client):
    response = alice_client.get(reverse("importer:import"))
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_the_screens_contain_no_inline_script_or_event_handler(alice_client, acme, alice):
    run = ImportRun.objects.create(
        organization=acme,
        source=ImportRun.Source.PASTE,
        created_by=alice,
        status=ImportRun.Status.READY,
    )
    for url in (
        reverse("importer:import"),
        reverse("importer:history"),
        reverse("importer:run-detail", args=[run.pk]),
    ):
        html = alice_client.get(url).content.decode()
        scripts = re.findall(r"<script\b([^>]*)>", html)
        assert scripts and all("src=" in attributes for attributes in scripts), url
        assert not re.search(r"\son[a-z]+\s*=", html), url


def test_every_form_needs_a_csrf_token(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    response = client.post(
        reverse("importer:create-preview"), {"text": "email\nana@acme.example\n"}
    )
    assert response.status_code == 403
    assert not ImportRun.objects.exists()


def test_stored_values_are_escaped_on_the_run_page(alice_client, acme, alice):
    run = ImportRun.objects.create(
        organization=acme,
        source=ImportRun.Source.PASTE,
        created_by=alice,
        status=ImportRun.Status.READY,
        new_count=1,
    )
    run.changes.create(
        email="x@acme.example",
        action="create",
        row=2,
        fields={
            "first_name": ["", "<script>alert(1)</script>"],
            "title": ["", '<img src=x onerror="alert(2)">'],
        },
    )
    html = alice_client.get(reverse("importer:run-detail", args=[run.pk])).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert '<img src=x onerror="alert(2)">' not in html


def test_the_production_settings_pass_djangos_deployment_checks():
    env = {
        "PATH": os.environ["PATH"],
        "ROSTERSYNC_VAR_DIR": str(settings.VAR_DIR),
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": "x" * 20 + "k3y-for-the-deploy-check-only-9f8e7d6c5b4a3210",
        "ROSTERSYNC_FERNET_KEYS": "ZmDfcTF7_60GrrY167zsiPd67pEvs0aGOv2oasOM1Pg=",
        "DJANGO_SECURE_SSL_REDIRECT": "true",
        "DJANGO_SECURE_COOKIES": "true",
        "DJANGO_ALLOWED_HOSTS": "rostersync.example.com",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _address_settings(*, behind_proxy: bool) -> dict:
    """Return the AXES_IPWARE_* settings as config/settings.py makes them for that deployment."""
    env = {
        "PATH": os.environ["PATH"],
        "ROSTERSYNC_VAR_DIR": str(settings.VAR_DIR),
        "DJANGO_DEBUG": "true",
        "DJANGO_BEHIND_PROXY": "true" if behind_proxy else "false",
    }
    code = (
        "import json, config.settings as s; print(json.dumps({n: getattr(s, n) for n in dir(s) "
        "if n.startswith('AXES_IPWARE_')}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout)


def _login(client, email, password, forwarded_for):
    return client.post(
        reverse("login"),
        {"username": email, "password": password},
        HTTP_X_FORWARDED_FOR=forwarded_for,
        REMOTE_ADDR="10.0.0.2",  # The proxy.
    )


def test_behind_a_proxy_a_lockout_is_for_the_account_from_the_attackers_address_only(
    settings, alice
):
    for name, value in _address_settings(behind_proxy=True).items():
        setattr(settings, name, value)
    attacker, other = Client(), Client()
    # Whatever the attacker puts in X-Forwarded-For, the proxy appends their real address.
    statuses = [
        _login(attacker, alice.email, "guess", f"198.51.100.{n}, 203.0.113.5").status_code
        for n in range(6)
    ]
    assert statuses[-1] == 429
    assert _login(attacker, alice.email, PASSWORD, "203.0.113.5").status_code == 429
    # Alice, from her own address behind the same proxy, still gets in.
    assert _login(other, alice.email, PASSWORD, "192.0.2.44").status_code == 302


def test_without_a_proxy_a_forged_forwarded_for_header_does_not_evade_the_lockout(settings, alice):
    for name, value in _address_settings(behind_proxy=False).items():
        setattr(settings, name, value)
    statuses = [
        _login(Client(), alice.email, "guess", f"198.51.100.{n}").status_code for n in range(6)
    ]
    assert statuses[4:] == [429, 429]
    assert _login(Client(), alice.email, PASSWORD, "192.0.2.44").status_code == 429
