"""Tenant isolation on every route, found by walking the URL configuration.

A new route is covered the moment it is added: its keywords are filled with another
organization's objects (KWARG_OBJECTS), and a keyword this test does not know fails it. Acme is
the organization of the people acting (alice its admin, bob a user); Globex is the other one,
with an object of every kind and text that must never show up in Acme's pages.
"""

from dataclasses import dataclass

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from importer import runs, tokens
from importer.models import (
    ApiToken,
    AuditEvent,
    ImportConfig,
    ImportRun,
    RemoteSource,
    WebhookDelivery,
    WebhookEndpoint,
)
from tests.acting import act_for
from tests.factories import UserFactory
from users.access import ACT_AS_SESSION_KEY
from users.models import CustomAttribute, Organization, User

# What each URL keyword names. A route whose keyword is missing here fails
# test_every_route_keyword_is_known: add the keyword and the kind of object it names.
KWARG_OBJECTS = {
    "pk": "run",
    "user_id": "user",
    "organization_id": "organization",
    "fmt": None,  # A download format, not an object.
}
# Routes whose keyword names another kind of object than KWARG_OBJECTS says.
ROUTE_KWARG_OBJECTS = {
    "importer:people-protection": {"pk": "user"},
    "importer:api-token-revoke": {"pk": "token"},
    "importer:webhook-detail": {"pk": "webhook"},
    "importer:webhook-test": {"pk": "webhook"},
    "importer:webhook-resume": {"pk": "webhook"},
    "importer:webhook-delete": {"pk": "webhook"},
    "importer:attribute-edit": {"pk": "attribute"},
    "importer:attribute-delete": {"pk": "attribute"},
    "importer:attribute-move": {"pk": "attribute"},
}
PLAIN_VALUES = {"fmt": "csv"}
# Django admin checks staff status itself; tests/integration/test_stored_xss.py opens its pages.
SKIPPED_NAMESPACES = {"admin"}
# Screens that exist for support staff only: to everyone else they are a 404.
SUPPORT_ONLY = {"importer:act-as", "importer:act-as-stop"}
AUTH_ROUTES = {"home", "login", "logout"}
# Text of Globex's objects: none of it may appear in a page shown to Acme.
GLOBEX_MARKERS = ("globex", "zebulon")


@dataclass(frozen=True)
class Route:
    name: str
    kwargs: tuple[str, ...]

    def url(self, objects: dict) -> str:
        return reverse(self.name, kwargs=fill_kwargs(self, objects))


def all_routes() -> list[Route]:
    """Return every named route of the site outside Django admin."""

    def walk(patterns, namespace):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                inner = pattern.namespace or namespace
                if inner not in SKIPPED_NAMESPACES:
                    yield from walk(pattern.url_patterns, inner)
            elif isinstance(pattern, URLPattern):
                assert pattern.name, f"Route {pattern.pattern} has no name: give it one"
                name = f"{namespace}:{pattern.name}" if namespace else pattern.name
                yield Route(name, tuple(pattern.pattern.converters))

    return list(walk(get_resolver().url_patterns, None))


ROUTES = all_routes()
IMPORTER_ROUTES = [route for route in ROUTES if route.name.startswith("importer:")]
# The REST API answers a token, never a session: its own walk is below.
API_ROUTES = [route for route in ROUTES if route.name.startswith("api:")]
SESSION_ROUTES = [route for route in ROUTES if route not in API_ROUTES]
# The API's routes open to anyone: the OpenAPI document holds no company's data, and the root
# (kept because django-ninja reverses it) is a 404 for everyone.
API_PUBLIC = {"api:openapi-json", "api:api-root"}


def fill_kwargs(route: Route, objects: dict) -> dict:
    """Return the route's keywords filled with `objects` ({"run": …, "user": …, …})."""
    kwargs = {}
    for kwarg in route.kwargs:
        if kwarg not in KWARG_OBJECTS:
            pytest.fail(
                f"{route.name} has the keyword {kwarg!r}, unknown to this test: add it to "
                f"KWARG_OBJECTS with the kind of object it names"
            )
        kind = ROUTE_KWARG_OBJECTS.get(route.name, {}).get(kwarg, KWARG_OBJECTS[kwarg])
        kwargs[kwarg] = PLAIN_VALUES[kwarg] if kind is None else objects[kind].pk
    return kwargs


def names_an_object(route: Route) -> bool:
    return any(KWARG_OBJECTS.get(kwarg) for kwarg in route.kwargs)


