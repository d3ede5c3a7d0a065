from __future__ import annotations

from django.apps import AppConfig
from django.db.backends.signals import connection_created


def install_execute_wrappers(sender, connection, **kwargs) -> None:
    """Put dbops's execute wrappers on each database connection, once.

    `connection_created` fires on every (re)connect of the same wrapper
    object, hence the membership checks.
    """
    from dbops import consistency, failover, metrics, routing

    if connection.alias == routing.PRIMARY:
        wanted = [consistency.track_writes]
    else:
        wanted = [failover.retry_on_primary]
    wanted.append(metrics.count_queries)
    for wrapper in wanted:
        if wrapper not in connection.execute_wrappers:
            connection.execute_wrappers.append(wrapper)


class DbopsConfig(AppConfig):
    name = "dbops"
    verbose_name = "Operations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from dbops import checks  # noqa: F401  (registers the system checks)

        connection_created.connect(install_execute_wrappers, dispatch_uid="dbops")
