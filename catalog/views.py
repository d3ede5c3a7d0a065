"""Read-only JSON of authors and their books, for staff.

Pages are fetched as `page_size + 1` rows, so that `has_next` needs no
COUNT; `?page=` beyond the last page is a 404, anything but a positive
integer a 400. Without a login the answer is 401, without staff rights 403,
both as JSON: a client of a JSON API expects no login page.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from urllib.parse import urlencode

from django.db.models import QuerySet
from django.http import HttpRequest, JsonResponse
from django.urls import reverse
from django.views.decorators.http import require_safe

from catalog.models import Author, Book

PAGE_SIZE = 50
# An offset this deep is a mistake or a scraper, not a reader.
MAX_PAGE = 100_000


class BadPage(ValueError):
    pass


def json_error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def staff_json(*permissions: str) -> Callable[[Callable], Callable]:
    """Refuse, as JSON, anyone but active staff with every one of
    `permissions` (the models' view permissions, as everywhere else: staff
    status alone shows no data)."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs):
            user = request.user
            if not user.is_authenticated:
                return json_error(401, "authentication required")
            if not (user.is_active and user.is_staff):
                return json_error(403, "staff only")
            if not user.has_perms(permissions):
                return json_error(403, f"needs {', '.join(permissions)}")
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def page_number(request: HttpRequest) -> int:
    raw = request.GET.get("page", "1")
    try:
        number = int(raw)
    except ValueError:
        raise BadPage(f"page must be an integer, not {raw!r}") from None
    if not 1 <= number <= MAX_PAGE:
        raise BadPage(f"page must be between 1 and {MAX_PAGE}")
    return number


def page_url(request: HttpRequest, number: int) -> str:
    return request.build_absolute_uri(f"{request.path}?{urlencode({'page': number})}")


def paginated(
    request: HttpRequest,
    rows: QuerySet,
    serialize: Callable[[dict], dict] = dict,
    **extra,
) -> JsonResponse:
    """One page of `rows` (a values() queryset) as JSON, or a JSON error."""
    try:
        number = page_number(request)
    except BadPage as exc:
        return json_error(400, str(exc))
    offset = (number - 1) * PAGE_SIZE
    fetched = list(rows[offset : offset + PAGE_SIZE + 1])
    if number > 1 and not fetched:
        return json_error(404, "page out of range")
    has_next = len(fetched) > PAGE_SIZE
    return JsonResponse(
        {
            **extra,
            "results": [serialize(row) for row in fetched[:PAGE_SIZE]],
            "page": number,
            "page_size": PAGE_SIZE,
            "has_next": has_next,
            "next": page_url(request, number + 1) if has_next else None,
            "previous": page_url(request, number - 1) if number > 1 else None,
        }
    )


def _author(row: dict) -> dict:
    return {**row, "books": reverse("catalog:books", args=[row["id"]])}


@require_safe
@staff_json("catalog.view_author")
def authors(request: HttpRequest) -> JsonResponse:
    rows = Author.objects.order_by("name").values("id", "name", "country")
    return paginated(request, rows, _author)


@require_safe
@staff_json("catalog.view_author", "catalog.view_book")
def books(request: HttpRequest, author_id: int) -> JsonResponse:
    author = Author.objects.filter(pk=author_id).values("id", "name").first()
    if author is None:
        return json_error(404, f"no author with id {author_id}")
    # Served by the (author, id) index, whatever the page.
    rows = (
        Book.objects.filter(author_id=author_id)
        .order_by("id")
        .values("id", "title", "published", "isbn")
    )
    return paginated(request, rows, author=author)
