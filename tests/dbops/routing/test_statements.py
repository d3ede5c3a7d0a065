"""Which statements move a client's write position."""

import pytest

from dbops.routing.statements import is_write


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1",
        "  (SELECT 1) UNION (SELECT 2)",
        'COPY (SELECT "catalog_book"."title" FROM "catalog_book") TO STDOUT',
        "copy ( select 1 ) to stdout with (format csv)",
        "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ",
    ],
)
def test_reads(sql):
    assert not is_write(sql)


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO t VALUES (1)",
        "COPY bulk_stagedrow FROM STDIN WITH (FORMAT csv)",
        "COPY (INSERT INTO t VALUES (1) RETURNING id) TO STDOUT",
        "WITH gone AS (DELETE FROM t RETURNING id) SELECT count(*) FROM gone",
        "TRUNCATE t",
    ],
)
def test_writes(sql):
    assert is_write(sql)
