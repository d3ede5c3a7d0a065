"""The PostgreSQL backend with the routing machinery built in
(`ENGINE = "dbops.routing.backend"`, set for every alias by the settings).

On the primary it notes the request's writes (read-your-writes). On a
replica it bounds every round trip by `REPLICA_READ_TIMEOUT` on the client
side (`deadline`) and the server side (`statement_timeout`), and where a
replica cannot even give a cursor (its connection died between two queries
of a request, or it stopped answering its health check) it hands out the
primary's cursor instead of raising: the caller's read is served by the
primary. Errors carry the alias that raised them, so that a 503 names the
server that failed.
"""

from __future__ import annotations

import time

import psycopg2
from django.db import Error, OperationalError, connections
from django.db.backends.postgresql import base, operations
from django.db.utils import DatabaseErrorWrapper
from django.utils.functional import cached_property

from dbops.ops import metrics
from dbops.routing import conf, consistency, deadline, failover, outage
from dbops.routing.aliases import PRIMARY
from dbops.routing.backend import cursor as limits
from dbops.routing.backend.cursor import LimitedCursor, without_limit
from dbops.routing.backend.schema import DatabaseSchemaEditor


class _AliasTaggingErrorWrapper(DatabaseErrorWrapper):
    def __exit__(self, exc_type, exc_value, traceback):
        try:
            return super().__exit__(exc_type, exc_value, traceback)
        except Error as exc:
            exc.alias = self.wrapper.alias  # type: ignore[attr-defined]
            raise


class DatabaseOperations(operations.DatabaseOperations):
    def last_executed_query(self, cursor, sql, params):
        query = super().last_executed_query(cursor, sql, params)
        return without_limit(query) if query else query


