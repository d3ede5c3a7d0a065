"""A PgBouncer in front of the local cluster's servers."""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg2

from dbops.cluster.binaries import ClusterError, as_postgres
from dbops.cluster.pair import Cluster


@dataclass(frozen=True)
class Pooler:
    """A PgBouncer in transaction-pooling mode in front of a cluster's
    servers, one pooled database per server (named after its role), as a
    deployment puts one in front of the primary and each replica.

    Its timeouts are short on purpose: a client must hear of a server that
    is down in seconds (PgBouncer's defaults queue it for two minutes).
    """

    cluster: Cluster
    port: int

    @property
    def root(self) -> Path:
        return self.cluster.data_root / "pgbouncer"

    def url(self, role: str) -> str:
        return f"postgres://{self.cluster.user}@{self.cluster.host}:{self.port}/{role}"

    def up(self) -> None:
        if self.is_running():
            return
        self.root.mkdir(parents=True, exist_ok=True)
        config = self.root / "pgbouncer.ini"
        config.write_text(self._config())
        (self.root / "userlist.txt").write_text(f'"{self.cluster.user}" ""\n')
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            shutil.chown(config, "postgres", "postgres")
        binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
        if not Path(binary).exists():
            raise ClusterError(
                "pgbouncer was not found: install it with `apt-get install -y "
                "pgbouncer` (make test does so as root)."
            )
        self.cluster._run(as_postgres() + [binary, "-d", str(config)])
        self.cluster._wait_until(
            self.is_running, f"pgbouncer did not start; see {self.root}/pgbouncer.log"
        )

    def down(self) -> None:
        pid = self._pid()
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        self.cluster._wait_until(lambda: not self.is_running(), "pgbouncer runs on")

    def is_running(self) -> bool:
        pid = self._pid()
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True

    def wait_until_serving(self, timeout: float = 30.0) -> None:
        """Until every running server answers through the pooler again (after
        a restart it retries a failed server login only every second)."""
        for role in self.cluster.roles:
            if self.cluster.is_running(role):
                self.cluster._wait_until(
                    lambda role=role: self._answers(role),
                    f"{role} does not answer through pgbouncer",
                    timeout,
                )

    def _answers(self, role: str) -> bool:
        try:
            conn = psycopg2.connect(self.url(role), connect_timeout=2)
        except psycopg2.Error:
            return False
        try:
            with conn.cursor() as cursor:
                cursor.execute("SELECT 1")
            return True
        except psycopg2.Error:
            return False
        finally:
            conn.close()

    @contextmanager
    def paused(self, role: str) -> Iterator[None]:
        """PgBouncer's PAUSE of `role`'s database for the block (RESUME in
        any case): clients' queries queue in the pooler, as during a
        switchover, and the server looks hung to them."""
        admin = psycopg2.connect(
            host=self.cluster.host,
            port=self.port,
            user=self.cluster.user,
            dbname="pgbouncer",
            connect_timeout=5,
        )
        admin.autocommit = True
        try:
            with admin.cursor() as cursor:
                cursor.execute(f"PAUSE {role}")
            yield
        finally:
            with admin.cursor() as cursor:
                cursor.execute(f"RESUME {role}")
            admin.close()

    def _pid(self) -> int | None:
        try:
            return int((self.root / "pgbouncer.pid").read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def _config(self) -> str:
        c = self.cluster
        databases = "".join(
            f"{role} = host={c.host} port={c.port(role)} dbname={c.database}\n"
            for role in c.roles
        )
        return (
            "[databases]\n"
            + databases
            + "\n[pgbouncer]\n"
            + f"listen_addr = {c.host}\n"
            + f"listen_port = {self.port}\n"
            + "unix_socket_dir =\n"
            + "auth_type = trust\n"
            # The admin console (PAUSE, RESUME) for the drills.
            + f"admin_users = {c.user}\n"
            + f"auth_file = {self.root}/userlist.txt\n"
            + "pool_mode = transaction\n"
            + "max_client_conn = 500\n"
            + "default_pool_size = 20\n"
            + f"logfile = {self.root}/pgbouncer.log\n"
            + f"pidfile = {self.root}/pgbouncer.pid\n"
            + "server_connect_timeout = 2\n"
            + "server_login_retry = 1\n"
            + "query_wait_timeout = 5\n"
            + "server_check_delay = 1\n"
            + "ignore_startup_parameters = extra_float_digits\n"
        )
