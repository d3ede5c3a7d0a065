"""Fixtures for the real-browser tests: a real gunicorn serving the test
pair, and a page logged in through the login form (the `browser` fixture,
Debian's chromium driven by Playwright, is in tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.live import LiveServer, browser_login

SCREENSHOTS = Path(__file__).resolve().parent.parent.parent / "docs" / "screenshots"
PASSWORD = "browser-password-123"


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
    browser_login(page, console_server.url, "browser", PASSWORD)
    yield page
    context.close()
