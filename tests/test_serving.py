"""gunicorn.conf.py: the real server starts with it and serves the console.

One gunicorn (one worker, a free loopback port, no database needed) serves
/healthz and a collectstatic'd file through whitenoise, the way `make serve`
does; the hooks and the environment knobs are checked on the config module
itself.
"""

from __future__ import annotations

import json
import os
import runpy
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests

PROJECT = Path(__file__).resolve().parent.parent
CONFIG = PROJECT / "gunicorn.conf.py"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def load_config(monkeypatch, **env: str) -> dict:
    """The config module's namespace, read under exactly these variables."""
    for name in ("BIND", "WEB_CONCURRENCY", "PROMETHEUS_MULTIPROC_DIR"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(CONFIG))


def wait_until_serving(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}")
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            # Not listening yet, or a worker still loading the app (a busy
            # machine takes longer than the second: a read timeout).
            time.sleep(0.1)
    raise TimeoutError(f"gunicorn did not answer {url} within 30s")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """gunicorn started with the config, static files collected, one stale
    metrics file left over from an "earlier server"."""
    root = tmp_path_factory.mktemp("serving")
    metrics = root / "metrics"
    metrics.mkdir()
    (metrics / "counter_4242.db").write_bytes(b"stale")
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.serving_settings",
        "SERVING_STATIC_ROOT": str(root / "static"),
        "ENV_FILE": "/dev/null",
        "DEBUG": "0",
        "BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "1",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics),
    }
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=PROJECT,
        env=env,
        check=True,
    )
    log = root / "gunicorn.log"
    with open(log, "w") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(CONFIG)],
            cwd=PROJECT,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(f"{url}/healthz", process)
        yield SimpleNamespace(url=url, log=log, root=root, metrics=metrics)
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_serving_healthz_answers(server):
    """/healthz answers 200 with JSON from a gunicorn worker."""
    response = requests.get(f"{server.url}/healthz", timeout=5)

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")


def test_serving_static_file_by_whitenoise(server):
    """A collected, hashed static file is served compressed and cached forever."""
    manifest = (server.root / "static" / "staticfiles.json").read_text()
    hashed = json.loads(manifest)["paths"]["admin/css/base.css"]

    response = requests.get(
        f"{server.url}/static/{hashed}",
        headers={"Accept-Encoding": "gzip"},
        timeout=5,
    )

    assert response.status_code == 200
    assert "immutable" in response.headers["Cache-Control"]
    assert response.headers["Content-Encoding"] == "gzip"
    assert "body" in response.text


def test_serving_access_log_on_stdout(server):
    """Each request is logged with its path, status and time in milliseconds."""
    requests.get(f"{server.url}/healthz?logged=1", timeout=5)
    time.sleep(0.2)

    lines = server.log.read_text().splitlines()

    assert any('"GET /healthz?logged=1 HTTP/1.1" 200' in line for line in lines)
    assert any(line.endswith("ms") and "logged=1" in line for line in lines)


def test_serving_stale_metrics_cleared_on_start(server):
    """Metrics files of an earlier server are gone once the new one starts."""
    assert not (server.metrics / "counter_4242.db").exists()


def test_config_defaults_from_cpus(monkeypatch):
    """Without variables: loopback port 8000, 2 x CPUs + 1 workers, and the
    metrics directory the settings default to (workers inherit it)."""
    config = load_config(monkeypatch)

    assert config["bind"] == ["127.0.0.1:8000"]
    assert config["workers"] == 2 * len(os.sched_getaffinity(0)) + 1
    assert config["wsgi_app"] == "console.wsgi:application"
    assert config["accesslog"] == "-"
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(PROJECT / "var" / "metrics")


def test_config_bind_and_workers_from_env(monkeypatch):
    """BIND and WEB_CONCURRENCY override the defaults."""
    config = load_config(monkeypatch, BIND="0.0.0.0:9000", WEB_CONCURRENCY="3")

    assert config["bind"] == ["0.0.0.0:9000"]
    assert config["workers"] == 3


def test_config_child_exit_marks_worker_dead(monkeypatch, tmp_path):
    """A dead worker's live gauges are removed; other files stay."""
    config = load_config(monkeypatch, PROMETHEUS_MULTIPROC_DIR=str(tmp_path))
    live = tmp_path / "gauge_livesum_1234.db"
    other = tmp_path / "counter_1234.db"
    live.write_bytes(b"")
    other.write_bytes(b"")

    config["child_exit"](None, SimpleNamespace(pid=1234))

    assert not live.exists()
    assert other.exists()


def test_config_hooks_with_metrics_dir_off(monkeypatch):
    """With PROMETHEUS_MULTIPROC_DIR empty the hooks do nothing and do not fail."""
    config = load_config(monkeypatch, PROMETHEUS_MULTIPROC_DIR="")

    config["on_starting"](None)
    config["child_exit"](None, SimpleNamespace(pid=1234))


def test_config_on_starting_clears_counters_and_reset_baseline(monkeypatch, tmp_path):
    """A new server counts from zero: the old counter files and the queries
    page's reset baseline both go, or the old baseline would be subtracted
    from the new totals."""
    from dbops.ops.metrics import BASELINE_FILE

    config = load_config(monkeypatch, PROMETHEUS_MULTIPROC_DIR=str(tmp_path))
    (tmp_path / "counter_1234.db").write_bytes(b"")
    (tmp_path / BASELINE_FILE).write_text("{}")

    config["on_starting"](None)

    assert list(tmp_path.iterdir()) == []
