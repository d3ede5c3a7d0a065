"""A real multi-worker server on the test pair, and a bounded load against it.

Drills and browser tests need what the Django test client cannot give: real
worker processes with persistent connections that break when a server is
stopped, and concurrent clients.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import requests

PROJECT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """gunicorn with `workers` processes, serving the test database."""

    def __init__(self, log_path: Path, workers: int = 2, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.workers = workers
        self.env = env
        self.process: subprocess.Popen | None = None

    def start(self) -> LiveServer:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            # gunicorn clears its metrics directory on start: a directory of
            # its own keeps the test process's counter files intact.
            "PROMETHEUS_MULTIPROC_DIR": str(self.log_path.parent / "metrics"),
            # Production's shared replica state, not the in-process tests' 0.
            "REPLICA_CHECK_INTERVAL": "1",
            **self.env,
        }
        command = [
            sys.executable, "-m", "gunicorn", "console.wsgi:application",
            "--bind", f"127.0.0.1:{self.port}",
            "--workers", str(self.workers),
            "--timeout", "30",
            "--graceful-timeout", "5",
        ]  # fmt: skip
        self._log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            command, cwd=PROJECT, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )
        try:
            self._wait_until_serving()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_until_serving(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url + "/healthz", timeout=5).status_code == 200:
                    return
            except requests.RequestException:  # not listening, or still booting
                pass
            time.sleep(0.1)
        raise RuntimeError(f"gunicorn did not start:\n{self.log_path.read_text()}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)
        self._log.close()

    def request_log(self) -> list[dict]:
        """The JSON request lines the server logged so far."""
        return self._json_lines("dbops.requests")

    def routing_events(self) -> list[dict]:
        """The JSON routing events (replica down/up, failovers) so far."""
        return self._json_lines("dbops.routing")

    def _json_lines(self, logger: str) -> list[dict]:
        marker = f'"logger": "{logger}"'
        return [
            json.loads(line)
            for line in self.log_path.read_text().splitlines()
            if line.startswith("{") and marker in line
        ]


def staff_session(base_url: str, username: str, password: str) -> requests.Session:
    session = requests.Session()
    session.get(f"{base_url}/admin/login/", timeout=10)
    response = session.post(
        f"{base_url}/admin/login/?next=/admin/",
        data={
            "username": username,
            "password": password,
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
            "next": "/admin/",
        },
        allow_redirects=False,
        timeout=10,
    )
    if response.status_code != 302:
        raise RuntimeError(f"login failed: {response.status_code}")
    return session


def browser_login(page, base_url: str, username: str, password: str) -> None:
    """Log a Playwright page in through the admin's login form."""
    page.goto(f"{base_url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/admin/")
    page.base_url = base_url


@dataclass
class LoadResult:
    requests: int = 0
    server_errors: list[str] = field(default_factory=list)
    connection_errors: list[str] = field(default_factory=list)
    stale_reads: list[str] = field(default_factory=list)
    acknowledged: list[str] = field(default_factory=list)
    timeline: list[tuple[float, int]] = field(default_factory=list)
    # (seconds since the start, status) of each acknowledged write (a 302).
    writes: list[tuple[float, int]] = field(default_factory=list)
    # (label, status or 0 for no response, seconds) of every request.
    durations: list[tuple[str, int, float]] = field(default_factory=list)

    def slowest(self, prefix: str = "") -> float:
        return max(
            (
                seconds
                for label, _, seconds in self.durations
                if label.startswith(prefix)
            ),
            default=0.0,
        )


class Load:
    """`clients` staff users, each in a loop: write a note, read the notes
    list and check the note is on it (read-your-writes), read a changelist.

    Bounded by `seconds` and `max_requests` per client; errors are recorded,
    not raised.
    """

    def __init__(self, base_url: str, sessions: list[requests.Session], seconds: float,
                 max_requests: int = 2000) -> None:  # fmt: skip
        self.base_url = base_url
        self.sessions = sessions
        self.seconds = seconds
        self.max_requests = max_requests
        self.result = LoadResult()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._stopped = threading.Event()

    def start(self) -> Load:
        self._started = time.monotonic()
        for session in self.sessions:
            thread = threading.Thread(target=self._client, args=(session,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> LoadResult:
        """End the load before its time: each client finishes its round."""
        self._stopped.set()
        return self.join()

    def join(self) -> LoadResult:
        for thread in self._threads:
            thread.join(timeout=self.seconds + 60)
        return self.result

    def _record(self, label: str, response: requests.Response | None) -> bool:
        with self._lock:
            self.result.requests += 1
            now = time.monotonic() - self._started
            took = response.elapsed.total_seconds() if response is not None else 0.0
            status = response.status_code if response is not None else 0
            self.result.durations.append((label, status, took))
            if response is None:
                self.result.connection_errors.append(f"{now:.1f}s {label}")
                return False
            self.result.timeline.append((now, response.status_code))
            if response.status_code >= 500:
                self.result.server_errors.append(
                    f"{now:.1f}s {label} {response.status_code}"
                )
                return False
        return True

    def _call(self, session, method: str, path: str, **kwargs):
        try:
            return session.request(
                method,
                self.base_url + path,
                timeout=15,
                allow_redirects=False,
                **kwargs,
            )
        except requests.RequestException:
            return None

    def _client(self, session: requests.Session) -> None:
        deadline = self._started + self.seconds
        for _ in range(self.max_requests):
            if time.monotonic() > deadline or self._stopped.is_set():
                return
            title = f"drill {uuid.uuid4().hex[:12]}"
            response = self._call(
                session, "POST", "/notes/create/",
                data={"title": title, "content": "written under load"},
                headers={"X-CSRFToken": session.cookies.get("csrftoken", "")},
            )  # fmt: skip
            if (
                self._record("POST /notes/create/", response)
                and response.status_code == 302
            ):
                with self._lock:
                    self.result.acknowledged.append(title)
                    self.result.writes.append(
                        (time.monotonic() - self._started, response.status_code)
                    )
                listing = self._call(session, "GET", "/notes/")
                if self._record("GET /notes/", listing) and listing.status_code == 200:
                    if title not in listing.text:
                        with self._lock:
                            self.result.stale_reads.append(title)
            changelist = self._call(session, "GET", "/admin/catalog/author/")
            self._record("GET /admin/catalog/author/", changelist)