def send(client, method: str, url: str, **params) -> tuple[int, str]:
    """Return the status and the body (streamed or not) of a request."""
    response = client.get(url, params) if method == "GET" else client.post(url, params)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return response.status_code, body.decode(errors="replace")


def assert_nothing_of_globex(body: str, where: str) -> None:
    for marker in GLOBEX_MARKERS:
        assert marker not in body.lower(), f"{where} shows {marker!r}"


# --- the two organizations --------------------------------------------------------------------


@pytest.fixture
def globex_objects(globex, charlie):
    """An object of every kind in Globex, all named with GLOBEX_MARKERS."""
    person = UserFactory(
        organization=globex,
        email="zebulon.quixote@globex.example",
        first_name="Zebulon",
        last_name="Quixote",
        employee_id="G-1",
    )
    run = runs.create_run(
        organization=globex,
        data=b"email,first_name\nzebulon.quixote@globex.example,Zebulon\n",
        name="globex-zebulon-roster.csv",
        source=ImportRun.Source.UPLOAD,
        acting_user=charlie,
    )
    ImportRun.objects.filter(pk=run.pk).update(status=ImportRun.Status.READY, changed_count=1)
    run.changes.create(
        user=person,
        email=person.email,
        action="update",
        row=2,
        fields={"title": ["", "Zebulon's title"]},
    )
    RemoteSource.objects.create(
        organization=globex, enabled=True, url="https://hr.globex.example/zebulon.csv"
    )
    ImportConfig.objects.create(
        organization=globex, column_mapping={"Zebulon Spalte": "department"}
    )
    token, _secret = tokens.create_token(
        organization=globex,
        name="Zebulon's nightly script",
        scopes=list(ApiToken.Scope.values),
        expires_at=None,
        acting_user=charlie,
    )
    webhook = WebhookEndpoint.objects.create(
        organization=globex,
        name="Zebulon's channel",
        url="https://hooks.globex.example/zebulon",
        events=["run.held"],
    )
    WebhookDelivery.objects.create(
        endpoint=webhook, event="test", message_id="msg_zebulon", payload={"data": {}}
    )
    attribute = CustomAttribute.objects.create(
        organization=globex, key="zebulon_level", name="Zebulon level"
    )
    User.objects.filter(pk=person.pk).update(attributes={"zebulon_level": "Z9"})
    return {
        "run": run,
        "user": person,
        "organization": globex,
        "token": token,
        "webhook": webhook,
        "attribute": attribute,
    }


@pytest.fixture
def acme_objects(acme, alice, bob):
    """Acme's own objects of every kind; its run has errors, so no request can apply it."""
    run = runs.create_run(
        organization=acme,
        data=b"email\nnot-an-email\n",
        name="acme.csv",
        source=ImportRun.Source.UPLOAD,
        acting_user=alice,
    )
    ImportRun.objects.filter(pk=run.pk).update(status=ImportRun.Status.INVALID, error_count=1)
    RemoteSource.objects.create(organization=acme, enabled=True)
    token, secret = tokens.create_token(
        organization=acme,
        name="Acme script",
        scopes=list(ApiToken.Scope.values),
        expires_at=None,
        acting_user=alice,
    )
    webhook = WebhookEndpoint.objects.create(
        organization=acme, name="Acme channel", url="https://hooks.acme.example/x", events=[]
    )
    attribute = CustomAttribute.objects.create(organization=acme, key="level", name="Level")
    return {
        "run": run,
        "user": bob,
        "organization": acme,
        "token": token,
        "secret": secret,
        "webhook": webhook,
        "attribute": attribute,
    }


def globex_state(globex) -> tuple:
    """Return everything a request could change in Globex."""
    return (
        list(ImportRun.objects.filter(organization=globex).values()),
        list(User.objects.filter(organization=globex).values()),
        list(RemoteSource.objects.filter(organization=globex).values()),
        list(ImportConfig.objects.filter(organization=globex).values()),
        list(ApiToken.objects.filter(organization=globex).values()),
        list(WebhookEndpoint.objects.filter(organization=globex).values()),
        list(CustomAttribute.objects.filter(organization=globex).values()),
        list(WebhookDelivery.objects.filter(endpoint__organization=globex).values()),
        [list(run.changes.values()) for run in ImportRun.objects.filter(organization=globex)],
    )


