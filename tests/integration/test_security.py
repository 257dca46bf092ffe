"""Protections against password guessing, framing, injected scripts and a weak deployment."""

import os
import re
import subprocess
import sys

from django.conf import settings
from django.test import Client
from django.urls import reverse

from importer.models import ImportRun


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
