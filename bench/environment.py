"""The benchmarks' own database pair and the environment that points at it.

Everything here runs before Django is set up: the settings read the
database URLs from the environment once, at import.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from dbops.cluster import Cluster

PROJECT = Path(__file__).resolve().parent.parent
CLUSTER_ROOT = PROJECT / "var" / "pgcluster-bench"
WORK_DIR = PROJECT / "var" / "bench"  # logs and metrics files of a run
PRIMARY_PORT = 55452
REPLICA_PORT = 55453
DATABASE = "console"


def bench_cluster() -> Cluster:
    return Cluster(
        root=CLUSTER_ROOT,
        primary_port=PRIMARY_PORT,
        replica_port=REPLICA_PORT,
        database=DATABASE,
    )


def configure(cluster: Cluster) -> None:
    """Point this process (and the servers it starts) at the bench pair,
    with production's settings: DEBUG off, the manifest static files."""
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    metrics = WORK_DIR / "metrics"
    metrics.mkdir(exist_ok=True)
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "console.settings",
            "DATABASE_URL": cluster.url("primary"),
            "DATABASE_REPLICA_URLS": cluster.url("replica"),
            "DEBUG": "0",
            # Plain http on loopback: no redirect to https, no secure cookies.
            "HTTPS": "0",
            "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
            "LOG_LEVEL": "WARNING",
            "PROMETHEUS_MULTIPROC_DIR": str(metrics),
        }
    )
    # The same key for this process and the gunicorn it starts, so that the
    # session made here logs the load test's clients in there.
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))


def quiet_request_log() -> None:
    """Send the per-request JSON log to /dev/null: still formatted and
    written, as in production, but not onto the terminal."""
    for handler in logging.getLogger("dbops.requests").handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(open(os.devnull, "w"))  # noqa: SIM115
