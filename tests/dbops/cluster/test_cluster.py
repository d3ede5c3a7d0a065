"""The test pair is a real primary with a real streaming replica."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connections

from dbops import routing
from dbops.cluster import FALLBACK_ROOT, Cluster


def _titles_on(alias: str) -> list[str]:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT title FROM probe_rows ORDER BY id")
        return [row[0] for row in cursor.fetchall()]


def test_pair_replicates_write_once_replayed(db, cluster):
    """A row written on `default` is read back on `replica` once replayed, and
    is missing there while replay is paused."""
    with connections["default"].cursor() as cursor:
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS probe_rows (id serial PRIMARY KEY, title text)"
        )
        cursor.execute("TRUNCATE probe_rows")
    cluster.wait_for_replay()
    cluster.pause_replay()
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute("INSERT INTO probe_rows (title) VALUES ('replicated')")
        assert _titles_on("default") == ["replicated"]
        assert _titles_on("replica") == []
    finally:
        cluster.resume_replay()
    cluster.wait_for_replay()
    assert _titles_on("replica") == ["replicated"]
    with connections["default"].cursor() as cursor:
        cursor.execute("DROP TABLE probe_rows")


def test_replica_is_a_hot_standby(db):
    """The `replica` alias is in recovery and refuses writes."""
    with connections["replica"].cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery()")
        assert cursor.fetchone()[0] is True


def test_cluster_root_unreachable_by_postgres_falls_back(tmp_path_factory):
    """Run as root from a checkout the `postgres` user cannot reach (under
    /root, mode 700), the pair keeps its data under /var/tmp and works."""
    if os.geteuid() != 0 or os.stat("/root").st_mode & 0o001:
        pytest.skip("needs root and a /root that others cannot traverse")
    root = Path("/root") / f"console-cluster-test-{os.getpid()}" / "pgcluster"
    pair = Cluster(root=root, primary_port=25710, replica_port=25711)
    try:
        assert pair.data_root.is_relative_to(FALLBACK_ROOT)
        pair.up()
        assert pair.execute("replica", "SELECT pg_is_in_recovery()") is True
    finally:
        pair.destroy()
        shutil.rmtree(root.parent, ignore_errors=True)
    assert not pair.data_root.exists()


def _status_of(cluster):
    return call_command(
        "pgcluster",
        "status",
        "--dir",
        str(cluster.root),
        "--primary-port",
        str(cluster.primary_port),
        "--replica-port",
        str(cluster.replica_port),
    )


def test_pgcluster_status_fails_while_the_replica_is_stopped(db, cluster, capsys):
    _status_of(cluster)
    assert "replica: running" in capsys.readouterr().out
    cluster.stop("replica")
    try:
        with pytest.raises(CommandError, match="replica stopped: `manage.py pgcl"):
            _status_of(cluster)
        assert "replica: stopped" in capsys.readouterr().out
    finally:
        cluster.start("replica")
        cluster.wait_until_ready("replica")
        routing.reset()