class DatabaseWrapper(base.DatabaseWrapper):
    SchemaEditorClass = DatabaseSchemaEditor
    ops_class = DatabaseOperations

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.is_replica:
            wrappers = [failover.retry_on_primary, self._bounded_execute]
        else:
            wrappers = [consistency.track_writes, self._answered_in_time]
        self.execute_wrappers.extend([*wrappers, metrics.count_queries])
        self._health_check_unanswered = False

    # Setting a connection up (django.contrib.postgres looks its types up on a
    # process's first connection per alias) is not the console's load: left
    # out of the query counts (`connect` below), which would otherwise depend
    # on which request happened to connect first.

    @property
    def is_replica(self) -> bool:
        return self.alias != PRIMARY

    def get_new_connection(self, conn_params):
        connection = super().get_new_connection(conn_params)
        connection.cursor_factory = self._cursor_class
        return connection

    @cached_property
    def _cursor_class(self) -> type[LimitedCursor]:
        return type(
            "LimitedCursor",
            (LimitedCursor,),
            {"default_limits": staticmethod(self._limits)},
        )

    def _limits(self) -> limits.Limits:
        """The server-side limits each statement carries. On a replica, its
        read timeout as it is now, outside transactions (the SET at connect
        stays on one pooled server connection behind a transaction pooler,
        and keeps the value of when the connection was made). On the
        primary, the web request's (none for jobs and commands)."""
        if self.is_replica:
            seconds = conf.read_timeout()
            autocommit = self.connection is not None and self.connection.autocommit
            return limits.Limits(statement=(seconds or None) if autocommit else None)
        return limits.request_limits_now()

    @cached_property
    def wrap_database_errors(self):
        return _AliasTaggingErrorWrapper(self)

    # --- a web request's primary statements under a deadline too ------------

    def _answered_in_time(self, execute, sql, params, many, context):
        """A web request's primary statement is given up on once the primary
        answers nothing: after each REPLICA_READ_TIMEOUT the statement runs,
        a fresh connection asks the primary for a `SELECT 1` (a slow query
        on a live primary goes on), and in any case a second after its
        statement_timeout, which a hung server does not enforce. The request
        gets its 503, the worker is free, and the primary is not waited for
        again for its back-off. Jobs and commands have no such limit."""
        limit = limits.request_limits_now().statement
        raw = self.connection
        period = conf.read_timeout()
        if not limit or raw is None:
            return execute(sql, params, many, context)
        with (
            deadline.watch(raw.fileno(), limit + 1.0) as hard,
            deadline.watch(
                raw.fileno(), period or limit, unless_answering=self._answers
            ) as asked,
        ):
            try:
                return execute(sql, params, many, context)
            except Error as exc:
                if hard.fired or asked.fired:
                    outage.remember(self.alias, "no answer during a statement")
                    raise failover.NoAnswer(self.alias, period or limit) from exc
                raise

    def _answers(self) -> bool:
        """Whether the server answers a `SELECT 1` on a connection of its
        own, within the read timeout (asked from the deadline's thread)."""
        if outage.unanswered(self.alias):
            return False
        params = {**self.get_connection_params(), "connect_timeout": 2}
        try:
            probe = psycopg2.connect(**params)
        except psycopg2.Error:
            return False
        try:
            with deadline.watch(probe.fileno(), conf.read_timeout() or 2) as watch:
                with probe.cursor() as cursor:
                    cursor.execute("SELECT 1")
            return not watch.fired
        except psycopg2.Error:
            return False
        finally:
            probe.close()

    # --- replica round trips under a deadline ------------------------------

    def _bounded_execute(self, execute, sql, params, many, context):
        seconds = conf.read_timeout()
        if not seconds:
            return execute(sql, params, many, context)
        # The server's statement_timeout is the read timeout; the client
        # gives up a little later, so that a replica that answers (with a
        # cancel, for a slow query or a lock wait) is told from one that does
        # not answer at all (which alone is marked down).
        with deadline.watch(
            self.connection.fileno(), conf.no_answer_seconds()
        ) as watch:
            try:
                return execute(sql, params, many, context)
            except Error as exc:
                if watch.fired:
                    raise failover.NoAnswer(self.alias, seconds) from exc
                raise

    def is_usable(self) -> bool:
        """Django's health check (a `SELECT 1`), under the read timeout on
        every server: a hung primary must not hold a request for its whole
        hang any more than a hung replica."""
        seconds = conf.read_timeout()
        raw = self.connection
        if not seconds or raw is None or raw.closed:
            return super().is_usable()
        with deadline.watch(raw.fileno(), seconds) as watch:
            usable = super().is_usable()
        self._health_check_unanswered = watch.fired
        if watch.fired and not self.is_replica:
            outage.remember(
                self.alias, f"no answer to its health check in {seconds:g} s"
            )
        return usable

    def close_if_health_check_failed(self) -> None:
        """A server that does not answer its health check in time is not
        connected to again for this request: it would not answer that
        either."""
        self._health_check_unanswered = False
        super().close_if_health_check_failed()
        if self._health_check_unanswered:
            raise failover.NoAnswer(self.alias, conf.read_timeout())

    # --- a primary that gave no answer is not waited for again ----------------

    def connect(self) -> None:
        if not self.is_replica:
            self._refuse_if_unanswered()
        try:
            with metrics.not_counted():
                super().connect()
        except OperationalError as exc:
            # libpq's connect_timeout: the server took the TCP connection
            # (its kernel did) and never answered the start-up.
            if not self.is_replica and "timeout expired" in str(exc):
                outage.remember(self.alias, "no answer to a new connection")
            raise

    def _refuse_if_unanswered(self) -> None:
        found = outage.unanswered(self.alias)
        if found is not None:
            raise OperationalError(
                f"{self.alias} gave no answer: {found.words(time.monotonic())}"
            )

    def init_connection_state(self) -> None:
        seconds = conf.read_timeout()
        # Behind a transaction pooler a SET would stay on one pooled server
        # connection, not with this client: the client-side deadline alone
        # holds there (set statement_timeout on the replica's role instead).
        if not self.is_replica or not seconds or conf.transaction_pooled():
            return super().init_connection_state()
        with deadline.watch(self.connection.fileno(), seconds) as watch:
            try:
                super().init_connection_state()
                # The server's own limit too, so that it stops work that the
                # client has given up on.
                with self.connection.cursor() as cursor:
                    cursor.execute("SET statement_timeout = %s", [int(seconds * 1000)])
            except Exception as exc:
                if watch.fired:
                    raise failover.NoAnswer(self.alias, seconds) from exc
                raise

    # --- a replica that cannot give a cursor gives the primary's -------------

    def _cursor(self, name=None):
        if not self.is_replica:
            return super()._cursor(name)
        try:
            return super()._cursor(name)
        except Error as exc:
            failure = failover.can_fail_over(self, exc)
            if failure is None:
                raise
            failover.give_up_replica(self.alias, failure, exc)
            return connections[PRIMARY]._cursor(name)
