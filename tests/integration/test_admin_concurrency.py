"""A save in Django admin never undoes an import: it writes what it changed, if nothing else did."""

import threading
import time
from html.parser import HTMLParser

import pytest
from django.db import connection, transaction
from django.db.models import F
from django.urls import reverse

from importer import runs
from importer.models import ImportRun
from tests.factories import UserFactory
from users.models import Organization, User


@pytest.fixture
def support_client(client):
    support = User.objects.create_superuser("sam@rostersync.example", "x" * 12)
    client.force_login(support)
    return client


class _FormReader(HTMLParser):
    """Collect what a browser would submit from a page's form: inputs, selects and textareas."""

    def __init__(self):
        super().__init__()
        self.data: dict[str, list[str]] = {}
        self._select = self._textarea = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        name = attrs.get("name")
        if tag == "input" and name and attrs.get("type") not in ("submit", "button", "file"):
            checkable = attrs.get("type") in ("checkbox", "radio")
            if checkable and "checked" not in attrs:
                return
            self.data.setdefault(name, []).append(attrs.get("value", "on" if checkable else ""))
        elif tag == "select" and name:
            self._select = name
        elif tag == "option" and self._select and "selected" in attrs:
            self.data.setdefault(self._select, []).append(attrs.get("value", ""))
        elif tag == "textarea" and name:
            self._textarea = name
            self.data[name] = [""]

    def handle_data(self, text):
        if self._textarea:
            self.data[self._textarea][0] += text

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def opened_form(client, user: User) -> dict:
    """Return what the user's Django admin page would submit, as it is when opened now."""
    page = client.get(reverse("admin:users_user_change", args=[user.pk]))
    assert page.status_code == 200
    reader = _FormReader()
    reader.feed(page.content.decode())
    return {name: values if len(values) > 1 else values[0] for name, values in reader.data.items()}


def save(client, user: User, data: dict):
    return client.post(reverse("admin:users_user_change", args=[user.pk]), data)


def import_title(organization, admin, email: str, title: str) -> None:
    run = runs.create_run(
        organization=organization,
        data=f"email,title\n{admin.email},\n{email},{title}\n".encode(),
        name="people.csv",
        source=ImportRun.Source.UPLOAD,
        acting_user=admin,
    )
    runs.import_now(run.pk)
    run.refresh_from_db()
    assert run.status == ImportRun.Status.APPLIED, (run.status, run.message, run.issues)


def test_a_form_opened_before_an_import_is_refused_and_the_import_stays(
    acme, alice, support_client
):
    ben = UserFactory(organization=acme, email="ben@acme.example", title="Analyst", location="Oslo")
    form = opened_form(support_client, ben)  # Support opens Ben's page…
    import_title(acme, alice, "ben@acme.example", "Lead analyst")  # …an import changes him…

    response = save(support_client, ben, {**form, "location": "Bergen"})  # …support saves.

    assert response.status_code == 200
    assert "changed after you opened this page" in response.content.decode()
    ben.refresh_from_db()
    assert (ben.title, ben.location) == ("Lead analyst", "Oslo")


def test_a_save_writes_only_the_fields_the_admin_changed(acme, support_client):
    ben = UserFactory(organization=acme, email="ben@acme.example", title="Analyst", location="Oslo")
    form = opened_form(support_client, ben)
    # A write that keeps the version (a script, say): the save must not write the old title back.
    User.objects.filter(pk=ben.pk).update(title="Changed meanwhile")

    response = save(support_client, ben, {**form, "location": "Bergen"})

    assert response.status_code == 302
    ben.refresh_from_db()
    assert (ben.title, ben.location, ben.version) == ("Changed meanwhile", "Bergen", 1)


@pytest.mark.django_db(transaction=True)
def test_a_save_during_an_apply_waits_for_it_then_is_refused(support_client):
    acme = Organization.objects.create(name="Acme", slug="acme")
    ben = UserFactory(organization=acme, email="ben@acme.example", title="Analyst", location="Oslo")
    form = opened_form(support_client, ben)
    locked = threading.Event()

    def apply_holding_the_lock():
        # What apply_run does, on a connection of its own: the organization's row lock, then
        # the users' update with their version one up, committed a little later.
        try:
            with transaction.atomic():
                Organization.objects.select_for_update().get(pk=acme.pk)
                User.objects.filter(pk=ben.pk).update(
                    title="Lead analyst", version=F("version") + 1
                )
                locked.set()
                time.sleep(1.5)
        finally:
            connection.close()

    applying = threading.Thread(target=apply_holding_the_lock)
    applying.start()
    assert locked.wait(10)
    started = time.monotonic()
    response = save(support_client, ben, {**form, "location": "Bergen"})
    waited = time.monotonic() - started
    applying.join()

    assert waited > 0.5  # It waited for the apply's commit instead of writing around it.
    assert "changed after you opened this page" in response.content.decode()
    ben.refresh_from_db()
    assert (ben.title, ben.location) == ("Lead analyst", "Oslo")
