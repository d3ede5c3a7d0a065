"""One replica alias must reach exactly one server: an alias whose
connections land on several servers (here libpq's load_balance_hosts over
two real replicas; in deployments a pooler or load balancer) is noticed by
the monitor, which stops reading from it, and by system check dbops.W002."""

from __future__ import annotations

import pytest
from django.core.checks import run_checks
from django.db import connections

from dbops.routing import rule
from dbops.routing.monitor import monitor

ALIAS = "replica_lb"


@pytest.fixture
def spread_alias(db, cluster, settings):
    """An alias whose every new connection goes to replica or replica_2."""
    config = dict(settings.DATABASES["replica"])
    config["HOST"] = f"{cluster.host},{cluster.host}"
    config["PORT"] = f"{cluster.port('replica')},{cluster.port('replica_2')}"
    config["NAME"] = cluster.database
    config["OPTIONS"] = {**config["OPTIONS"], "load_balance_hosts": "random"}
    config["CONN_MAX_AGE"] = 0  # a new connection, so maybe a new server, each probe
    settings.DATABASES[ALIAS] = config
    cluster.wait_for_replay("replica_2")
    yield
    connections[ALIAS].close()
    del connections[ALIAS]
    del settings.DATABASES[ALIAS]


def test_monitor_leaves_out_an_alias_that_reaches_several_servers(spread_alias):
    """Each reconnect may land elsewhere (as a pooler hands out another
    server): once the probes have gone back to a server they left, the
    alias serves no reads."""
    for _ in range(40):
        if monitor.refresh().verdict(ALIAS).reason == rule.SPREAD:
            break
    snapshot = monitor.snapshot()
    assert snapshot.verdict(ALIAS).reason == rule.SPREAD
    assert snapshot.verdict("replica").serving


def test_check_warns_of_an_alias_that_reaches_several_servers(spread_alias):
    """dbops.W002 for the spread alias, none for the others. Which server a
    connection reaches is random: a few runs of the check settle it."""
    for _ in range(5):
        ids = [m.id for m in run_checks(databases=[ALIAS, "replica"])]
        if "dbops.W002" in ids:
            break
    assert ids.count("dbops.W002") == 1
