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
