"""Which database serves a read (placeholder: filled in by the routing issue)."""

from __future__ import annotations

from dbops import conf

PRIMARY = "default"


def read_alias() -> str:
    replicas = conf.replica_aliases()
    return replicas[0] if replicas else PRIMARY