@pytest.fixture
def support(db):
    return UserFactory(
        email="sam@rostersync.example", organization=None, is_staff=True, is_superuser=True
    )


@pytest.fixture(params=["acme admin", "support acting for acme"])
def acme_actor(request, alice, acme, support):
    """A logged-in client working in Acme: its admin, or support staff who chose Acme."""
    actor = alice if request.param == "acme admin" else support
    client = Client()

    def login():
        client.force_login(actor)
        if actor.is_staff:
            act_for(client, acme)

    login()
    client.login_again = login
    client.actor = actor
    return client


# --- the walk itself ------------------------------------------------------------------------


def test_the_walk_finds_the_import_screens_and_the_login():
    names = {route.name for route in ROUTES}

    assert {
        "login",
        "logout",
        "importer:run-detail",
        "importer:run-input",
        "importer:person-timeline",
        "importer:configuration",
        "importer:remote",
        "api:runs",
        "api:run",
        "api:openapi-json",
    } <= names
    assert not any(name.startswith("admin:") for name in names)


@pytest.mark.parametrize("route", ROUTES, ids=lambda route: route.name)
def test_every_route_keyword_is_known(route):
    for kwarg in route.kwargs:
        assert kwarg in KWARG_OBJECTS, (
            f"{route.name} has the keyword {kwarg!r}, unknown to this test: add it to "
            f"KWARG_OBJECTS with the kind of object it names"
        )
    for kwarg in ROUTE_KWARG_OBJECTS.get(route.name, {}):
        assert kwarg in route.kwargs, (
            f"ROUTE_KWARG_OBJECTS names {kwarg!r}, which {route.name} lacks"
        )


# --- another organization's objects -----------------------------------------------------------


def test_every_route_given_another_organizations_objects_is_not_found(
    acme_actor, acme_objects, globex_objects, globex
):
    before = globex_state(globex)
    for route in IMPORTER_ROUTES:
        if not names_an_object(route) or (route.name in SUPPORT_ONLY and acme_actor.actor.is_staff):
            continue
        url = route.url(globex_objects)
        statuses = {}
        for method in ("GET", "POST"):
            acme_actor.login_again()
            statuses[method], body = send(acme_actor, method, url)
            assert statuses[method] in (404, 405), (
                f"{method} {url} ({route.name}): {statuses[method]}"
            )
            assert_nothing_of_globex(body, f"{method} {url}")
        assert 404 in statuses.values(), f"{route.name} answers neither GET nor POST"
    assert globex_state(globex) == before


def test_every_route_given_the_organizations_own_objects_is_found(acme_actor, acme_objects):
    """The counterpart of the test above: its 404s come from scoping, not from ids that fit
    nothing."""
    for route in IMPORTER_ROUTES:
        if not names_an_object(route) or route.name in SUPPORT_ONLY:
            continue
        url = route.url(acme_objects)
        acme_actor.login_again()
        status, _ = send(acme_actor, "GET", url)
        if status == 405:
            status, _ = send(acme_actor, "POST", url)
        assert status not in (404, 405), f"{route.name} with Acme's own objects: {status}"


def test_no_route_shows_or_changes_anything_of_another_organization(
    acme_actor, acme_objects, globex_objects, globex
):
    before = globex_state(globex)
    for route in ROUTES:
        if route.name in SUPPORT_ONLY and acme_actor.actor.is_staff:
            continue  # Support staff may open any company on purpose.
        url = route.url(acme_objects)
        for method in ("GET", "POST"):
            acme_actor.login_again()
            # Searches look for Globex's person by a name that is not a marker: pages echo it.
            status, body = send(acme_actor, method, url, q="quixote")
            assert status < 500, f"{method} {url}: {status}"
            assert_nothing_of_globex(body, f"{method} {url}")
    assert globex_state(globex) == before
    assert (
        not ImportRun.objects.filter(organization=globex)
        .exclude(pk=globex_objects["run"].pk)
        .exists()
    )


