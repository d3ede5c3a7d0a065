"""Every page carries the Content-Security-Policy and the other security
headers, and the pages give the policy nothing it would have to allow: no
inline <script>, no inline event handler.

The browser test (test_browser_csp.py) proves that unfold works under the
policy; this one is the fast guard against a template that starts needing
more.
"""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import NoReverseMatch, reverse

from catalog.models import Author
from notes.models import Note

# A <script> that runs and has no src; JSON data blocks (json_script) do not
# run, so the policy does not concern them.
INLINE_SCRIPT = re.compile(
    r"<script(?![^>]*\b(?:src=|type=.application/json))[^>]*>", re.IGNORECASE
)
EVENT_HANDLER = re.compile(r"<[^>]+\s(on[a-z]+)\s*=", re.IGNORECASE)


@pytest.fixture
def records(db, cluster) -> dict[str, int]:
    author = Author.objects.create(name="Italo Calvino")
    note = Note.objects.create(title="a note", content="text")
    cluster.wait_for_replay()
    return {"author": author.pk, "note": note.pk}


# URL names, with the record each needs. The import and export pages are
# checked once they exist (another change adds them).
ADMIN_PAGES = [
    ("admin:index", None),
    ("admin:catalog_author_changelist", None),
    ("admin:catalog_author_add", None),
    ("admin:catalog_author_change", "author"),
    ("admin:catalog_author_delete", "author"),
    ("admin:catalog_author_import", None),
    ("admin:catalog_author_export", None),
    ("admin:catalog_book_add", None),
    ("admin:notes_note_changelist", None),
    ("admin:auth_user_add", None),
    ("admin:dbops_replication", None),
    ("admin:dbops_queries", None),
    ("admin:dbops_migrations", None),
    ("notes:list", None),
    ("notes:create", None),
]


def admin_paths(records: dict[str, int]) -> list[str]:
    paths = []
    for name, record in ADMIN_PAGES:
        args = [records[record]] if record else []
        try:
            paths.append(reverse(name, args=args))
        except NoReverseMatch:
            continue
    return paths


def policy(response) -> dict[str, list[str]]:
    directives = response["Content-Security-Policy"].split(";")
    return {
        name: values for name, *values in (d.split() for d in directives if d.strip())
    }


def test_headers_csp_forbids_inline_script_and_framing(client, db):
    """Scripts only from this origin (plus eval, for Alpine.js), no plugins,
    no framing, forms and <base> only to this origin."""
    found = policy(client.get("/admin/login/"))

    assert found["default-src"] == ["'self'"]
    assert found["script-src"] == ["'self'", "'unsafe-eval'"]
    assert found["object-src"] == ["'none'"]
    assert found["frame-ancestors"] == ["'none'"]
    assert found["form-action"] == ["'self'"]
    assert found["base-uri"] == ["'self'"]


@pytest.mark.parametrize("path", ["/admin/login/", "/healthz", "/readyz"])
def test_headers_security_headers_on_open_pages(client, db, path):
    """Open pages also deny framing and sniffing and keep the referrer."""
    response = client.get(path)

    assert "Content-Security-Policy" in response.headers
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


def test_headers_admin_pages_have_csp_and_no_inline_script(admin_client, records):
    """Admin, ops and notes pages: the policy header, and nothing inline that
    the policy would block."""
    problems = {}
    for path in admin_paths(records):
        response = admin_client.get(path)
        html = response.content.decode()
        found = [
            f"status {response.status_code}" if response.status_code != 200 else "",
            "" if "Content-Security-Policy" in response.headers else "no CSP",
            *INLINE_SCRIPT.findall(html),
            *EVENT_HANDLER.findall(html),
        ]
        if any(found):
            problems[path] = [problem for problem in found if problem]

    assert problems == {}


@pytest.fixture
def https(settings):
    """Production's switches, as HTTPS=1 with a TLS-ending proxy sets them."""
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31_536_000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    return settings


def test_headers_https_redirects_plain_http(db, https):
    """A plain-http request is sent to https, permanently."""
    response = Client().get("/admin/login/")

    assert response.status_code == 301
    assert response["Location"] == "https://testserver/admin/login/"


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
def test_headers_https_probes_stay_on_plain_http(db, https, path):
    """Probes and scrapers on the server's plain-http port are not redirected."""
    assert Client().get(path).status_code != 301


def test_headers_https_behind_proxy_sends_hsts(db, https):
    """Through the proxy (X-Forwarded-Proto: https) the page is served with
    HSTS, and the session cookie the login sets is Secure."""
    client = Client(headers={"X-Forwarded-Proto": "https"})
    response = client.get("/admin/login/")

    assert response.status_code == 200
    assert response["Strict-Transport-Security"] == (
        "max-age=31536000; includeSubDomains"
    )
