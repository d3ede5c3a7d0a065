"""gunicorn's configuration for the console (`gunicorn -c gunicorn.conf.py`).

gunicorn also reads this file by itself when started from the project
directory. Two environment variables move it: `BIND` (default
127.0.0.1:8000, loopback, for a reverse proxy in front) and
`WEB_CONCURRENCY` (default 2 x CPUs + 1); any other gunicorn option can be
given in `GUNICORN_CMD_ARGS`, which wins over this file.

Workers are sync processes. A request spends much of its time waiting for
PostgreSQL (a replica probe, the page's queries), and a sync worker that
waits holds no CPU, so twice as many workers as cores (plus one) keep the
cores busy; each worker holds at most one persistent connection per
database alias, so the connection count stays small and known.
"""

from __future__ import annotations

import os
from pathlib import Path


def cpu_count() -> int:
    """CPUs this process may run on (a container's cpuset, not the host's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


wsgi_app = "console.wsgi:application"
bind = [os.environ.get("BIND", "127.0.0.1:8000")]
workers = int(os.environ.get("WEB_CONCURRENCY", 2 * cpu_count() + 1))
worker_class = "sync"

# Admin pages answer in well under a second; 60 s still lets a large CSV
# export finish, and kills a worker stuck on a dead connection.
timeout = 60
graceful_timeout = 30
# Keep-alive for the reverse proxy's pooled connections.
keepalive = 5
# Recycle workers now and then, so that a slow leak never grows unbounded;
# the jitter keeps them from restarting all at once.
max_requests = 2000
max_requests_jitter = 200

accesslog = "-"
errorlog = "-"
# The standard combined format plus the time taken, in milliseconds.
access_log_format = (
    '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(M)sms'
)

# The heartbeat file is touched by every worker on every request; in memory
# it never blocks on a slow (container overlay) disk.
if Path("/dev/shm").is_dir():
    worker_tmp_dir = "/dev/shm"


# The settings default the metrics directory to var/metrics; the master must
# agree with its workers on it (they inherit its environment), or it would
# clean a directory they do not write to.
os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR", str(Path(__file__).resolve().parent / "var" / "metrics")
)


def _multiproc_dir() -> Path | None:
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return Path(path) if path else None


def on_starting(server) -> None:
    """Start the metrics of this server from zero.

    prometheus_client's multiprocess mode keeps one file per worker process;
    files left by an earlier server would otherwise be summed into the new
    server's counters forever.
    """
    directory = _multiproc_dir()
    if directory is None:
        return
    # The counter files and the queries page's reset baseline together: a
    # baseline left from an earlier server would be subtracted from the new
    # server's totals. (dbops.ops.metrics touches no Django settings on import.)
    from dbops.ops.metrics import clear_process_files

    clear_process_files(directory)


def child_exit(server, worker) -> None:
    """Drop a dead worker's live gauges, so that they stop being reported."""
    if _multiproc_dir() is None:
        return
    try:
        from prometheus_client import multiprocess
    except ImportError:  # metrics are optional for serving
        return
    multiprocess.mark_process_dead(worker.pid)
