"""Every page in a real browser at laptop sizes, the error pages, and the keyboard."""

import pytest

from importer import runs
from importer.models import ImportRun
from tests.e2e.conftest import log_in
from tests.factories import UserFactory

pytestmark = [pytest.mark.e2e]
# How Chromium reports a page that answered with an error status (expected on the error pages).
FAILED_TO_LOAD = "Failed to load resource: the server responded with a status of"


def previewed_run(organization, admin) -> ImportRun:
    """Return a run previewed in this process: a new person, a change, a deactivation."""
    UserFactory(
        organization=organization,
        email="ana@acme.example",
        first_name="Ana",
        last_name="Silva",
        title="Engineer",
    )
    UserFactory(organization=organization, email="leaver@acme.example", first_name="Lee")
    UserFactory.create_batch(20, organization=organization)
    text = (
        "email,first_name,last_name,title,department,location\n"
        f"{admin.email},{admin.first_name},{admin.last_name},,,\n"
        "ana@acme.example,Ana,Silva,Senior Engineer with a rather long job title,"
        "Research and Development,Lisbon (Avenida da Liberdade office)\n"
        "new.person.with.a.long.address@subsidiary.acme.example,Nadia,Long-Surname-Example,,,\n"
    )
    run = runs.create_run(
        organization=organization,
        data=text.encode(),
        name="people.csv",
        source=ImportRun.Source.UPLOAD,
        acting_user=admin,
    )
    runs.preview_run(run.pk)
    run.refresh_from_db()
    return run


@pytest.mark.parametrize("width", [1024, 1280])
def test_no_screen_scrolls_sideways_on_a_laptop(page, alice, acme, width):
    run = previewed_run(acme, alice)
    page.set_viewport_size({"width": width, "height": 768})
    log_in(page, alice.email)
    for path in [
        "/import/",
        f"/import/runs/{run.pk}/",
        "/import/configuration/",
        "/import/configuration/people/",
        "/import/history/",
        "/import/history/people/?q=a",
    ]:
        page.goto(path)
        overflow = page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{path} is {overflow}px wider than a {width}px window"
    page.goto(f"/import/runs/{run.pk}/")
    page.screenshot(path=f"test-artifacts/screenshots/preview-{width}px.png")


def test_a_missing_page_says_what_to_do_next(page, screen, browser_errors, alice):
    log_in(page, alice.email)
    response = page.goto("/import/runs/424242/")
    assert response.status == 404
    assert "This page does not exist" in page.inner_text("h1")
    screen("not-found")
    browser_errors.remove(f"{FAILED_TO_LOAD} 404 (Not Found)")
    page.click("text=Go to Import users")
    page.wait_for_url("**/import/")


def test_someone_who_is_not_an_admin_is_told_why_and_can_switch_account(
    page, screen, browser_errors, alice, bob
):
    log_in(page, bob.email)  # Login lands on the Import tab, which is for admins only.
    assert "You do not have access to this page" in page.inner_text("h1")
    assert bob.email in page.inner_text(".error-page")
    screen("forbidden")
    browser_errors.remove(f"{FAILED_TO_LOAD} 403 (Forbidden)")
    page.click("text=Log in as someone else")
    page.wait_for_url("**/login/")


def test_the_tabs_work_from_the_keyboard(page, alice):
    log_in(page, alice.email)
    tabs = page.locator(".tabs a")
    assert tabs.all_inner_texts() == ["Import", "Configuration", "History"]
    for _ in range(20):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.textContent.trim()") == "History":
            break
    page.keyboard.press("Enter")
    page.wait_for_url("**/import/history/")
    assert page.get_attribute(".tabs a:has-text('History')", "aria-current") == "page"
    assert page.locator(".tabs [aria-current]").count() == 1


def test_the_login_page_explains_a_wrong_password(page, screen, alice):
    page.goto("/login/")
    page.fill("#id_username", alice.email)
    page.fill("#id_password", "not the password")
    page.click("button[type=submit]")
    page.wait_for_selector(".alert.error")
    message = page.inner_text(".alert.error")
    assert "do not match an account" in message
    assert "the email is not" in message and "may be case-sensitive" not in message
    screen("login-failed")


def test_support_staff_open_a_companys_screens_from_django_admin_and_leave_again(
    page, screen, screenshot, acme, alice
):
    UserFactory(
        email="sam@rostersync.example",
        first_name="Sam",
        last_name="Support",
        organization=None,
        is_staff=True,
        is_superuser=True,
    )
    # Django admin's pages name no icon, so the browser asks for /favicon.ico, which the app
    # does not serve; that 404 is not what this test is about.
    page.route("**/favicon.ico", lambda route: route.fulfill(status=204))
    log_in(page, "sam@rostersync.example", lands_on="**/admin/users/organization/")
    page.click(f"text={acme.name}")
    page.click("text=Open Import Users")
    page.wait_for_url(f"**/import/act-as/{acme.pk}/")
    screen("support-confirm")

    page.click(f"text=Open Import Users for {acme.name}")
    page.wait_for_url("**/import/")
    banner = page.locator(".acting-banner")
    assert f"You are working in {acme.name}’s screens as support" in banner.inner_text()
    screen("support-import")
    # On a phone the banner wraps: nothing scrolls sideways, "Stop acting" stays in view.
    page.set_viewport_size({"width": 390, "height": 844})
    for path in ("/import/", "/import/history/", "/admin/"):
        page.goto(path)
        overflow = page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at 390px"
        box = page.locator(".acting-banner-stop").bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390, path
        screenshot(f"support-banner-390{path.strip('/').replace('/', '-')}")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto("/import/")

    page.locator(".acting-banner").get_by_role("button", name="Stop acting").click()
    page.wait_for_url("**/admin/**")
    assert page.locator(".acting-banner").count() == 0
    screenshot("support-left")
