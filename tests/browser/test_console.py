"""The console in a real browser: what a staff user does, end to end."""

from __future__ import annotations

import pytest

from tests.browser.conftest import SCREENSHOTS

pytestmark = pytest.mark.browser


def test_browser_login_lands_on_dashboard(staff_page):
    """Logging in through the form lands on the admin dashboard with the
    unfold sidebar."""
    assert staff_page.url.endswith("/admin/")
    assert staff_page.get_by_role("link", name="Authors").first.is_visible()


def test_browser_new_author_shows_at_once_with_replay_paused(staff_page, cluster):
    """With replay paused on the replica, an author added through the form
    is on the changelist the browser lands on."""
    cluster.pause_replay()
    staff_page.goto(f"{staff_page.base_url}/admin/catalog/author/add/")
    staff_page.fill("#id_name", "Ursula K. Le Guin")
    staff_page.fill("#id_country", "US")
    staff_page.click("button[name=_save]")
    staff_page.wait_for_url("**/admin/catalog/author/")
    results = staff_page.locator("#result_list")
    assert results.get_by_role("link", name="Ursula K. Le Guin").is_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    staff_page.screenshot(path=SCREENSHOTS / "authors-changelist.png")


# Non-blank pixels on the first canvas: Chart.js ran and drew the chart.
CANVAS_DRAWN = """() => {
    const canvas = document.querySelector('canvas.chart');
    if (!canvas || !canvas.width || !canvas.height) return false;
    const pixels = canvas.getContext('2d')
        .getImageData(0, 0, canvas.width, canvas.height).data;
    return pixels.some((value, index) => index % 4 === 3 && value !== 0);
}"""


def _lag_history(minutes: int = 30) -> None:
    """Half an hour of samples, with a lag spike in the middle."""
    from datetime import timedelta

    from django.utils import timezone

    from dbops.models import LagSample

    now = timezone.now()
    LagSample.objects.bulk_create(
        LagSample(
            alias="replica",
            taken_at=now - timedelta(minutes=minutes - n),
            reachable=True,
            replay_paused=False,
            lag_bytes=(4 << 20) if 10 <= n <= 14 else 0,
            lag_seconds=3.5 if 10 <= n <= 14 else 0.0,
        )
        for n in range(minutes)
    )


def test_browser_replication_page_draws_lag_chart(staff_page, cluster):
    """The replication page renders its lag history as a drawn chart."""
    _lag_history()
    cluster.wait_for_replay()
    staff_page.goto(f"{staff_page.base_url}/admin/dbops/replication/")
    assert staff_page.locator("canvas.chart").count() >= 1
    staff_page.wait_for_function(CANVAS_DRAWN, timeout=10_000)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    staff_page.screenshot(path=SCREENSHOTS / "replication.png", full_page=True)


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/admin/", "dashboard"),
        ("/admin/dbops/queries/", "queries"),
        ("/admin/dbops/statements/", "statements"),
        ("/admin/dbops/migrations/", "migrations"),
    ],
)
def test_browser_ops_pages_render(staff_page, cluster, path, name):
    """Each ops page renders in the browser without a JavaScript error; its
    screenshot goes to docs/screenshots/ for the README."""
    _lag_history()
    cluster.wait_for_replay()
    errors: list[str] = []
    staff_page.on("pageerror", lambda error: errors.append(str(error)))
    staff_page.goto(f"{staff_page.base_url}{path}")
    staff_page.wait_for_load_state("networkidle")
    assert errors == []
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    staff_page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


def test_browser_notes_delete_asks_first(staff_page, cluster):
    """The list's Delete leads to a confirmation; only its button deletes."""
    from notes.models import Note

    Note.objects.create(title="Keep me")
    doomed = Note.objects.create(title="Delete me")
    cluster.wait_for_replay()
    staff_page.goto(f"{staff_page.base_url}/notes/")
    row = staff_page.locator("tr", has_text="Delete me")
    row.get_by_role("link", name="Delete").click()
    staff_page.wait_for_url(f"**/notes/{doomed.pk}/delete/")
    assert staff_page.get_by_text("Delete note “Delete me”?").is_visible()
    assert Note.objects.filter(pk=doomed.pk).exists()  # one click deleted nothing
    staff_page.get_by_role("button", name="Yes, delete it").click()
    staff_page.wait_for_url("**/notes/")
    assert staff_page.get_by_text("Note “Delete me” was deleted.").is_visible()
    assert not Note.objects.filter(pk=doomed.pk).exists()
    assert Note.objects.filter(title="Keep me").exists()


