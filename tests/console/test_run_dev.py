"""A second `make run` beside a serving one refuses at once, touching nothing.

It used to run the setup again, delete the live server's query counter
files, fail on the port and exit 0.
"""

from __future__ import annotations

import fcntl
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.live import PROJECT

SCRIPT = PROJECT / "scripts" / "run-dev.sh"


@pytest.fixture
def serving(tmp_path):
    """What a running console holds: its lock, its address, its counters."""
    lock = tmp_path / "run-dev.lock"
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    counters = metrics / "counter_4242.db"
    counters.write_bytes(b"the live server's counts")
    with open(lock, "a") as held, socket.socket() as listening:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        host, port = listening.getsockname()
        env = {
            **os.environ,
            "CONSOLE_RUN_LOCK": str(lock),
            "PROMETHEUS_MULTIPROC_DIR": str(metrics),
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "PY": sys.executable,
        }
        yield env, f"{host}:{port}", counters


def start(env, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_a_second_start_is_refused_and_the_counters_stay(serving):
    env, address, counters = serving
    second = start(env, "runserver", address)
    assert second.returncode == 1
    assert "already running from this checkout" in second.stderr
    assert counters.read_bytes() == b"the live server's counts"


def test_make_run_refuses_before_its_setup(serving):
    env, _, counters = serving
    second = subprocess.run(
        ["make", "--no-print-directory", "run"],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode != 0
    assert "already running" in second.stderr
    assert "pgcluster" not in second.stdout  # the setup never started
    assert counters.read_bytes() == b"the live server's counts"


def test_an_address_in_use_is_refused(serving, tmp_path):
    env, address, _ = serving
    env = {**env, "CONSOLE_RUN_LOCK": str(tmp_path / "free.lock")}
    taken = start(env, "--check", "runserver", address)
    assert taken.returncode == 1
    assert f"{address} is in use by another program" in taken.stderr


def test_a_free_checkout_and_address_pass_the_check(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{probe.getsockname()[1]}"
    env = {**os.environ, "CONSOLE_RUN_LOCK": str(tmp_path / "run-dev.lock")}
    assert start(env, "--check", "runserver", address).returncode == 0
    assert Path(tmp_path / "run-dev.lock").exists()
