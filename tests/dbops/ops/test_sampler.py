"""`manage.py dbops sample` (the lag history) and `manage.py dbops status`."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connections
from django.utils import timezone

from dbops import routing
from dbops.models import LagSample
from dbops.ops import replication


def test_sample_once_stores_one_sample_per_replica(db):
    call_command("dbops", "sample", "--once")
    [sample] = LagSample.objects.using("default").all()
    assert sample.alias == "replica"
    assert sample.reachable is True
    assert sample.lag_bytes is not None and sample.lag_seconds is not None


def test_sample_of_stopped_replica_is_stored_as_down(db, cluster):
    cluster.stop("replica")
    try:
        call_command("dbops", "sample", "--once")
    finally:
        cluster.start("replica")
        cluster.wait_until_ready("replica")
        routing.reset()
    [sample] = LagSample.objects.using("default").all()
    assert sample.reachable is False
    assert sample.lag_bytes is None


def test_sample_prunes_samples_past_retention(db):
    old = LagSample.objects.create(
        alias="replica",
        taken_at=timezone.now() - timedelta(hours=25),
        reachable=True,
    )
    call_command("dbops", "sample", "--once", "--keep-hours", "24")
    assert not LagSample.objects.using("default").filter(pk=old.pk).exists()
    assert LagSample.objects.using("default").count() == 1


def test_sample_queries_are_not_counted(db):
    """The sampler's probes are monitoring overhead, kept out of the totals."""
    from dbops.ops import metrics

    with metrics.request_tally() as tally:
        call_command("dbops", "sample", "--once")
    assert tally.queries == 0


def test_sample_loop_stops_cleanly_on_sigterm(db):
    """The loop started by `make run` ends at once, exit code 0, on SIGTERM."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    process = subprocess.Popen(
        [sys.executable, "manage.py", "dbops", "sample", "--every", "0.2"],
        cwd=settings.BASE_DIR,
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while LagSample.objects.using("default").count() < 2:
            assert time.monotonic() < deadline, "no samples from the loop"
            time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
    finally:
        if process.poll() is None:
            process.kill()


def test_lag_history_is_read_from_the_primary(db, cluster):
    """The history shows samples the paused replica has not replayed."""
    cluster.pause_replay()
    call_command("dbops", "sample", "--once")
    history = replication.lag_history()
    assert len(history["replica"]) == 1


def test_status_all_well_exits_zero(db, capsys):
    call_command("dbops", "status")
    out = capsys.readouterr().out
    assert "primary: up" in out
    assert "replica: up  replaying" in out
    assert "unapplied migrations: 0" in out
    assert "replica: has replayed the latest applied migration" in out


def test_status_replica_down_fails(db, cluster):
    cluster.stop("replica")
    try:
        with pytest.raises(CommandError, match="replica: down"):
            call_command("dbops", "status", "--no-model-check")
    finally:
        cluster.start("replica")
        cluster.wait_until_ready("replica")
        routing.reset()


def test_status_replica_over_lag_fails(db, cluster, settings, capsys):
    settings.REPLICA_MAX_LAG_BYTES = 1
    cluster.pause_replay()
    LagSample.objects.create(alias="w", taken_at=timezone.now(), reachable=True)
    with pytest.raises(CommandError, match="behind, limit"):
        call_command("dbops", "status", "--no-model-check")
    assert "paused" in capsys.readouterr().out


def test_status_exit_code_from_command_line(db, cluster):
    """From a shell the failure is a non-zero exit code."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    command = [sys.executable, "manage.py", "dbops", "status", "--no-model-check"]
    ok = subprocess.run(command, cwd=settings.BASE_DIR, env=env, capture_output=True)
    assert ok.returncode == 0, ok.stderr
    cluster.stop("replica")
    try:
        down = subprocess.run(
            command, cwd=settings.BASE_DIR, env=env, capture_output=True, text=True
        )
    finally:
        cluster.start("replica")
        cluster.wait_until_ready("replica")
        routing.reset()
    assert down.returncode != 0
    assert "replica: down" in down.stderr


def _status_with_primary(url: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "CONSOLE_TEST_DATABASE_URL": url,
    }
    command = [sys.executable, "manage.py", "dbops", "status", "--no-model-check"]
    return subprocess.run(
        command,
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_status_with_the_primary_unreachable_says_so_and_lists_no_migrations(db):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]  # closed again: nothing listens there
    name = connections["default"].settings_dict["NAME"]
    down = _status_with_primary(f"postgres://postgres@127.0.0.1:{dead}/{name}")
    assert down.returncode == 1
    assert "primary: DOWN" in down.stdout
    assert "Connection refused" in down.stdout
    assert "wal=None" not in down.stdout
    assert "unapplied migrations" not in down.stdout
    assert "has replayed the latest applied migration" not in down.stdout
    assert "migrations: not checked" in down.stdout
    assert "Traceback" not in down.stderr


def test_status_with_a_replica_named_as_the_primary_says_so(db):
    replica = connections["replica"].settings_dict
    url = f"postgres://postgres@{replica['HOST']}:{replica['PORT']}/{replica['NAME']}"
    wrong = _status_with_primary(url)
    assert wrong.returncode == 1
    assert "primary: WRONG SERVER" in wrong.stdout
    assert "DATABASE_URL must name the primary" in wrong.stdout
    assert "primary: DOWN" not in wrong.stdout
    assert "unapplied migrations" not in wrong.stdout