def test_every_download_by_support_is_in_the_companys_activity(client, support, acme, acme_objects):
    """Any route answering with a file, found by the walk, records it when support acts."""
    client.force_login(support)
    act_for(client, acme)
    downloads = 0
    for route in IMPORTER_ROUTES:
        if route.name in SUPPORT_ONLY:
            continue
        before = AuditEvent.objects.filter(kind=AuditEvent.Kind.SUPPORT_DOWNLOADED).count()
        response = client.get(route.url(acme_objects))
        if "attachment" not in response.get("Content-Disposition", ""):
            continue
        downloads += 1
        events = AuditEvent.objects.filter(kind=AuditEvent.Kind.SUPPORT_DOWNLOADED)
        assert events.count() == before + 1, f"{route.name} sent a file without an event"
        event = events.order_by("-id").first()
        assert (event.organization, event.acting_user) == (acme, support)
        assert event.data["filename"] in response["Content-Disposition"], route.name
    assert downloads >= 4  # Users, a run's changes, its input, the template.


# --- users who are not admins, and visitors who are not logged in ---------------------------


def test_a_user_who_is_not_an_admin_is_refused_on_every_import_screen(client, bob, acme_objects):
    for route in IMPORTER_ROUTES:
        url = route.url(acme_objects)
        statuses = {}
        for method in ("GET", "POST"):
            client.force_login(bob)
            statuses[method], _ = send(client, method, url)
        expected = 404 if route.name in SUPPORT_ONLY else 403
        assert set(statuses.values()) <= {expected, 405}, f"{route.name}: {statuses}"
        assert expected in statuses.values(), f"{route.name}: {statuses}"


def test_staff_without_the_act_as_permission_are_refused_on_every_import_screen(
    client, acme, acme_objects
):
    """Act-as routes included: a 403, even with a session that holds a company."""
    staff = UserFactory(email="pat@rostersync.example", organization=None, is_staff=True)
    for route in IMPORTER_ROUTES:
        url = route.url(acme_objects)
        statuses = {}
        for method in ("GET", "POST"):
            client.force_login(staff)
            act_for(client, acme)
            statuses[method], _ = send(client, method, url)
        assert set(statuses.values()) <= {403, 405}, f"{route.name}: {statuses}"
        assert 403 in statuses.values(), f"{route.name}: {statuses}"
        assert ACT_AS_SESSION_KEY not in client.session


def test_anonymous_visitors_are_sent_to_log_in_on_every_route_but_the_login(
    client, acme_objects, globex_objects
):
    login_url = reverse("login")
    for route in SESSION_ROUTES:
        if route.name == "login":
            continue
        for objects in (acme_objects, globex_objects):
            url = route.url(objects)
            for method in ("GET", "POST"):
                response = client.get(url) if method == "GET" else client.post(url)
                assert response.status_code == 302, f"{method} {url}: {response.status_code}"
                assert response.url.startswith(f"{login_url}?next="), (
                    f"{method} {url}: {response.url}"
                )


def test_the_login_page_is_open_to_anonymous_visitors(client, db):
    assert client.get(reverse("login")).status_code == 200


# --- support staff acting for a company ------------------------------------------------------


@pytest.mark.parametrize("who", ["company admin", "user", "inactive support staff"])
def test_only_active_support_staff_can_act_for_a_company(client, who, alice, bob, globex):
    person = {
        "company admin": alice,
        "user": bob,
        "inactive support staff": UserFactory(organization=None, is_staff=True, is_active=False),
    }[who]
    client.force_login(person)
    url = reverse("importer:act-as", args=[globex.pk])

    assert client.get(url).status_code in (302, 404)
    response = client.post(url)

    assert response.status_code in (302, 404)
    if response.status_code == 302:  # An inactive user is logged out at once.
        assert response.url.startswith(reverse("login"))
    assert ACT_AS_SESSION_KEY not in client.session


def test_support_staff_can_act_for_any_company(client, support, globex):
    client.force_login(support)
    url = reverse("importer:act-as", args=[globex.pk])

    assert client.get(url).status_code == 200
    assert client.post(url).status_code == 302
    assert client.session[ACT_AS_SESSION_KEY] == globex.pk
    assert Organization.objects.get(pk=client.session[ACT_AS_SESSION_KEY]) == globex


def test_an_import_may_not_take_an_address_of_another_organizations_user(acme, alice, charlie):
    data = (
        "email,first_name\n"
        f"{charlie.email.upper()},Taken\n"  # Same address, other case: still Globex's.
        "new.person@acme.example,Free\n"
    ).encode()
    run = runs.create_run(
        organization=acme,
        data=data,
        name="people.csv",
        source=ImportRun.Source.UPLOAD,
        acting_user=alice,
    )

    runs.preview_run(run.pk)

    run.refresh_from_db()
    assert run.status == ImportRun.Status.INVALID
    assert [(issue["row"], issue["code"]) for issue in run.errors] == [(2, "email_unavailable")]
    assert not run.changes.exists()
    charlie.refresh_from_db()
    assert charlie.organization.slug == "globex" and charlie.first_name != "Taken"


