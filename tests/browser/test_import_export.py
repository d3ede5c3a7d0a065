"""CSV import and export in a real browser, as an operator uses them: the
problems list, the preview, the confirm, and a download read back."""

from __future__ import annotations

import csv
import io

import pytest

from catalog.models import Author, Book
from tests.browser.conftest import SCREENSHOTS

pytestmark = pytest.mark.browser


def test_browser_import_books_preview_problems_then_confirm(
    staff_page, cluster, tmp_path
):
    """A file with an unknown author is refused with its line and reason and
    writes nothing; a good file previews, and confirming writes it."""
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
    page.get_by_role("link", name="Import").click()
    page.set_input_files("input[type=file]", str(bad))
    page.get_by_role("button", name="Submit").click()
    page.wait_for_selector("#import-problems")
    problems = page.locator("#import-problems").inner_text()
    assert "no author named 'Nobody'" in problems
    assert Book.objects.using("default").count() == 0
    page.screenshot(path=SCREENSHOTS / "import-problems.png", full_page=True)

    page.set_input_files("input[type=file]", str(good))
    page.get_by_role("button", name="Submit").click()
    page.wait_for_selector("#import-summary")
    summary = " ".join(page.locator("#import-summary").inner_text().split())
    assert summary == "1 row: 1 new, 0 to update, 0 unchanged."
    page.get_by_role("button", name="Confirm import").click()
    page.wait_for_url(f"{page.base_url}/admin/catalog/book/")
    assert "Import finished: 1 new" in page.content()
    titles = Book.objects.using("default").values_list("title", flat=True)
    assert list(titles) == ["Invisible Cities"]


def test_browser_export_csv_of_a_search_reads_back(staff_page, cluster):
    """The streaming CSV export of a searched changelist downloads exactly
    the rows the list shows, in the documented columns, formulae escaped."""
    author = Author.objects.create(name="Jorge Luis Borges")
    Book.objects.bulk_create(
        [
            Book(title="Ficciones", author=author),
            Book(title="El Aleph", author=author),
            Book(title="=HYPERLINK(evil)", author=author),
        ]
    )
    cluster.wait_for_replay()
    page = staff_page
    page.goto(f"{page.base_url}/admin/catalog/book/?q=l")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Export CSV (streaming)").click()
    content = download_info.value.path().read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(content)))
    assert set(rows[0]) == {"id", "title", "author", "published", "isbn"}
    assert sorted(row["title"] for row in rows) == ["'=HYPERLINK(evil)", "El Aleph"]
    assert {row["author"] for row in rows} == {"Jorge Luis Borges"}
