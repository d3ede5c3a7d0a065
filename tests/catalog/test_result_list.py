"""The console's changelist rows (console/bigtables/result_list.py) show
what unfold's rows show, cell for cell, in a fraction of the markup; a
changelist they do not cover goes to unfold's own rows."""

from __future__ import annotations

import datetime
import re
from html.parser import HTMLParser
from types import SimpleNamespace

import pytest
from django.template.loader import render_to_string
from django.urls import reverse
from unfold.templatetags import unfold_list

from catalog.models import Author, Book
from console.bigtables import result_list
from console.bigtables.result_list import plain_columns
from notes.models import Note

CHANGELISTS = [
    reverse("admin:catalog_book_changelist") + "?q=Garden&o=-3",
    reverse("admin:catalog_book_changelist") + "?has_isbn=yes",
    reverse("admin:catalog_author_changelist"),
    reverse("admin:notes_note_changelist"),
]


class Cells(HTMLParser):
    """Each row of a changelist table as its cells: (tag, data-label, text,
    link, checkbox name and value)."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[tuple]] = []
        self._cell: dict | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tbody":
            self.rows.append([])
        elif tag in ("td", "th") and self.rows:
            self._cell = {"tag": tag, "label": attrs.get("data-label"), "text": ""}
        elif self._cell is not None and tag == "a":
            self._cell["link"] = attrs.get("href")
        elif self._cell is not None and tag == "input":
            self._cell["input"] = (attrs.get("name"), attrs.get("value"))

    def handle_data(self, data):
        if self._cell is not None:
            self._cell["text"] += data

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            cell = self._cell
            self.rows[-1].append(
                (
                    cell["tag"],
                    cell["label"],
                    " ".join(cell["text"].split()),
                    cell.get("link"),
                    cell.get("input"),
                )
            )
            self._cell = None


def _cells(html: str) -> list[list[tuple]]:
    parser = Cells()
    parser.feed(html[html.index('<table id="result_list"') :])
    return parser.rows


def _unfolds_rows(response) -> str:
    """The same page's table as unfold's `unfold_result_list` renders it."""
    context = {"request": response.wsgi_request, "actions_row": None}
    values = unfold_list.result_list(context, response.context["cl"])
    return render_to_string("admin/change_list_results.html", values)


@pytest.fixture
def varied(books, cluster):
    """Books with and without an ISBN and a date, an author, notes."""
    Book.objects.filter(pk=books[0].pk).update(
        isbn="9780441478125", published=datetime.date(1969, 3, 1)
    )
    Book.objects.filter(pk=books[1].pk).update(title='Garden <b>&</b> "paths"')
    Author.objects.create(name="Nobody's books", country="")
    Note.objects.create(title="a note", content="")
    cluster.wait_for_replay()


@pytest.mark.parametrize("url", CHANGELISTS)
def test_rows_show_what_unfolds_rows_show(admin_client, varied, url):
    response = admin_client.get(url)
    assert response.status_code == 200
    ours = _cells(response.content.decode())
    assert ours, "no rows"
    assert ours == _cells(_unfolds_rows(response))


def test_rows_are_a_fraction_of_unfolds_markup(admin_client, books):
    """unfold's rows are some 4.5 KB each (utility classes on every cell);
    these are well under 1 KB."""
    html = admin_client.get(reverse("admin:catalog_book_changelist")).content.decode()
    table = re.search(r"<tbody.*</tbody>", html, re.S)
    assert table
    assert len(table.group()) / len(books) < 1000


def _changelist(**admin) -> SimpleNamespace:
    defaults = {"list_sections": (), "ordering_field": None}
    return SimpleNamespace(
        formset=None,
        is_popup=False,
        model_admin=SimpleNamespace(**{**defaults, **admin}),
        model=Book,
        list_display=["title"],
        list_display_links=(),
        lookup_opts=Book._meta,
    )


def test_plain_changelist_has_columns():
    columns = plain_columns(_changelist(), [{"text": "title"}])
    assert columns and columns[0].links


@pytest.mark.parametrize(
    "change",
    [
        {"formset": object()},  # list_editable
        {"is_popup": True},
        {"model_admin": SimpleNamespace(list_sections=("x",))},
        {"model_admin": SimpleNamespace(ordering_field="weight")},
    ],
)
def test_other_changelists_go_to_unfolds_rows(change):
    cl = _changelist()
    for name, value in change.items():
        setattr(cl, name, value)
    assert plain_columns(cl, [{"text": "title"}]) is None


def test_row_actions_and_unfold_displays_go_to_unfolds_rows():
    assert plain_columns(_changelist(), [{"text": "t"}], actions_row=[{}]) is None
    labelled = SimpleNamespace(label=True)
    cl = _changelist(badge=labelled)
    cl.list_display = ["title", "badge"]
    assert plain_columns(cl, [{"text": "t"}, {"text": "b"}]) is None


def test_a_changelist_left_to_unfold_gets_its_rows(admin_client, books, monkeypatch):
    """Where `plain_columns` declines, the page carries unfold's own rows,
    the same cells."""
    url = reverse("admin:catalog_book_changelist")
    ours = _cells(admin_client.get(url).content.decode())
    monkeypatch.setattr(result_list, "plain_columns", lambda *args: None)
    html = admin_client.get(url).content.decode()
    assert "before:content-[attr(data-label)]" in html  # unfold's cell classes
    assert _cells(html) == ours
