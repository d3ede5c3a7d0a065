"""Fixtures for the real-browser tests: Debian's chromium driven by
Playwright, against a real gunicorn serving the test pair."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.live import LiveServer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
]
SCREENSHOTS = Path(__file__).resolve().parent.parent.parent / "docs" / "screenshots"
PASSWORD = "browser-password-123"

# Playwright's sync API keeps an event loop on this thread, which Django
# mistakes for async code; the tests' own queries are plain sync calls.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def console_server(db, tmp_path, cluster):
    server = LiveServer(tmp_path / "gunicorn.log").start()
    yield server
    server.stop()


@pytest.fixture
def staff_page(browser, console_server, django_user_model, cluster):
    """A browser page logged in as a superuser through the real login form."""
    django_user_model.objects.create_superuser("browser", password=PASSWORD)
    cluster.wait_for_replay()
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.goto(f"{console_server.url}/admin/login/")
    page.fill("#id_username", "browser")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{console_server.url}/admin/")
    page.base_url = console_server.url
    yield page
    context.close()
