"""The project's settings, pointed at the test suite's own PostgreSQL pair.

The test pair has its own ports and directory so that running the suite
never touches the local cluster of `make run` (55432/55433).
"""

import os
from pathlib import Path

# CONSOLE_TEST_PORT moves the whole test pair (primary on it, replicas on the
# next ports), so that two checkouts can run their suites side by side. The
# default lies below Linux's ephemeral port range (32768-60999): the drills
# restart servers mid-suite, and a port in that range may meanwhile have been
# taken as the local end of some client connection.
_PORT = int(os.environ.get("CONSOLE_TEST_PORT", "25442"))
_ROOT = Path(__file__).resolve().parent.parent / "var"

TEST_CLUSTER = {
    "root": _ROOT / ("pgcluster-test" if _PORT == 25442 else f"pgcluster-test-{_PORT}"),
    "primary_port": _PORT,
    "replica_port": _PORT + 1,
    "replicas": 3,  # replica_2 and replica_3: configured by the tests that need them
    "database": "console_test",
}


# CONSOLE_TEST_POOLER=1 puts a transaction-pooling PgBouncer (Debian's) in
# front of every server of the pair, one pooled database per role, as
# deployments run it; `make test` runs the routing tests and drills so.
TEST_POOLER_PORT = _PORT + 9 if os.environ.get("CONSOLE_TEST_POOLER") == "1" else None


def test_database(role: str) -> tuple[int, str]:
    """(port, database name) that the suite's settings use for a server."""
    if TEST_POOLER_PORT:
        return TEST_POOLER_PORT, role
    replicas = ["replica", *(f"replica_{n}" for n in range(2, 10))]
    offset = 0 if role == "primary" else 1 + replicas.index(role)
    return TEST_CLUSTER["primary_port"] + offset, TEST_CLUSTER["database"]


def _url(role: str) -> str:
    port, name = test_database(role)
    return f"postgres://postgres@127.0.0.1:{port}/{name}"


# A drill of its own cluster may name several hosts (primary failover).
os.environ["DATABASE_URL"] = os.environ.get("CONSOLE_TEST_DATABASE_URL") or _url(
    "primary"
)
os.environ["DATABASE_REPLICA_URLS"] = _url("replica")
if TEST_POOLER_PORT:
    os.environ["DATABASE_POOLER"] = "transaction"
# The suite's servers are plain http with DEBUG off: no redirect to https,
# no secure-only cookies (tests/security checks production's settings).
os.environ["HTTPS"] = "0"
# A developer's .env may say DEBUG=1: the suite runs without the toolbar
# (tests/dbops/routing/test_toolbar.py sets its panel up itself).
os.environ["DEBUG_TOOLBAR"] = "0"
os.environ.setdefault("SECRET_KEY", "test-only-secret-key-0123456789-abcdefghijklmnop")
# Each routing decision measures the replicas anew, so that a test sees the
# state it just made; the tests of the shared state set their own interval,
# and live servers run with the default (tests/live.py).
os.environ.setdefault("REPLICA_CHECK_INTERVAL", "0")
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(TEST_CLUSTER["root"] / "metrics"))

from console.settings import *  # noqa: E402,F403

# The suite does not run collectstatic; the manifest is for deployed code.
STORAGES["staticfiles"]["BACKEND"] = (  # noqa: F405
    "django.contrib.staticfiles.storage.StaticFilesStorage"
)
# Live servers in the tests run with DEBUG off and no collectstatic:
# whitenoise serves straight from the apps' static directories.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
