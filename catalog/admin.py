"""The admin of authors and books, built for a million books.

Every page reads through an index: searches through the trigram indexes,
the book list through the primary key, and counts through the estimating
paginator. Choosing an author is an autocomplete, never a <select> of every
author.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group, User
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils.html import format_html
from unfold.admin import ModelAdmin
from unfold.contrib.filters.admin import (
    AutocompleteSelectFilter,
    DropdownFilter,
    RadioFilter,
    RangeDateFilter,
)
from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm

from catalog.models import Author, Book
from catalog.resources import AuthorResource, BookResource
from console.bigtables.paginator import EstimatedCountPaginator
from console.bulk.admin import ImportExportAdmin
from console.contention import RowLockAwareAdminMixin
from console.parameters import CheckedParametersMixin
from console.widgets import ValidatingAutocompleteSelect

TRIGRAM_HELP = (
    "Substring search in the {field}, ignoring case; served by a trigram "
    "index, so use at least three characters."
)


class CountryFilter(DropdownFilter):
    title = "country"
    parameter_name = "country"

    def lookups(self, request, model_admin) -> list[tuple[str, str]]:
        countries = (
            Author.objects.exclude(country="")
            .order_by("country")
            .values_list("country", flat=True)
            .distinct()
        )
        return [(country, country) for country in countries]

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        value = self.value()
        return queryset.filter(country=value) if value else queryset


class HasIsbnFilter(RadioFilter):
    title = "ISBN"
    parameter_name = "has_isbn"

    def lookups(self, request, model_admin) -> list[tuple[str, str]]:
        return [("yes", "Has an ISBN"), ("no", "No ISBN")]

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        if self.value() == "yes":
            return queryset.filter(isbn__isnull=False)
        if self.value() == "no":
            return queryset.filter(isbn__isnull=True)
        return queryset


def book_counts() -> Coalesce:
    """Books per author as a correlated subquery.

    A subquery rather than Count("books") with a join: PostgreSQL evaluates
    it only for the rows of the page, each from the (author, id) index,
    where the join would aggregate every book before the LIMIT.
    """
    books = (
        Book.objects.filter(author=OuterRef("pk"))
        .order_by()
        .values("author")
        .annotate(count=Count("*"))
        .values("count")
    )
    return Coalesce(Subquery(books), 0)


@admin.register(Author)
class AuthorAdmin(
    RowLockAwareAdminMixin, CheckedParametersMixin, ModelAdmin, ImportExportAdmin
):
    resource_classes = [AuthorResource]
    list_display = ["name", "country", "book_count", "created_at"]
    search_fields = ["name"]
    search_help_text = TRIGRAM_HELP.format(field="name")
    list_filter = [CountryFilter]
    list_filter_submit = True
    readonly_fields = ["created_at"]
    paginator = EstimatedCountPaginator
    # A page's time is mostly Python (its SQL is a few ms even at a million
    # rows): 50 rows, the stock admin's CPU per page (docs/benchmarks.md).
    list_per_page = 50
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER

    def get_queryset(self, request) -> QuerySet:
        return super().get_queryset(request).annotate(book_count=book_counts())

    # Not sortable: sorting by it would count the books of every author.
    @admin.display(description="books")
    def book_count(self, obj: Author):
        url = reverse("admin:catalog_book_changelist")
        return format_html(
            '<a href="{}?author__id__exact={}">{}</a>',
            url,
            obj.pk,
            obj.book_count,  # type: ignore[attr-defined]  # annotated: book_counts()
        )


@admin.register(Book)
class BookAdmin(
    RowLockAwareAdminMixin, CheckedParametersMixin, ModelAdmin, ImportExportAdmin
):
    resource_classes = [BookResource]
    list_display = ["title", "author", "published", "isbn"]
    list_select_related = ["author"]
    # Sorting by another column would sort the whole table for one page.
    sortable_by = ["published"]
    search_fields = ["title"]
    search_help_text = TRIGRAM_HELP.format(field="title")
    list_filter = [
        ("author", AutocompleteSelectFilter),
        ("published", RangeDateFilter),
        HasIsbnFilter,
    ]
    list_filter_submit = True
    autocomplete_fields = ["author"]
    readonly_fields = ["created_at"]
    paginator = EstimatedCountPaginator
    # A page's time is mostly Python (its SQL is a few ms even at a million
    # rows): 50 rows, the stock admin's CPU per page (docs/benchmarks.md).
    list_per_page = 50
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    # "Select all N" would act on an estimated number of rows.
    list_disable_select_all = True

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name in self.autocomplete_fields:
            kwargs["widget"] = ValidatingAutocompleteSelect(
                db_field, self.admin_site, using=kwargs.get("using")
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


# Users and groups, re-registered with unfold's styling. They live here
# because the auth app has no admin module of this project's own, and the
# sidebar (console/unfold.py) links to them.
admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class UserAdmin(CheckedParametersMixin, BaseUserAdmin, ModelAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    change_password_form = AdminPasswordChangeForm


@admin.register(Group)
class GroupAdmin(CheckedParametersMixin, BaseGroupAdmin, ModelAdmin):
    pass
