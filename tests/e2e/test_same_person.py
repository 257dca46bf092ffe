"""Same person with a new email, in a real browser: the question, the click, the email change."""

import pytest

from importer.models import ImportRun
from tests.e2e.conftest import log_in, wait_for_finished_run
from tests.factories import UserFactory
from users.models import User

pytestmark = [pytest.mark.e2e, pytest.mark.worker]


def test_the_preview_asks_about_a_new_email_and_one_click_shows_an_email_change(
    worker, page, screen_at_both_widths, alice, acme
):
    maria = UserFactory(
        organization=acme,
        email="maria.garcia@acme.example",
        first_name="María",
        last_name="García",
        department="Sales",
    )
    UserFactory(
        organization=acme,
        email="m.garcia@acme.example",
        first_name="María",
        last_name="García",
        department="Legal",
    )
    tom = UserFactory(organization=acme, email="tom@acme.example", first_name="Tom", manager=maria)
    log_in(page, alice.email)
    page.goto("/import/")
    page.click(".paste summary")
    page.fill(
        "#id_text",
        "email,first name,last name,department,manager email\n"
        f"{alice.email},Alice,,,\n"
        "maria.g@acme.example,Maria,Garcia,Sales,\n"
        "m.garcia@acme.example,María,García,Legal,\n"
        "tom@acme.example,Tom,,,maria.g@acme.example\n",
    )
    page.click("#preview-button")
    page.wait_for_url("**/import/runs/*/")
    wait_for_finished_run(page)

    question = page.locator("#same-person")
    assert "Same person with a new email?" in question.inner_text()
    assert question.locator(".same-person-pair").count() == 1  # Not María of Legal.
    assert "maria.garcia@acme.example → maria.g@acme.example (row 3)" in question.inner_text()
    assert "department Sales" in question.inner_text()
    assert "Deactivated\n1" in page.inner_text(".counts")
    screen_at_both_widths("same-person-question")

    question.get_by_role("button", name="Same person: change the email of Maria Garcia").click()
    page.wait_for_url("**/import/runs/*/")
    wait_for_finished_run(page)
    assert page.locator("#same-person").count() == 0
    assert "Ready to import" in page.inner_text(".run-header")
    assert "Deactivated\n0" in page.inner_text(".counts")
    assert "maria.g@acme.example" in page.inner_text(".change-table")
    screen_at_both_widths("same-person-matched")

    assert "Matched as the same person" in page.inner_text(".run-activity")

    page.click("#import-button")
    wait_for_finished_run(page)
    assert ImportRun.objects.get().status == ImportRun.Status.APPLIED
    assert User.objects.filter(organization=acme).count() == 4  # Nobody new, nobody left.
    maria.refresh_from_db()
    tom.refresh_from_db()
    assert (maria.email, maria.is_active, tom.manager_id) == (
        "maria.g@acme.example",
        True,
        maria.pk,
    )
