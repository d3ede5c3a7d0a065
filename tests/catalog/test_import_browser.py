"""The import pages in a real browser: unfold's forms, the preview, the
problems list and the confirm, as an operator uses them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from catalog.models import Author, Book
from tests.live import LiveServer

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "import-browser-123"
SCREENSHOTS = os.environ.get("IMPORT_SCREENSHOTS")

# Playwright's sync API keeps an event loop on this thread, which Django
# mistakes for async code; the test's own queries are plain sync calls.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="module")
def chromium():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox"]
        )
        yield browser
        browser.close()


@pytest.fixture
def staff_page(chromium, db, cluster, tmp_path, django_user_model):
    """A page logged in through the login form of a real gunicorn."""
    django_user_model.objects.create_superuser("importer", password=PASSWORD)
    cluster.wait_for_replay()
    server = LiveServer(tmp_path / "gunicorn.log").start()
    context = chromium.new_context(viewport={"width": 1400, "height": 900})
    try:
        page = context.new_page()
        page.goto(f"{server.url}/admin/login/")
        page.fill("#id_username", "importer")
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{server.url}/admin/")
        page.base_url = server.url
        yield page
    finally:
        context.close()
        server.stop()


def snap(page, name: str) -> None:
    if SCREENSHOTS:
        page.screenshot(path=f"{SCREENSHOTS}/{name}.png", full_page=True)


def test_import_books_in_the_browser(staff_page, cluster, tmp_path):
    Author.objects.create(name="Italo Calvino")
    cluster.wait_for_replay()
    page = staff_page
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "title,author,published\nCities,Italo Calvino,1972-11-01\nPalomar,Nobody,1983\n"
    )
    good = tmp_path / "books.csv"
    good.write_text(
        "title,author,published\nInvisible Cities,Italo Calvino,1972-11-01\n"
    )

    page.goto(f"{page.base_url}/admin/catalog/book/")
    snap(page, "changelist")
    page.get_by_role("link", name="Import").click()
    page.set_input_files("input[type=file]", str(bad))
    page.get_by_role("button", name="Submit").click()
    page.wait_for_selector("#import-problems")
    problems = page.locator("#import-problems tr.problem")
    assert problems.count() == 2
    assert (
        "no author named 'Nobody'"
        in problems.first.inner_text() + problems.last.inner_text()
    )
    snap(page, "problems")

    page.set_input_files("input[type=file]", str(good))
    page.get_by_role("button", name="Submit").click()
    page.wait_for_selector("#import-summary")
    summary = " ".join(page.locator("#import-summary").inner_text().split())
    assert summary == "1 row: 1 new, 0 to update."
    snap(page, "preview")
    page.get_by_role("button", name="Confirm import").click()
    page.wait_for_url(f"{page.base_url}/admin/catalog/book/")
    assert "Import finished: 1 new" in page.content()
    assert list(Book.objects.using("default").values_list("title", flat=True)) == [
        "Invisible Cities"
    ]
