"""Rules about users said once, and the places that must agree with them."""

import datetime as dt

import pytest

from importer.models import default_update_fields
from importer.pipeline.types import MAX_LENGTHS, PROFILE_FIELDS
from importer.store.snapshot import load_snapshot
from tests.factories import UserFactory
from users.models import User

TODAY = dt.date(2025, 3, 14)


def test_the_pipelines_length_limits_are_the_user_models():
    for name, limit in MAX_LENGTHS.items():
        model_field = {"manager_email": "email", "manager_employee_id": "employee_id"}.get(
            name, name
        )
        assert User._meta.get_field(model_field).max_length == limit, name


def test_every_text_profile_field_has_a_length_limit():
    text_fields = [
        name for name in PROFILE_FIELDS if User._meta.get_field(name).max_length is not None
    ]
    assert set(text_fields) <= set(MAX_LENGTHS)


def test_imports_update_every_profile_field_by_default():
    assert default_update_fields() == list(PROFILE_FIELDS)


@pytest.mark.django_db
def test_the_query_the_model_and_the_snapshot_agree_on_who_is_kept_out_of_sync(acme):
    protections = {
        "never@acme.example": (False, None),
        "off-but-dated@acme.example": (False, TODAY + dt.timedelta(days=9)),
        "for-good@acme.example": (True, None),
        "until-today@acme.example": (True, TODAY),
        "until-tomorrow@acme.example": (True, TODAY + dt.timedelta(days=1)),
        "ended-yesterday@acme.example": (True, TODAY - dt.timedelta(days=1)),
    }
    for email, (protected, until) in protections.items():
        UserFactory(
            organization=acme, email=email, is_sync_protected=protected, sync_protected_until=until
        )
    expected = {"for-good@acme.example", "until-today@acme.example", "until-tomorrow@acme.example"}

    users = User.objects.filter(organization=acme)
    assert {user.email for user in users.kept_out_of_sync(TODAY)} == expected
    assert {user.email for user in users if user.is_protected_on(TODAY)} == expected
    snapshot = load_snapshot(acme.pk, today=TODAY)
    assert {user.email for user in snapshot.users if user.is_protected} == expected


@pytest.mark.django_db
def test_a_user_search_matches_every_word_in_name_email_department_or_employee_id(acme, globex):
    UserFactory(
        organization=acme,
        email="ana@acme.example",
        first_name="Ana",
        last_name="Silva",
        department="Einkauf",
        employee_id="E-7",
    )
    UserFactory(organization=acme, email="ben@acme.example", first_name="Ben", last_name="Silva")
    UserFactory(organization=globex, email="ana@globex.example", first_name="Ana")

    def found(query: str) -> set[str]:
        return {user.email for user in User.objects.filter(organization=acme).search(query)}

    assert found("silva") == {"ana@acme.example", "ben@acme.example"}
    assert found("ANA silva") == {"ana@acme.example"}
    assert found("einkauf") == {"ana@acme.example"}
    assert found("e-7") == {"ana@acme.example"}
    assert found("e-") == set()  # An employee ID matches whole.
    assert found("ben@") == {"ben@acme.example"}
    assert found("ana nobody") == set()
