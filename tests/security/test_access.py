"""Who is refused where: every ops page and JSON view, swept for each kind
of visitor, and /metrics by its bearer token.

DESIGN.md: all ops pages and JSON views need a staff login, and the
operations pages (and /metrics) the `dbops.view_operations` permission as
well. An HTML page refuses a stranger with a redirect to the admin login, a
JSON view with 401/403 as JSON, /metrics with 401 and a Bearer challenge.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.test import Client

from catalog.models import Author
from notes.models import Note
from tests.clients import logged_in_client

LOGIN = "login"  # a redirect to the admin login page


@dataclass(frozen=True)
class Page:
    method: str
    path: str  # {author} and {note} are filled in from the records fixture
    ops: bool  # needs the operations permission, not only staff
    stranger: str | int  # how anonymous and non-staff visitors are refused
    anonymous: str | int | None = None  # when it differs from `stranger`

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"


PAGES = [
    Page("GET", "/admin/dbops/replication/", ops=True, stranger=LOGIN),
    Page("GET", "/admin/dbops/queries/", ops=True, stranger=LOGIN),
    Page("GET", "/admin/dbops/migrations/", ops=True, stranger=LOGIN),
    Page("POST", "/admin/dbops/queries/reset/", ops=True, stranger=LOGIN),
    Page("GET", "/metrics", ops=True, stranger=403, anonymous=401),
    Page("GET", "/catalog/authors/", ops=False, stranger=403, anonymous=401),
    Page("GET", "/catalog/books/{author}/", ops=False, stranger=403, anonymous=401),
    Page("GET", "/notes/", ops=False, stranger=LOGIN),
    Page("GET", "/notes/create/", ops=False, stranger=LOGIN),
    Page("POST", "/notes/create/", ops=False, stranger=LOGIN),
    Page("POST", "/notes/{note}/delete/", ops=False, stranger=LOGIN),
]
OPS_PAGES = [page for page in PAGES if page.ops]
STAFF_PAGES = [page for page in PAGES if not page.ops]


@pytest.fixture
def records(db, cluster) -> dict[str, int]:
    author = Author.objects.create(name="Ursula Le Guin")
    note = Note.objects.create(title="kept", content="must survive the sweep")
    cluster.wait_for_replay()
    return {"author": author.pk, "note": note.pk}


def login_as(cluster, *, staff: bool, codenames: tuple[str, ...] = ()) -> Client:
    username = f"user-{staff}-{'-'.join(codenames)}"
    return logged_in_client(cluster, username, *codenames, is_staff=staff)


def call(client: Client, page: Page, records: dict[str, int]):
    path = page.path.format(**records)
    if page.method == "POST":
        return client.post(path, {"title": "sneaked in", "content": "x"})
    return client.get(path)


def refusal_error(response, how: str | int) -> str | None:
    """None when `response` refuses the way `how` says, else what it did."""
    location = response.get("Location", "")
    if how == LOGIN:
        if response.status_code == 302 and location.startswith("/admin/login/"):
            return None
    elif response.status_code == how:
        return None
    return f"{response.status_code} {location}".strip()


def allowed_error(response) -> str | None:
    location = response.get("Location", "")
    if response.status_code in (200, 302) and not location.startswith("/admin/"):
        return None
    return f"{response.status_code} {location}".strip()


def sweep(client: Client, pages: list[Page], records, check) -> dict[str, str]:
    """Call every page; the ones that did not pass `check`, with what they
    answered."""
    failures = {}
    for page in pages:
        error = check(page, call(client, page, records))
        if error:
            failures[page.id] = error
    return failures


def assert_nothing_written(records: dict[str, int]) -> None:
    assert list(Note.objects.values_list("pk", flat=True)) == [records["note"]]


def test_access_anonymous_is_refused(client, records):
    """Anonymous: the login page for HTML, 401 for JSON and /metrics."""
    failures = sweep(
        client,
        PAGES,
        records,
        lambda page, response: refusal_error(response, page.anonymous or page.stranger),
    )

    assert failures == {}
    assert_nothing_written(records)


def test_access_non_staff_user_is_refused(cluster, records):
    """An active user without staff rights is refused everywhere, even with
    the operations permission."""
    client = login_as(cluster, staff=False, codenames=("view_operations",))
    failures = sweep(
        client,
        PAGES,
        records,
        lambda page, response: refusal_error(response, page.stranger),
    )

    assert failures == {}
    assert_nothing_written(records)


def test_access_staff_without_ops_permission_is_forbidden(cluster, records):
    """Staff without `dbops.view_operations` get 403 on the ops pages and
    /metrics, and use the notes (with the Note permissions) and the catalog
    JSON pages (with the catalog's view permissions)."""
    client = login_as(
        cluster,
        staff=True,
        codenames=(
            "view_note",
            "add_note",
            "delete_note",
            "view_author",
            "view_book",
        ),
    )
    refused = sweep(
        client, OPS_PAGES, records, lambda page, response: refusal_error(response, 403)
    )
    allowed = sweep(
        client, STAFF_PAGES, records, lambda page, response: allowed_error(response)
    )

    assert refused == {}
    assert allowed == {}


def test_access_operator_sees_ops_pages_but_may_not_reset(cluster, records):
    """With `view_operations` alone every ops page opens; the reset also
    needs `reset_query_counters`."""
    client = login_as(cluster, staff=True, codenames=("view_operations",))

    def check(page, response):
        expected = 403 if page.path.endswith("/reset/") else 200
        return None if response.status_code == expected else str(response.status_code)

    assert sweep(client, OPS_PAGES, records, check) == {}


# --- /metrics and its token ---------------------------------------------------

TOKEN = "scrape-me-0123456789"


@pytest.fixture
def metrics_token(settings):
    settings.METRICS_TOKEN = TOKEN
    return TOKEN


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token", f"Basic {TOKEN}", "Bearer", f"Bearer {TOKEN}x"],
    ids=["missing", "wrong", "other-scheme", "empty", "longer"],
)
def test_metrics_without_the_token_is_unauthorized(
    client, db, metrics_token, authorization
):
    """No token, a wrong one or another scheme: 401 with a Bearer challenge,
    and no metric in the body."""
    headers = {"Authorization": authorization} if authorization else {}
    response = client.get("/metrics", headers=headers)

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"dbops_queries" not in response.content


def test_metrics_with_the_token_answers(client, db, metrics_token):
    """The right bearer token opens /metrics without a session."""
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert b"dbops_queries" in response.content


def test_metrics_token_unset_opens_nothing(client, db, settings):
    """With METRICS_TOKEN unset, no bearer value (not even empty) opens it."""
    settings.METRICS_TOKEN = ""
    for value in ("Bearer ", "Bearer x"):
        response = client.get("/metrics", headers={"Authorization": value})
        assert response.status_code == 401
