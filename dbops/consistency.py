"""Read-your-writes: a client's reads wait for its own last write.

After a request that wrote to the primary, the primary's WAL insert position
goes back to the client in a signed cookie (anonymous clients too). On the
client's next requests a replica serves its reads only once it has replayed
that position; until then the primary does. Unlike a fixed "stick to the
primary for N seconds" cookie this is exact: no stale page when a replica
lags longer than N, no wasted primary reads when it is already caught up.
The cookie is dropped once every reachable replica has replayed it, and a
maximum age bounds it in any case.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.core import signing
from django.db import Error, connections

from dbops import conf, health, routing, statements

COOKIE_NAME = "console_wal"
_SALT = "dbops.consistency.write-position"


def read_token(request) -> int | None:
    """The WAL position of the client's last write, if still honoured."""
    try:
        value = request.get_signed_cookie(
            COOKIE_NAME, default=None, salt=_SALT, max_age=conf.write_token_max_age()
        )
    except signing.BadSignature:
        return None
    return int(value) if value and value.isdigit() else None


@contextmanager
def not_the_clients_write() -> Iterator[None]:
    """Writes in the block are the console's own bookkeeping (a lag sample
    taken while a page is viewed), not the client's: they must not send the
    client's next reads to the primary."""
    state = routing.current_state()
    wrote = state.wrote
    try:
        yield
    finally:
        state.wrote = wrote


def track_writes(execute, sql, params, many, context):
    """Execute wrapper for the primary: note that this request wrote."""
    if statements.is_write(sql):
        routing.current_state().wrote = True
    return execute(sql, params, many, context)


def current_write_position() -> int | None:
    try:
        with connections[routing.PRIMARY].cursor() as cursor:
            cursor.execute("SELECT pg_current_wal_insert_lsn()::text")
            position = health.lsn_to_int(cursor.fetchone()[0])
    except Error:
        return None
    health.primary_position.observe(position)
    return position


def _all_reachable_replayed(state: routing.RoutingState, token: int) -> bool:
    probed = [s for s in state.probes.values() if s.reachable]
    if not probed or len(probed) < len(conf.replica_aliases()):
        return False
    return all((s.replay_position or 0) >= token for s in probed)


def update_cookie(response, state: routing.RoutingState) -> None:
    """After the response: hand out a new token, or drop a satisfied one."""
    if state.wrote:
        position = current_write_position()
        if position:
            response.set_signed_cookie(
                COOKIE_NAME,
                str(position),
                salt=_SALT,
                max_age=int(conf.write_token_max_age()),
                httponly=True,
                samesite="Lax",
                secure=settings.SESSION_COOKIE_SECURE,
            )
        return
    token = state.write_token
    if token and _all_reachable_replayed(state, token):
        response.delete_cookie(COOKIE_NAME, samesite="Lax")
