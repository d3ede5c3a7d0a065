"""The local PostgreSQL primary and streaming hot-standby replicas.

The console is about a primary with read replicas, so development and the
test suite run against a real pair rather than a mock: a primary and a
replica made with `pg_basebackup`, streaming over a physical replication
slot, both on loopback. This module makes, starts, stops and inspects such a
pair from the PostgreSQL server binaries on the machine. It has no Django
dependency so that the test suite can start a pair before Django connects.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import psycopg2

from dbops.cluster.binaries import (
    FALLBACK_ROOT,
    ClusterError,
    as_postgres,
    faketime_library,
    find_bindir,
    postgres_can_reach,
)

# Loaded in every server of the pair: PostgreSQL's statement statistics.
PRELOAD = "pg_stat_statements"


@dataclass(frozen=True)
class Cluster:
    root: Path
    primary_port: int = 55432
    replica_port: int = 55433  # the first replica's; the next ones count up
    replicas: int = 1
    database: str = "console"
    host: str = "127.0.0.1"
    user: str = "postgres"

    # --- paths and URLs -------------------------------------------------

    @property
    def replica_roles(self) -> list[str]:
        """`replica`, `replica_2`, ...: the same names as the Django aliases."""
        return [
            "replica" if n == 1 else f"replica_{n}" for n in range(1, self.replicas + 1)
        ]

    @property
    def roles(self) -> list[str]:
        return ["primary", *self.replica_roles]

    @cached_property
    def data_root(self) -> Path:
        """Where the servers' files live: `root`, unless the `postgres` user
        (which runs the servers when this runs as root) cannot reach it, as
        in a checkout under /root; then a directory of its own under
        /var/tmp, named after `root` so that each checkout keeps its own."""
        root = Path(self.root).resolve()
        if os.geteuid() != 0 or postgres_can_reach(root):
            return root
        digest = hashlib.sha1(str(root).encode()).hexdigest()[:12]
        return FALLBACK_ROOT / digest

    def datadir(self, role: str) -> Path:
        return self.data_root / role

    def port(self, role: str) -> int:
        if role == "primary":
            return self.primary_port
        return self.replica_port + self.replica_roles.index(role)

    def url(self, role: str, database: str | None = None) -> str:
        name = database or self.database
        return f"postgres://{self.user}@{self.host}:{self.port(role)}/{name}"

    # --- commands ---------------------------------------------------------

    def up(self) -> None:
        """Make the pair on first use and start whatever is not running."""
        self._prepare_root()
        if not (self.datadir("primary") / "PG_VERSION").exists():
            self._init_primary()
        self._ensure_preloaded("primary")
        self.start("primary")
        self._ensure_database()
        for role in self.replica_roles:
            if not (self.datadir(role) / "PG_VERSION").exists():
                self._init_replica(role)
            self._ensure_preloaded(role)
            self.start(role)
            self.wait_until_ready(role)

    def down(self) -> None:
        for role in reversed(self.roles):
            self.stop(role)

    def destroy(self) -> None:
        """Stop the pair and delete its data directories."""
        self.down()
        shutil.rmtree(self.data_root, ignore_errors=True)
        shutil.rmtree(self.root, ignore_errors=True)

    def start(self, role: str) -> None:
        if self.is_running(role):
            return
        self._pg_ctl(role, "start", "-w", "-t", "60", "-l", str(self._logfile(role)))

    def stop(self, role: str, mode: str = "fast") -> None:
        if self.is_running(role):
            self._pg_ctl(role, "stop", "-w", "-t", "60", "-m", mode)

    def restart(self, role: str) -> None:
        self._pg_ctl(
            role,
            "restart",
            "-w",
            "-t",
            "60",
            "-m",
            "fast",
            "-l",
            str(self._logfile(role)),
        )

    def is_running(self, role: str) -> bool:
        if not (self.datadir(role) / "PG_VERSION").exists():
            return False
        result = self._run(
            as_postgres()
            + [str(find_bindir() / "pg_ctl"), "-D", str(self.datadir(role)), "status"],
            check=False,
        )
        return result.returncode == 0

    def pause_replay(self, role: str = "replica") -> None:
        self.execute(role, "SELECT pg_wal_replay_pause()")

    def resume_replay(self, role: str = "replica") -> None:
        self.execute(role, "SELECT pg_wal_replay_resume()")

    # --- faults, made the way they happen (drills and tests) ----------------

    @contextmanager
    def frozen(self, role: str) -> Iterator[None]:
        """Every process of the server stopped with SIGSTOP for the block,
        and continued in any case: a stalled disk, a paused VM, or a dead
        host whose connections stay open look like this to a client."""
        pids = self._server_pids(role)
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGCONT)
                except ProcessLookupError:
                    pass

    def _server_pids(self, role: str) -> list[int]:
        postmaster = int(
            (self.datadir(role) / "postmaster.pid").read_text().splitlines()[0]
        )
        children = subprocess.run(
            ["pgrep", "-P", str(postmaster)], capture_output=True, text=True
        ).stdout.split()
        return [postmaster, *map(int, children)]

    @contextmanager
    def clock_skewed(self, role: str, offset: str) -> Iterator[None]:
        """The server restarted under libfaketime with its clock `offset`
        away (`"-30s"`: 30 s slow) for the block, and restarted on the true
        clock in any case: a host whose NTP has drifted or stepped. Only the
        wall clock moves, as NTP moves it (DONT_FAKE_MONOTONIC)."""
        preload = faketime_library()
        self.stop(role)
        try:
            self._pg_ctl(
                role, "start", "-w", "-t", "60", "-l", str(self._logfile(role)),
                env={
                    **os.environ,
                    "LD_PRELOAD": preload,
                    "FAKETIME": offset,
                    "DONT_FAKE_MONOTONIC": "1",
                },
            )  # fmt: skip
            self.wait_until_ready(role)
            yield
        finally:
            self.stop(role)
            self.start(role)
            self.wait_until_ready(role)

    @contextmanager
    def cut_off(self, role: str) -> Iterator[None]:
        """The replica's `primary_conninfo` pointed at a dead port for the
        block: it keeps serving what it has, and receives nothing new."""
        original = self.execute(role, "SHOW primary_conninfo")
        dead = f"host={self.host} port=1 user={self.user} connect_timeout=1"
        self._set_primary_conninfo(role, dead)
        try:
            self._wait_until(
                lambda: (
                    not self.execute(
                        role,
                        "SELECT count(*) FROM pg_stat_wal_receiver"
                        " WHERE status = 'streaming'",
                    )
                ),
                f"{role} still streams after its primary_conninfo was cut",
            )
            yield
        finally:
            self._set_primary_conninfo(role, str(original))

    def _set_primary_conninfo(self, role: str, conninfo: str) -> None:
        quoted = conninfo.replace("'", "''")
        self.execute(role, f"ALTER SYSTEM SET primary_conninfo = '{quoted}'")
        self.execute(role, "SELECT pg_reload_conf()")

    def follow(self, role: str, primary: str) -> None:
        """Point the replica `role` at another server that is primary now,
        as a failover manager does after a promotion."""
        # Its replication slot was on the old primary: make it on the new.
        slot = f"console_{role}"
        self.execute(
            primary,
            f"SELECT pg_create_physical_replication_slot('{slot}') WHERE NOT EXISTS "
            f"(SELECT FROM pg_replication_slots WHERE slot_name = '{slot}')",
        )
        conninfo = f"host={self.host} port={self.port(primary)} user={self.user}"
        self._set_primary_conninfo(role, conninfo)

    def promote(self, role: str) -> None:
        """Make the replica a primary of its own (`rebuild` undoes it)."""
        self.execute(role, "SELECT pg_promote(wait => true)")

    def rebuild(self, role: str) -> None:
        """A new replica in place of `role` (after a promotion), streaming."""
        self.stop(role, mode="immediate")
        self._init_replica(role)
        self.start(role)
        self.wait_until_ready(role)
        self.wait_for_replay(role)

    def set_replica_conf(self, role: str, name: str, value: str | None) -> None:
        """ALTER SYSTEM on a running server (None resets), then reload."""
        if value is None:
            self.execute(role, f"ALTER SYSTEM RESET {name}")
        else:
            self.execute(role, f"ALTER SYSTEM SET {name} = '{value}'")
        self.execute(role, "SELECT pg_reload_conf()")

    def _wait_until(self, condition, failure: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise ClusterError(failure)
            time.sleep(0.05)

    def status(self) -> dict[str, dict[str, object]]:
        """Running state, URL and (when running) replication state per role."""
        report: dict[str, dict[str, object]] = {}
        for role in self.roles:
            running = self.is_running(role)
            entry: dict[str, object] = {"running": running, "url": self.url(role)}
            if running and role == "primary":
                entry["wal_lsn"] = self.execute(role, "SELECT pg_current_wal_lsn()")
            if running and role != "primary":
                entry["replay_lsn"] = self.execute(
                    role, "SELECT pg_last_wal_replay_lsn()"
                )
                entry["replay_paused"] = self.execute(
                    role, "SELECT pg_is_wal_replay_paused()"
                )
            report[role] = entry
        return report

    def execute(self, role: str, sql: str, database: str = "postgres") -> object:
        """Run one statement in autocommit and return the first column of the
        first row (or None)."""
        # Not `with conn:`, which opens a transaction even in autocommit mode
        # and would refuse CREATE DATABASE.
        conn = psycopg2.connect(self.url(role, database), connect_timeout=5)
        try:
            conn.autocommit = True
            with conn.cursor() as cursor:
                cursor.execute(sql)
                row = cursor.fetchone() if cursor.description else None
        finally:
            conn.close()
        return row[0] if row else None

    def wait_until_ready(self, role: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.execute(role, "SELECT 1")
                return
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def wait_for_replay(self, role: str = "replica", timeout: float = 30.0) -> None:
        """Block until the replica has replayed everything the primary wrote."""
        self._wait_for_position(role, "pg_last_wal_replay_lsn()", timeout)

    def wait_for_receive(self, role: str = "replica", timeout: float = 30.0) -> None:
        """Block until the replica has received (not necessarily replayed)
        everything the primary wrote: how a paused replica's lag shows."""
        self._wait_for_position(role, "pg_last_wal_receive_lsn()", timeout)

    def wait_for_replay_from(
        self, primary: str, role: str, timeout: float = 30.0
    ) -> None:
        """Like `wait_for_replay`, against another server that is primary
        now (after a promotion)."""
        self._wait_for_position(role, "pg_last_wal_replay_lsn()", timeout, primary)

    def _wait_for_position(
        self, role: str, position_sql: str, timeout: float, primary: str = "primary"
    ) -> None:
        target = self.execute(primary, "SELECT pg_current_wal_lsn()")
        deadline = time.monotonic() + timeout
        while True:
            caught_up = self.execute(
                role,
                f"SELECT {position_sql} >= '{target}'::pg_lsn",
            )
            if caught_up:
                return
            if time.monotonic() > deadline:
                raise ClusterError(f"{role} did not replay {target} in {timeout}s")
            time.sleep(0.02)

    # --- making the pair --------------------------------------------------

    def _prepare_root(self) -> None:
        root = self.data_root
        root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(root, "postgres", "postgres")

    def _init_primary(self) -> None:
        datadir = self.datadir("primary")
        self._run(
            as_postgres()
            + [
                str(find_bindir() / "initdb"),
                "-D",
                str(datadir),
                "-U",
                self.user,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ]
        )
        self._append_conf(
            "primary",
            {
                "port": self.primary_port,
                "listen_addresses": f"'{self.host}'",
                "unix_socket_directories": "''",
                "wal_level": "replica",
                "max_wal_senders": 10,
                "max_replication_slots": 10,
                # A paused or stopped replica holds WAL through its slot; cap
                # it so that a forgotten pause cannot fill the disk.
                "max_slot_wal_keep_size": "'4GB'",
                "hot_standby": "on",
                # Readers on the replica (long exports) must not be cancelled
                # by vacuum on the primary.
                "hot_standby_feedback": "on",
                "max_connections": 200,
                "shared_buffers": "'256MB'",
                "logging_collector": "off",
                # The Statements page's source (dbops/ops/server_statements.py).
                "shared_preload_libraries": f"'{PRELOAD}'",
            },
        )

    def _ensure_preloaded(self, role: str) -> None:
        """The libraries of PRELOAD in a server made before they were added
        (a pair from an older checkout): added, and a running server
        restarted, since they load only at start."""
        conf = self.datadir(role) / "postgresql.conf"
        if PRELOAD in conf.read_text():
            return
        self._append_conf(role, {"shared_preload_libraries": f"'{PRELOAD}'"})
        if self.is_running(role):
            self.restart(role)

    def _init_replica(self, role: str) -> None:
        datadir = self.datadir(role)
        slot = f"console_{role}"
        exists = self.execute(
            "primary",
            f"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{slot}'",
        )
        if exists:
            self.execute("primary", f"SELECT pg_drop_replication_slot('{slot}')")
        shutil.rmtree(datadir, ignore_errors=True)
        self._run(
            as_postgres()
            + [
                str(find_bindir() / "pg_basebackup"),
                "-h",
                self.host,
                "-p",
                str(self.primary_port),
                "-U",
                self.user,
                "-D",
                str(datadir),
                "--write-recovery-conf",
                "--wal-method=stream",
                "--create-slot",
                f"--slot={slot}",
                "--checkpoint=fast",
                "--no-sync",
            ]
        )
        self._append_conf(role, {"port": self.port(role)})

    def _ensure_database(self) -> None:
        exists = self.execute(
            "primary",
            f"SELECT count(*) FROM pg_database WHERE datname = '{self.database}'",
        )
        if not exists:
            self.execute("primary", f'CREATE DATABASE "{self.database}"')

    def _append_conf(self, role: str, settings: dict[str, object]) -> None:
        conf = self.datadir(role) / "postgresql.conf"
        lines = "".join(f"{key} = {value}\n" for key, value in settings.items())
        with open(conf, "a") as handle:
            handle.write("\n# Added by the console's pgcluster command\n" + lines)

    def _logfile(self, role: str) -> Path:
        return self.data_root / f"{role}.log"

    def _pg_ctl(self, role: str, *args: str, env: dict[str, str] | None = None) -> None:
        self._run(
            as_postgres()
            + [str(find_bindir() / "pg_ctl"), "-D", str(self.datadir(role)), *args],
            env=env,
        )

    def _run(
        self,
        command: list[str],
        check: bool = True,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess:
        result = subprocess.run(command, capture_output=True, text=True, env=env)
        if check and result.returncode != 0:
            detail = (result.stderr or result.stdout).strip()
            raise ClusterError(f"{' '.join(command)} failed: {detail}")
        return result
