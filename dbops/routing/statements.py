"""Telling reads from writes by the statement's first keyword."""

from __future__ import annotations

import re

# Statements that never change data. Everything else (INSERT, UPDATE,
# DELETE, DDL, TRUNCATE, COPY ... FROM, WITH ... which may hide a write)
# counts as a write: a false "write" costs one WAL-position query and pins
# the client to the primary, a missed one a stale page.
_READ_KEYWORDS = frozenset(
    {
        "SELECT",
        "SHOW",
        "SET",
        "EXPLAIN",
        "BEGIN",
        "COMMIT",
        "ROLLBACK",
        "SAVEPOINT",
        "RELEASE",
        "DECLARE",
        "FETCH",
        "CLOSE",
        "VALUES",
    }
)


def first_keyword(sql: str) -> str:
    return sql.lstrip(" \t\r\n(").split(None, 1)[0].upper() if sql.strip() else ""


# An export: COPY (SELECT ...) TO STDOUT reads.
_COPY_OF_SELECT = re.compile(r"\s*COPY\s*\(\s*SELECT\b", re.IGNORECASE)


def is_write(sql: str) -> bool:
    if _COPY_OF_SELECT.match(sql):
        return False
    return first_keyword(sql) not in _READ_KEYWORDS
