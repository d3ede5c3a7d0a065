"""What a model's CSV import is, as data: its columns and the rules on them.

Each app declares its imports here (catalog/imports.py, notes/imports.py);
`console.bulk.sql` turns a spec into the set-based checks and merges. A new
rule on a column is one field of `Column`, its SQL one function in sql.py.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from django.db.models import Model

BLANK = "This field cannot be blank."


@dataclass(frozen=True)
class ByName:
    """A foreign key given in the file by the other row's unique name."""

    table: str  # the other model's table
    name_column: str  # its unique column the file names
    label: str  # "author": the words of "no author named 'X'"


@dataclass(frozen=True)
class Column:
    name: str  # the CSV header, and the model field's column unless db_column
    required: bool = False
    blank_message: str = BLANK
    max_length: int | None = None
    date: bool = False  # YYYY-MM-DD
    null_when_blank: bool = False  # a blank cell is NULL, not ""
    unique_as: str = ""  # unique in the table: "an author named"
    by_name: ByName | None = None
    db_column: str = ""

    @property
    def target(self) -> str:
        return self.db_column or self.name


@dataclass(frozen=True)
class ImportSpec:
    model: type[Model]
    columns: tuple[Column, ...]  # without "id", which every import may have
    insert_defaults: dict[str, str] = field(default_factory=dict)  # column: SQL

    @property
    def label(self) -> str:
        return self.model._meta.label_lower

    @property
    def table(self) -> str:
        return self.model._meta.db_table

    @property
    def verbose_name(self) -> str:
        return str(self.model._meta.verbose_name)

    @property
    def names(self) -> list[str]:
        """Every column a file may have, in the staging order (c1, c2, ...)."""
        return ["id", *(column.name for column in self.columns)]

    @property
    def required(self) -> list[str]:
        return [column.name for column in self.columns if column.required]

    @property
    def max_header_columns(self) -> int:
        """A header wider than this is refused before its names are looked
        at: room for every column twice over, and a few mistakes."""
        return 2 * len(self.names) + 8

    def header_problem(self, names: list[str]) -> str | None:
        """Why a (normalized) header cannot be imported, or None. Linear in
        the header (a 0.9 MB header of 100,000 names took a worker past its
        timeout when each name was counted in the whole header)."""
        layout = f"The columns are {','.join(self.names)}"
        if self.required:
            layout += f" ({', '.join(self.required)} required)"
        if not names:
            return f"The file is empty. Its first line must be the header. {layout}."
        if len(names) > self.max_header_columns:
            return (
                f"Wrong header on line 1: {len(names):,} columns, at most "
                f"{self.max_header_columns} are accepted. {layout}."
            )
        faults = []
        known, counts = set(self.names), Counter(names)
        if unknown := [name for name in names if name not in known]:
            faults.append("unknown " + _quoted(unknown))
        if missing := [name for name in self.required if name not in counts]:
            faults.append("missing " + _quoted(missing))
        if repeated := sorted(name for name, count in counts.items() if count > 1):
            faults.append("repeated " + _quoted(repeated))
        if faults:
            return f"Wrong header on line 1: {'; '.join(faults)}. {layout}."
        return None


def _quoted(names: list[str]) -> str:
    noun = "columns " if len(names) > 1 else "column "
    return noun + ", ".join(repr(name) for name in names)


_specs: dict[str, ImportSpec] = {}


def register(spec: ImportSpec) -> ImportSpec:
    _specs[spec.label] = spec
    return spec


def for_label(label: str) -> ImportSpec:
    """The spec of "app_label.model_name"; KeyError for a model without one."""
    return _specs[label]


def for_model(model: type[Model]) -> ImportSpec:
    return for_label(model._meta.label_lower)
