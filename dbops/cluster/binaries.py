"""The PostgreSQL server binaries on this machine, and running them as the
`postgres` user (PostgreSQL refuses to run as root)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path

FALLBACK_ROOT = Path("/var/tmp/console-pgcluster")
INSTALL_HINT = (
    "PostgreSQL server binaries (initdb, pg_ctl, pg_basebackup) were not found. "
    "Install them with `apt-get install -y postgresql` (Debian/Ubuntu), or set "
    "PG_BINDIR to the directory that holds them."
)


class ClusterError(RuntimeError):
    """The local cluster could not be made, started or queried."""


def find_bindir() -> Path:
    """The directory of the newest PostgreSQL server binaries on the machine."""
    candidates = [os.environ.get("PG_BINDIR", "")]
    candidates += sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda path: int(path.split("/")[-2]),
        reverse=True,
    )
    which = shutil.which("pg_ctl")
    if which:
        candidates.append(str(Path(which).resolve().parent))
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").exists():
            return Path(candidate)
    raise ClusterError(INSTALL_HINT)


def postgres_can_reach(path: Path) -> bool:
    """Whether the `postgres` user can get to `path` (or, if it does not
    exist yet, to its nearest existing parent, which it will be made in)."""
    existing = path
    while not existing.exists():
        existing = existing.parent
    check = subprocess.run(as_postgres() + ["test", "-x", str(existing)])
    return check.returncode == 0


def as_postgres() -> list[str]:
    # PostgreSQL refuses to run as root, so root runs it as the `postgres`
    # system user that the Debian package creates.
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def faketime_library() -> str:
    """Debian's libfaketime (package `faketime`), for the clock-skew drills."""
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))
    if not found:
        raise ClusterError("libfaketime is missing: apt-get install faketime")
    return found[0]