def test_a_refused_address_does_not_say_where_it_lives_nor_reveal_staff_accounts(
    acme, alice, charlie
):
    """Another company's person, a support account and a superuser without a company are refused
    alike: one code, one message, which names neither the company nor the kind of account."""
    UserFactory(email="support@rostersync.example", organization=None, is_staff=True)
    UserFactory(
        email="root@rostersync.example", organization=None, is_staff=True, is_superuser=True
    )
    data = (
        "email,first_name\n"
        f"{charlie.email},Other company\n"
        "support@rostersync.example,Staff\n"
        "ROOT@rostersync.example,Superuser\n"
    ).encode()
    run = runs.create_run(
        organization=acme,
        data=data,
        name="people.csv",
        source=ImportRun.Source.PASTE,
        acting_user=alice,
    )

    runs.preview_run(run.pk)

    run.refresh_from_db()
    assert [(issue["row"], issue["code"]) for issue in run.errors] == [
        (2, "email_unavailable"),
        (3, "email_unavailable"),
        (4, "email_unavailable"),
    ]
    messages = {issue["message"] for issue in run.errors}
    assert len(messages) == 1
    (message,) = messages
    assert "can't be used for a person of your organization" in message
    for revealing in ("another organization", "other organization", "globex", "staff", "admin"):
        assert revealing not in message.lower()


# --- the REST API, with a token of Acme that has every scope -------------------------------------


def send_with_token(method: str, url: str, secret: str, **params) -> tuple[int, str]:
    client = Client()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    if method == "GET":
        response = client.get(url, params, **headers)
    else:
        response = client.post(url, params, **headers)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return response.status_code, body.decode(errors="replace")


def test_the_walk_finds_every_api_operation():
    assert {route.name for route in API_ROUTES} == {
        "api:runs",
        "api:run",
        "api:run-apply",
        "api:run-same-person",
        "api:run-changes-export",
        "api:users-export",
        "api:openapi-json",
        "api:api-root",
    }


def test_every_api_route_given_another_organizations_objects_is_not_found(
    acme_objects, globex_objects, globex
):
    before = globex_state(globex)
    for route in API_ROUTES:
        if not names_an_object(route):
            continue
        url = route.url(globex_objects)
        statuses = {}
        for method in ("GET", "POST"):
            statuses[method], body = send_with_token(method, url, acme_objects["secret"])
            assert statuses[method] in (404, 405), f"{method} {url}: {statuses[method]}"
            assert_nothing_of_globex(body, f"{method} {url}")
        assert 404 in statuses.values(), f"{route.name} answers neither GET nor POST"
    assert globex_state(globex) == before


def test_every_api_route_given_the_organizations_own_objects_is_found(acme_objects):
    for route in API_ROUTES:
        if not names_an_object(route):
            continue
        url = route.url(acme_objects)
        status, _ = send_with_token("GET", url, acme_objects["secret"])
        if status == 405:
            status, _ = send_with_token("POST", url, acme_objects["secret"])
        assert status not in (404, 405), f"{route.name} with Acme's own objects: {status}"


def test_no_api_route_shows_or_changes_anything_of_another_organization(
    acme_objects, globex_objects, globex
):
    before = globex_state(globex)
    for route in API_ROUTES:
        url = route.url(acme_objects)
        for method in ("GET", "POST"):
            status, body = send_with_token(method, url, acme_objects["secret"], q="quixote")
            assert status < 500, f"{method} {url}: {status}"
            assert_nothing_of_globex(body, f"{method} {url}")
    assert globex_state(globex) == before


def test_every_api_route_refuses_a_request_without_a_token_or_with_a_session(
    alice_client, acme_objects, globex_objects
):
    """A session is no key to the API: a browser's cookies can never make a script's call."""
    for route in API_ROUTES:
        if route.name in API_PUBLIC:
            continue
        for objects in (acme_objects, globex_objects):
            url = route.url(objects)
            for client in (Client(), alice_client):
                statuses = {
                    "GET": client.get(url).status_code,
                    "POST": client.post(url).status_code,
                }
                assert set(statuses.values()) <= {401, 405}, f"{route.name}: {statuses}"
                assert 401 in statuses.values(), f"{route.name}: {statuses}"
