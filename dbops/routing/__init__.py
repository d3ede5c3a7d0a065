"""The request path: which database serves each query (DESIGN.md, routing).

- `rule`: the one rule that says whether a replica may serve a read (pure);
- `probes`: the queries that measure the primary and the replicas;
- `monitor`: the process's shared replica state, lag history, down marks;
- `scope`: the request's routing state and the choice of alias;
- `consistency`: read-your-writes by WAL position;
- `failover`, `deadline`, `backend`: replica reads that fail or hang are
  served by the primary;
- `router`, `middleware`: the Django hooks.

The names used across the project are re-exported here.
"""

from dbops.routing.failover import gave_up_on_a_lock
from dbops.routing.scope import (
    PRIMARY,
    Decision,
    RoutingState,
    current_state,
    decide,
    primary_reason,
    read_alias,
    reset,
    use_primary,
)

__all__ = [
    "PRIMARY",
    "Decision",
    "RoutingState",
    "current_state",
    "decide",
    "gave_up_on_a_lock",
    "primary_reason",
    "read_alias",
    "reset",
    "use_primary",
]
