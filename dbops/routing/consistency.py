"""Read-your-writes: a client's reads wait for its own last write.

After a request that wrote to the primary, the primary's WAL insert position
goes back to the client in a signed cookie (anonymous clients too). On the
client's next requests a replica serves its reads only once it has replayed
that position; until then the primary does. Unlike a fixed "stick to the
primary for N seconds" cookie this is exact: no stale page when a replica
lags longer than N, no wasted primary reads when it is already caught up.

A client's position only moves forward, however its responses interleave:
two tabs share one cookie jar, and a slow response must not erase or lower
the position that a newer write in the other tab set. So each write sets a
cookie of its own, named after its position, and the client's position is
the highest of those it sends. A write response deletes only the cookies
its own request carried, all at or below the position it hands out; a read
response touches none. What a late response does not know of, it cannot
remove. Each cookie expires after `READ_YOUR_WRITES_MAX_AGE`, so a client
holds about as many as it made writes in that time that overlapped.

Clients without cookies (API clients, scripts) get the same signed position
in the `Console-Write-Position` response header and send it back in a
request header of that name; the highest of the header and the cookies wins.

A signed-in user's position is also kept on the primary
(`UserWritePosition`, raised with GREATEST), so that the user's other
browsers and devices see the write too; each process reads the recent ones
with its periodic primary check, so this costs a request no query.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.db import Error, connections

from dbops.routing import conf, rule, scope, statements

COOKIE_PREFIX = "console_wal_"
HEADER = "Console-Write-Position"
_SALT = "dbops.consistency.write-position"
_signer = signing.TimestampSigner(salt=_SALT)


def cookie_name(position: int) -> str:
    return f"{COOKIE_PREFIX}{position:x}"


def _carried_positions(request) -> list[tuple[str, int]]:
    """(cookie name, position) for each valid position cookie of the request."""
    found = []
    for name in request.COOKIES:
        if not name.startswith(COOKIE_PREFIX):
            continue
        try:
            value = request.get_signed_cookie(
                name, salt=_SALT, max_age=conf.write_token_max_age()
            )
        except (signing.BadSignature, KeyError):
            continue
        if value.isdigit() and cookie_name(int(value)) == name:
            found.append((name, int(value)))
    return found


def _header_position(request) -> int | None:
    signed = request.headers.get(HEADER)
    if not signed:
        return None
    try:
        value = _signer.unsign(
            signed, max_age=timedelta(seconds=conf.write_token_max_age())
        )
    except signing.BadSignature:
        return None
    return int(value) if value.isdigit() else None


def read_token(request) -> int | None:
    """The WAL position of the client's last write, if still honoured."""
    positions = [position for _, position in _carried_positions(request)]
    header = _header_position(request)
    if header is not None:
        positions.append(header)
    return max(positions, default=None)


def track_writes(execute, sql, params, many, context):
    """Execute wrapper for the primary: note that this request wrote."""
    if statements.is_write(sql):
        scope.current_state().wrote = True
    return execute(sql, params, many, context)


# The position that covers the request's commits: with synchronous_commit on
# (or local, remote_*), each commit returned only once flushed, so the flush
# position covers them and goes no further than what replicas can receive.
# The insert position also covers other sessions' WAL that is not flushed
# yet, which no replica can have until it is: never, while the primary hangs
# (and the client's reads then got a 503 instead of the replica's answer).
# With synchronous_commit off a commit may return before its flush: the
# insert position is the one that covers it then.
WRITE_POSITION_SQL = (
    "SELECT (CASE WHEN current_setting('synchronous_commit') = 'off' "
    "THEN pg_current_wal_insert_lsn() ELSE pg_current_wal_flush_lsn() END)::text"
)


def current_write_position() -> int | None:
    try:
        with connections[scope.PRIMARY].cursor() as cursor:
            cursor.execute(WRITE_POSITION_SQL)
            return rule.lsn_to_int(cursor.fetchone()[0])
    except Error:
        return None


def update_cookies(request, response, state: scope.RoutingState) -> None:
    """After a response that wrote: hand out the new position (cookie and
    header), and drop the older cookies this request carried (the new one
    covers them)."""
    if not state.wrote:
        return
    position = current_write_position()
    if not position:
        return
    response[HEADER] = _signer.sign(str(position))
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        remember_user_position(user.pk, position)
    for name, carried in _carried_positions(request):
        if carried <= position:
            response.delete_cookie(name, samesite="Lax")
    response.set_signed_cookie(
        cookie_name(position),
        str(position),
        salt=_SALT,
        max_age=int(conf.write_token_max_age()),
        httponly=True,
        samesite="Lax",
        secure=settings.SESSION_COOKIE_SECURE,
    )


def hand_out_primary_position() -> None:
    """Give the client the primary's current position, as after a write of
    its own: for writes made on its behalf elsewhere (a background job)."""
    scope.current_state().wrote = True


@contextmanager
def not_the_clients_write() -> Iterator[None]:
    """Writes in the block are the console's own bookkeeping (a lag sample),
    not the client's: they must not send the client's next reads to the
    primary."""
    state = scope.current_state()
    wrote = state.wrote
    try:
        yield
    finally:
        state.wrote = wrote


UPSERT_USER_POSITION_SQL = """
INSERT INTO dbops_userwriteposition (user_id, position, written_at)
VALUES (%s, %s, now())
ON CONFLICT (user_id) DO UPDATE
SET position = GREATEST(dbops_userwriteposition.position, EXCLUDED.position),
    written_at = now()
"""


def user_position(user_id: int) -> int | None:
    """The user's last write position as the process last read it."""
    return scope.request_snapshot().user_positions.get(user_id)


def remember_user_position(user_id: int, position: int) -> None:
    """Keep the user's write position on the primary (console bookkeeping)."""
    try:
        with not_the_clients_write(), connections[scope.PRIMARY].cursor() as cursor:
            cursor.execute(UPSERT_USER_POSITION_SQL, [user_id, position])
    except Error:
        pass  # the client's own cookie and header still carry the position
