"""tests.settings with a password in every database URL, plus a replica that
does not answer (so that connection errors get logged too).

For tests/security/test_secrets.py, through SECURITY_DB_PASSWORD and
SECURITY_DEAD_PORT. The test pair trusts local connections, so any
password is accepted.
"""

from __future__ import annotations  # noqa: I001

import os

# tests.settings first: it points the environment at the test pair before
# console.settings reads it.
from tests.settings import *  # noqa: F403
from tests.settings import TEST_CLUSTER
from console.settings import _database, replica_alias

_PASSWORD = os.environ["SECURITY_DB_PASSWORD"]


def _url(port: int | str) -> str:
    return (
        f"postgres://postgres:{_PASSWORD}@127.0.0.1:{port}/{TEST_CLUSTER['database']}"
    )


# The environment as a deployment would have it, parsed by the settings' own
# code, so that nothing downstream sees a URL without the password.
os.environ["DATABASE_URL"] = _url(TEST_CLUSTER["primary_port"])
os.environ["DATABASE_REPLICA_URLS"] = ",".join(
    [_url(TEST_CLUSTER["replica_port"]), _url(os.environ["SECURITY_DEAD_PORT"])]
)
DATABASES = {"default": _database(os.environ["DATABASE_URL"], replica=False)}
for _index, _replica in enumerate(os.environ["DATABASE_REPLICA_URLS"].split(","), 1):
    DATABASES[replica_alias(_index)] = _database(_replica, replica=True)
