"""unfold's admin and the ops pages work in a real browser under the
Content-Security-Policy: no violation, no script error, Alpine.js running,
the charts drawn.

Debian's chromium (driven by Playwright; the suite's one `browser`, from
tests/conftest.py) against a real gunicorn on the test pair, logged in
through the login form. A listener for `securitypolicyviolation` in every
document reports each blocked script, style, image, font or connection to
the console, where the test collects it.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.urls import NoReverseMatch, reverse

from catalog.models import Author, Book
from notes.models import Note
from tests.live import LiveServer, browser_login

pytestmark = pytest.mark.browser

PASSWORD = "csp-browser-password-1"
VIOLATION = "csp-violation"
REPORT_VIOLATIONS = f"""
document.addEventListener("securitypolicyviolation", (event) => {{
  console.error("{VIOLATION} " + event.effectiveDirective + " " +
    (event.blockedURI || "inline") + " at " + event.sourceFile + ":" +
    event.lineNumber);
}});
"""
ALPINE_READY = (
    "() => window.Alpine !== undefined"
    " && !document.documentElement.hasAttribute('x-cloak')"
)

# URL names and the record each needs; pages that do not exist yet (import
# and export are being added) are left out.
PAGES = [
    ("admin:index", None),
    ("admin:catalog_author_changelist", None),
    ("admin:catalog_author_change", "author"),
    ("admin:catalog_author_import", None),
    ("admin:catalog_author_export", None),
    ("admin:catalog_book_changelist", None),
    ("admin:catalog_book_change", "book"),
    ("admin:auth_user_change", "user"),
    ("admin:dbops_replication", None),
    ("admin:dbops_queries", None),
    ("admin:dbops_migrations", None),
    ("notes:list", None),
    ("notes:create", None),
]


@pytest.fixture(scope="module")
def server(django_db_setup, tmp_path_factory):
    live = LiveServer(tmp_path_factory.mktemp("csp") / "gunicorn.log").start()
    yield live
    live.stop()


@pytest.fixture
def records(db, cluster) -> dict[str, int]:
    user = User.objects.create_superuser("csp-admin", password=PASSWORD)
    author = Author.objects.create(name="Olga Tokarczuk", country="Poland")
    book = Book.objects.create(title="Flights", author=author)
    Note.objects.create(title="a note", content="seen in the list")
    cluster.wait_for_replay()
    return {"user": user.pk, "author": author.pk, "book": book.pk}


@pytest.fixture
def page(browser, server, records):
    """A logged-in page whose console errors, page errors and CSP violations
    pile up in `page.problems`."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.add_init_script(REPORT_VIOLATIONS)
    page = context.new_page()
    page.problems = []
    page.on(
        "console",
        lambda message: message.type == "error" and page.problems.append(message.text),
    )
    page.on("pageerror", lambda error: page.problems.append(f"pageerror {error}"))
    browser_login(page, server.url, "csp-admin", PASSWORD)
    yield page
    context.close()


def page_paths(records: dict[str, int]) -> list[str]:
    paths = []
    for name, record in PAGES:
        try:
            paths.append(reverse(name, args=[records[record]] if record else []))
        except NoReverseMatch:
            continue
    return paths


def visit(page, path: str) -> list[str]:
    """Open `path`; what went wrong there (empty when all is well)."""
    page.problems.clear()
    response = page.goto(page.base_url + path)
    found = []
    if response.status != 200:
        found.append(f"status {response.status}")
    if "content-security-policy" not in response.headers:
        found.append("no Content-Security-Policy header")
    try:
        page.wait_for_function(ALPINE_READY, timeout=5000)
    except Exception:  # Playwright's TimeoutError: Alpine never started
        found.append("Alpine.js did not initialise")
    undrawn = page.evaluate(
        "() => [...document.querySelectorAll('canvas.chart')]"
        ".filter((canvas) => !Chart.getChart(canvas)).length"
    )
    if undrawn:
        found.append(f"{undrawn} chart(s) not drawn")
    page.wait_for_load_state("networkidle")
    return found + page.problems


def test_browser_csp_pages_work_under_the_policy(page, records):
    """Dashboard, changelists, change forms, ops and notes pages: the header,
    no violation or script error, Alpine running and every chart drawn."""
    paths = page_paths(records)
    problems = {path: found for path in paths if (found := visit(page, path))}

    assert "/admin/dbops/replication/" in paths
    assert problems == {}


def test_browser_csp_replication_charts_are_drawn(page, cluster):
    """The lag history (Chart.js) draws once samples exist."""
    visit(page, "/admin/dbops/replication/")  # stores the first sample
    found = visit(page, "/admin/dbops/replication/")
    charts = page.evaluate(
        "() => [...document.querySelectorAll('canvas.chart')]"
        ".filter((canvas) => Chart.getChart(canvas)).length"
    )

    assert found == []
    assert charts > 0


def test_browser_csp_theme_switch_works(page):
    """unfold's Alpine components respond: the user menu opens and the theme
    switches between dark and light."""
    assert visit(page, "/admin/") == []
    page.get_by_text("csp-admin").last.click()
    page.get_by_text("Dark", exact=True).click()
    page.wait_for_function("() => document.documentElement.classList.contains('dark')")
    page.get_by_text("Light", exact=True).click()
    page.wait_for_function("() => document.documentElement.classList.contains('light')")

    assert page.problems == []


def test_browser_csp_inline_script_is_blocked_and_reported(page):
    """The policy is in force, and the listener sees what it blocks: an
    injected inline script does not run and is reported."""
    visit(page, "/admin/")
    page.evaluate(
        """() => {
          const script = document.createElement("script");
          script.textContent = "window.injected = true";
          document.head.appendChild(script);
        }"""
    )
    page.wait_for_timeout(200)

    assert page.evaluate("() => window.injected") is None
    assert any(VIOLATION in problem for problem in page.problems)
