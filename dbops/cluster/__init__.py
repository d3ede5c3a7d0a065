"""The local cluster for development, tests and benchmarks: a real
PostgreSQL primary with streaming replicas (`pair`), optionally behind a
PgBouncer (`pooler`), from the server binaries on the machine (`binaries`).
No Django dependency: the test suite starts servers before Django connects.
"""

from dbops.cluster.binaries import FALLBACK_ROOT, ClusterError, find_bindir
from dbops.cluster.pair import Cluster
from dbops.cluster.pooler import Pooler

__all__ = ["FALLBACK_ROOT", "Cluster", "ClusterError", "Pooler", "find_bindir"]
