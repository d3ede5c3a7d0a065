"""Request parameters that no query can use are refused before they reach one.

The admin turns query-string parameters into lookups, and some values only
fail deep inside: PostgreSQL text cannot hold a NUL byte (psycopg2 raises
ValueError when the query is sent), a year outside 1..9999 fails when the
lookup's bounds are computed while the page renders, and an invalid regular
expression fails on the server. Each would be a 500. Here they become a 400
(NUL bytes, regular-expression lookups) or the changelist's own "incorrect
parameters" redirect (values its lookups cannot take).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.admin.exceptions import DisallowedModelAdminLookup
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import EmptyResultSet, FullResultSet
from django.http import HttpResponseBadRequest, JsonResponse
from django.utils.text import smart_split
from unfold.views import ChangeList

# User-supplied regular expressions: an invalid one is a server error and a
# costly one ties up the database; the admin's search covers the real need.
REFUSED_LOOKUPS = frozenset({"regex", "iregex"})


class NulBytesMiddleware:
    """400 for a NUL byte in the path or a query-string parameter."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        values = [request.path, *request.GET.keys()]
        values += [value for _, items in request.GET.lists() for value in items]
        if any("\x00" in value for value in values):
            message = "A parameter holds a NUL byte, which no value here can contain."
            if "text/html" in request.headers.get("Accept", ""):
                return HttpResponseBadRequest(message, content_type="text/plain")
            # Scripts and the JSON views' clients get the JSON views' form.
            return JsonResponse({"error": message}, status=400)
        return self.get_response(request)


class CheckedChangeList(ChangeList):
    """unfold's changelist, with values its lookups cannot take refused as
    incorrect parameters (Django then shows the list with `?e=1`)."""

    def get_filters(self, request):
        try:
            return super().get_filters(request)
        except (ValueError, OverflowError) as exc:  # a date hierarchy's year 9999
            raise IncorrectLookupParameters(exc) from exc

    def get_queryset(self, request, exclude_parameters=None):
        queryset = super().get_queryset(request, exclude_parameters)
        try:
            # Compile now, where a refusal can still be a redirect: a year
            # lookup's bounds are only computed here.
            queryset.query.get_compiler(using=queryset.db).as_sql()
        except (EmptyResultSet, FullResultSet):
            pass  # valid: the query matches nothing or everything
        except (ValueError, OverflowError) as exc:
            raise IncorrectLookupParameters(exc) from exc
        return queryset


# Each word of an admin search is one more ILIKE over the table, ANDed: 50
# words cost 0.26 s on 100,000 books, 600 words 2 s, 1,300 words 25 s. Past
# this many the rest are left out, and the page says so.
MAX_SEARCH_WORDS = 10


def bounded_search(search_term: str) -> tuple[str, list[str]]:
    """The search as run (its first MAX_SEARCH_WORDS words, quoted phrases
    kept whole, as the admin splits them) and the words left out."""
    words = list(smart_split(search_term))
    kept, left_out = words[:MAX_SEARCH_WORDS], words[MAX_SEARCH_WORDS:]
    return " ".join(kept), left_out


class CheckedParametersMixin:
    """For every ModelAdmin of the console."""

    def get_changelist(self, request, **kwargs):
        return CheckedChangeList

    def get_search_results(self, request, queryset, search_term):
        search_term, left_out = bounded_search(search_term)
        if left_out:
            messages.warning(
                request,
                f"Search takes at most {MAX_SEARCH_WORDS} words: these results "
                f"are for the first {MAX_SEARCH_WORDS}, without "
                f"{len(left_out)} more ({' '.join(left_out)[:80]}…).",
            )
        return super().get_search_results(  # type: ignore[misc]
            request, queryset, search_term
        )

    def lookup_allowed(self, lookup, value, request=None):
        if lookup.rsplit("__", 1)[-1] in REFUSED_LOOKUPS:
            raise DisallowedModelAdminLookup(f"Filtering by {lookup} is not allowed")
        return super().lookup_allowed(lookup, value, request)
