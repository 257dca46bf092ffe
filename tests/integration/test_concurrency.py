"""Requests at the same moment, through the web and a real worker: nothing twice, nothing mixed."""

import threading

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from importer import runs
from importer.models import ImportChange, ImportRun
from importer.tasks import enqueue, preview_run_task
from tests.conftest import wait_for_run
from users.models import User

pytestmark = pytest.mark.worker


def at_once(*actions):
    """Run each action in its own thread, all released together; return their results."""
    barrier = threading.Barrier(len(actions))
    results = [None] * len(actions)

    def run(index, action):
        try:
            barrier.wait(timeout=10)
            results[index] = action()
        finally:
            connection.close()  # Each thread has its own connection to the test database.

    threads = [
        threading.Thread(target=run, args=(index, action)) for index, action in enumerate(actions)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def people_csv(domain: str, count: int) -> bytes:
    rows = [f"person{n}@{domain},First{n},Last{n}" for n in range(count)]
    return ("email,first_name,last_name\n" + "\n".join(rows) + "\n").encode()


def previewed(organization, admin, data: bytes) -> ImportRun:
    run = runs.create_run(
        organization=organization,
        data=data,
        name="people.csv",
        source=ImportRun.Source.UPLOAD,
        acting_user=admin,
    )
    assert enqueue(preview_run_task, run.pk)
    run = wait_for_run(run)
    assert run.status == ImportRun.Status.READY, run.issues[:3]
    return run


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_import_clicked_twice_at_the_same_moment_applies_the_changes_once(worker, acme, alice):
    run = previewed(acme, alice, people_csv("acme.example", 300) + b"alice@acme.example,Alice,\n")
    first, second = logged_in(alice), logged_in(alice)
    url = reverse("importer:run-apply", args=[run.pk])

    responses = at_once(lambda: first.post(url), lambda: second.post(url))

    assert [response.status_code for response in responses] == [302, 302]
    run = wait_for_run(run)
    assert run.status == ImportRun.Status.APPLIED, run.message
    assert User.objects.filter(organization=acme).count() == 301
    assert ImportChange.objects.filter(run=run).count() == 300
    pages = [
        client.get(reverse("importer:run-detail", args=[run.pk])).content.decode()
        for client in (first, second)
    ]
    assert sum("it cannot be applied" in page for page in pages) == 1  # The second click is told.


def test_two_companies_importing_at_the_same_moment_each_get_only_their_own_people(
    worker, acme, alice, globex, charlie
):
    acme_client, globex_client = logged_in(alice), logged_in(charlie)
    preview = reverse("importer:create-preview")
    acme_csv = people_csv("acme.example", 200) + b"alice@acme.example,Alice,\n"
    globex_csv = people_csv("globex.example", 200) + b"charlie@globex.example,Charlie,\n"

    at_once(
        lambda: acme_client.post(preview, {"text": acme_csv.decode()}),
        lambda: globex_client.post(preview, {"text": globex_csv.decode()}),
    )
    acme_run = wait_for_run(ImportRun.objects.get(organization=acme))
    globex_run = wait_for_run(ImportRun.objects.get(organization=globex))
    at_once(
        lambda: acme_client.post(reverse("importer:run-apply", args=[acme_run.pk])),
        lambda: globex_client.post(reverse("importer:run-apply", args=[globex_run.pk])),
    )
    acme_run, globex_run = wait_for_run(acme_run), wait_for_run(globex_run)

    assert (acme_run.status, globex_run.status) == (
        ImportRun.Status.APPLIED,
        ImportRun.Status.APPLIED,
    )
    acme_emails = set(User.objects.filter(organization=acme).values_list("email", flat=True))
    globex_emails = set(User.objects.filter(organization=globex).values_list("email", flat=True))
    assert len(acme_emails) == 201 and all(email.endswith("@acme.example") for email in acme_emails)
    assert len(globex_emails) == 201 and all(
        email.endswith("@globex.example") for email in globex_emails
    )
    assert not ImportChange.objects.filter(run=acme_run, email__endswith="globex.example").exists()
    assert not ImportChange.objects.filter(run=globex_run, email__endswith="acme.example").exists()
