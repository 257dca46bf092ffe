"""A real Chromium (Debian's) driven by Playwright against a live server and a real worker.

Every screen a test reaches is looked at with `screen(name)`: a full-page screenshot kept under
test-artifacts/screenshots/ (CI leaves it on disk) and an axe-core accessibility check that fails
the test on any serious or critical violation.
"""

import base64
import json
import os
import shutil
from pathlib import Path

import pytest

# Imported for their side effect as well as their fixtures: the Celery worker process, started
# once per session, must trust the test CA and may reach the loopback HTTPS server.
from tests.integration.conftest import https_server, remote_settings  # noqa: F401

CHROMIUM = os.environ.get("ROSTERSYNC_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
AXE_SOURCE = Path(__file__).parent / "vendor" / "axe.min.js"
PASSWORD = "correct-horse-battery"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# A laptop screen, and a phone's (an iPhone 14's CSS pixels).
VIEWPORT = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
# Flags for a headless Chromium on a machine without a network or a sandbox.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--font-render-hinting=none",
]


def pytest_collection_modifyitems(config, items):
    if shutil.which(CHROMIUM) or Path(CHROMIUM).exists():
        return
    if os.environ.get("CI"):
        return  # In CI a missing browser is a failure, not a skip.
    skip = pytest.mark.skip(reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    for item in items:
        if "e2e" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="package")
def browser():
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread, which Django would take for an
    # async context and refuse the tests' own database queries; only while the browser lives.
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def browser_errors():
    """Errors the browser reported (the page fixture fails the test on any left at the end)."""
    return []


@pytest.fixture
def page(browser, live_server, browser_errors):
    context = browser.new_context(base_url=live_server.url, viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(30_000)
    # A script or style the Content-Security-Policy blocks is reported here, so is any JS error.
    page.on(
        "console",
        lambda message: browser_errors.append(message.text) if message.type == "error" else None,
    )
    page.on("pageerror", lambda error: browser_errors.append(str(error)))
    yield page
    context.close()
    assert browser_errors == [], f"The browser reported errors: {browser_errors}"


@pytest.fixture
def screen(page, request):
    """Return screen(name): keep a screenshot of the page and check its accessibility."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def look(name: str) -> None:
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        problems = accessibility_problems(page)
        assert not problems, f"Accessibility problems on the {name} screen:\n" + "\n".join(problems)

    return look


@pytest.fixture
def screenshot(page):
    """Return screenshot(name): keep a full-page screenshot only (a screen in mid-change)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def take(name: str) -> None:
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    return take


@pytest.fixture
def screen_at_both_widths(page, screen):
    """Return look(name): screen(name) at 1280 px, then at 390 px with nothing scrolling
    sideways (assert_fits_a_phone), then back to 1280 px."""

    def look(name: str) -> None:
        page.set_viewport_size(VIEWPORT)
        screen(f"{name}-1280px")
        page.set_viewport_size(PHONE)
        assert_fits_a_phone(page, name)
        screen(f"{name}-390px")
        page.set_viewport_size(VIEWPORT)

    return look


def assert_fits_a_phone(page, name: str) -> None:
    """At 390 px, assert the page does not scroll sideways: scrollWidth <= innerWidth, naming
    the elements that stick out if it does."""
    if page.viewport_size != PHONE:
        page.set_viewport_size(PHONE)
    scroll_width, inner_width, wide = page.evaluate(
        r"""() => [
            document.documentElement.scrollWidth,
            window.innerWidth,
            [...document.querySelectorAll("body *")]
                .filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5)
                .slice(0, 5)
                .map(e => `${e.parentElement.tagName.toLowerCase()}.${e.parentElement.className}`
                    + ` > ${e.tagName.toLowerCase()}.${e.className}`
                    + ` (right edge ${Math.round(e.getBoundingClientRect().right)}px:`
                    + ` "${e.textContent.trim().slice(0, 30)}")`),
        ]"""
    )
    assert scroll_width <= inner_width, (
        f"The {name} screen scrolls sideways at {inner_width}px ({scroll_width}px wide): {wide}"
    )


def accessibility_problems(page, *, impacts=("serious", "critical")) -> list[str]:
    """Run axe-core in the page; return one line per violation of the given impacts.

    The script goes in through the DevTools protocol (page.evaluate), which the page's
    Content-Security-Policy does not govern: a <script> tag with the same content would be
    blocked as inline script, and the policy stays on for everything the app itself does.
    """
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(AXE_SOURCE.read_text(encoding="utf-8"))
    results = page.evaluate(
        """async () => {
            const results = await window.axe.run(document, {resultTypes: ["violations"]});
            return results.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                targets: v.nodes.slice(0, 5).map(n => n.target.join(" ")),
            }));
        }"""
    )
    return [
        f"{violation['impact']}: {violation['id']} ({violation['help']}) at "
        + json.dumps(violation["targets"])
        for violation in results
        if violation["impact"] in impacts
    ]


def log_in(page, email: str, password: str = PASSWORD, *, lands_on: str = "**/import/") -> None:
    page.goto("/login/")
    page.fill("#id_username", email)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(lands_on)


def drop_file(page, selector: str, path: Path, mime: str) -> None:
    """Drag a file from 'the desktop' onto an element: a real drop event carrying the file."""
    payload = base64.b64encode(path.read_bytes()).decode()
    data_transfer = page.evaluate_handle(
        """([payload, name, mime]) => {
            const bytes = Uint8Array.from(atob(payload), c => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, {type: mime}));
            return transfer;
        }""",
        [payload, path.name, mime],
    )
    for event in ("dragenter", "dragover", "drop"):
        page.dispatch_event(selector, event, {"dataTransfer": data_transfer})


def wait_for_finished_run(page) -> None:
    """Wait until the run page stops polling: the preview or the import is over."""
    page.wait_for_selector("#run-panel:not([hx-trigger])", timeout=90_000)