def test_browser_statements_page_lists_each_servers_statements(staff_page, cluster):
    """The Statements page has a table of statements for the primary and for
    the replica, each read on its own server."""
    cluster.wait_for_replay()
    staff_page.goto(f"{staff_page.base_url}/admin/dbops/statements/")
    for alias in ("default", "replica"):
        card = staff_page.locator(f'[data-statements-alias="{alias}"]')
        assert card.locator("tr[data-statement]").count() > 0
        assert card.locator("[data-statements-problem]").count() == 0


def _badge_once(page, state: str, saying: str = "", timeout: float = 30) -> str:
    """The badge's words once it shows `state` and says `saying`, reloading
    the page as an operator would (the monitor re-measures every second;
    a replica being stopped may first read as behind, then as down)."""
    from tests.waiting import eventually

    badge = page.locator("#replica-badge")

    def words() -> str:
        # As written (the label shows them in capitals), after the icon's
        # ligature name.
        found = (badge.text_content() or "").split()
        return " ".join(found[1:] if found[:1] == ["lan"] else found)

    def shows():
        page.reload()
        return badge.get_attribute("data-replica-state") == state and saying in words()

    eventually(shows, timeout=timeout, what=f"the badge to say {state} {saying}")
    return words()


def test_browser_badge_follows_the_replica(staff_page, cluster):
    """The header badge of an admin page in each state: serving, replay
    paused behind a write, the replica down; it links to the replication
    page."""
    from catalog.models import Author

    page = staff_page
    page.goto(f"{page.base_url}/admin/catalog/author/")
    assert _badge_once(page, "serving") == "replica serving"
    link = page.locator("#replica-badge a")
    assert link.get_attribute("href") == "/admin/dbops/replication/"

    cluster.pause_replay()
    try:
        Author.objects.create(name="Written while replay is paused")
        text = _badge_once(page, "primary-only", "behind")
        assert text.startswith("replica ") and text.endswith(
            "behind, reads from the primary"
        ), text
    finally:
        cluster.resume_replay()
    _badge_once(page, "serving")

    cluster.stop("replica")
    try:
        text = _badge_once(page, "primary-only", "down since")
        assert text.startswith("replica down since ") and text.endswith(
            "UTC, reads from the primary"
        ), text
        page.screenshot(path=SCREENSHOTS / "badge-replica-down.png")
    finally:
        cluster.start("replica")
        cluster.wait_until_ready("replica")


def test_browser_book_rows_select_and_run_an_action(staff_page, cluster):
    """The changelist's rows (console/bigtables/result_list.py): a row's
    checkbox selects it for the admin's actions, as unfold's rows do, and
    the delete action deletes that row only."""
    from catalog.models import Author, Book

    author = Author.objects.create(name="Italo Calvino", country="IT")
    kept = Book.objects.create(title="Invisible Cities", author=author)
    doomed = Book.objects.create(title="The Baron in the Trees", author=author)
    cluster.wait_for_replay()
    staff_page.goto(f"{staff_page.base_url}/admin/catalog/book/")
    row = staff_page.locator("tr", has_text="The Baron in the Trees")
    assert row.get_by_role("link", name="The Baron in the Trees").is_visible()
    row.get_by_role("checkbox").check()
    staff_page.locator("select[name=action]").select_option("delete_selected")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    staff_page.screenshot(path=SCREENSHOTS / "books-changelist.png")
    staff_page.get_by_role("button", name="Run").click()
    staff_page.get_by_role("button", name="Yes, I’m sure").click()
    staff_page.wait_for_url("**/admin/catalog/book/")
    assert not Book.objects.filter(pk=doomed.pk).exists()
    assert Book.objects.filter(pk=kept.pk).exists()
