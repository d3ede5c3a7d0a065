"""The replica rule as the pure function it is: verdicts, lag against the
primary, and the choice among several replicas."""

from __future__ import annotations

from collections import Counter

import pytest

from dbops.routing import rule

LIMITS = rule.Limits(max_lag_seconds=5, max_lag_bytes=16 * 1024 * 1024)
PRIMARY = rule.PrimaryState(reachable=True, position=1_000_000, system_identifier="7")


def _replica(alias: str = "replica", **fields) -> rule.ReplicaState:
    defaults = {
        "reachable": True,
        "in_recovery": True,
        "system_identifier": "7",
        "lag_seconds": 0.0,
    }
    return rule.ReplicaState(alias, **{**defaults, **fields})


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({}, rule.SERVING),
        ({"reachable": False, "error": "refused"}, rule.DOWN),
        ({"in_recovery": False}, rule.PROMOTED),
        ({"system_identifier": "8"}, rule.OTHER_CLUSTER),
        ({"lag_seconds": 5.1}, rule.LAG_SECONDS),
        ({"lag_seconds": None}, rule.LAG_SECONDS),  # not known: over the limit
        ({"lag_bytes": 16 * 1024 * 1024 + 1}, rule.LAG_BYTES),
    ],
)
def test_rule_verdicts(fields, reason):
    assert rule.may_serve(_replica(**fields), PRIMARY, limits=LIMITS).reason == reason


def test_rule_own_write_not_replayed():
    replica = _replica(replay_position=900)
    verdict = rule.may_serve(replica, PRIMARY, limits=LIMITS, write_position=901)
    assert verdict.reason == rule.OWN_WRITE
    assert rule.may_serve(replica, PRIMARY, limits=LIMITS, write_position=900).serving


def test_rule_verdict_detail_is_for_people():
    verdict = rule.may_serve(_replica(lag_seconds=29.2), PRIMARY, limits=LIMITS)
    assert verdict.detail == "29 s behind, limit 5.0 s"


def test_lag_seconds_since_the_newest_check_the_replica_has_replayed():
    """A cut-off replica: replayed everything it got (500), the primary
    went on; it holds what the primary had at the last check at 500."""
    history = [(100.0, 400), (101.0, 500), (102.0, 700)]
    assert rule.lag_seconds(replay_position=500, history=history, now=110) == 9.0
    assert rule.lag_seconds(replay_position=600, history=history, now=110) == 9.0
    assert rule.lag_seconds(replay_position=700, history=history, now=110) == 8.0


def test_lag_seconds_of_an_idle_process_is_the_time_since_it_looked():
    """A process that saw the replica caught up and then served nothing for
    6 s (the primary wrote meanwhile) cannot call the replica current: the
    lag is bounded by the time since its last check, not by the moment it
    first sees the primary past the replica (which is now)."""
    history = [(100.0, 500), (106.0, 900)]
    assert rule.lag_seconds(replay_position=500, history=history, now=106.01) >= 6


def test_lag_seconds_unknown_before_the_history():
    """Every check this process made saw the primary past the replica (a new
    process on a busy primary, or one whose early checks were pushed out):
    no bound, whatever the replica's own clock would say."""
    assert (
        rule.lag_seconds(replay_position=500, history=[(100.0, 600)], now=101) is None
    )
    assert rule.lag_seconds(replay_position=500, history=[], now=101) is None


def test_aged_bounds_the_lag_at_the_moment_of_use():
    replica = _replica(lag_seconds=0.5, measured_at=100.0)
    assert rule.aged(replica, now=103.0).lag_seconds == 3.5
    assert rule.aged(replica, now=99.0).lag_seconds == 0.5
    assert rule.aged(_replica(lag_seconds=None), now=103.0).lag_seconds is None


def test_bound_for_display_rounds_up():
    assert rule.bound_for_display(0.001) == 0.01
    assert rule.bound_for_display(2.0) == 2.0
    assert rule.bound_for_display(None) is None


def test_lag_bytes_against_the_primary():
    assert rule.lag_bytes(primary_position=1000, replay_position=400) == 600
    assert rule.lag_bytes(primary_position=None, replay_position=400) == 0


def _picks(candidates, now: float = 1000.0) -> Counter:
    return Counter(rule.choose(candidates, now=now, pick=n / 1000) for n in range(1000))


def test_choose_prefers_the_least_lagged_and_spreads_among_equals():
    near = _replica("replica", lag_bytes=0)
    also_near = _replica("replica_2", lag_bytes=1000)
    far = _replica("replica_3", lag_bytes=8 * 1024 * 1024)
    picks = _picks([near, also_near, far])
    assert set(picks) == {"replica", "replica_2"}
    assert abs(picks["replica"] - picks["replica_2"]) < 50


def test_choose_gives_a_returning_replica_its_share_gradually():
    steady = _replica("replica")
    back = _replica("replica_2", up_since=1000.0 - rule.RAMP_SECONDS / 4)
    picks = _picks([steady, back])
    assert 150 < picks["replica_2"] < 250  # a quarter of a full share
    assert _picks([steady, back], now=1000.0 + rule.RAMP_SECONDS)["replica_2"] > 450


def test_spreads_is_a_return_to_an_earlier_server_not_a_change():
    assert not rule.spreads(["a", "a", "b", "b"])  # replaced or restarted
    assert rule.spreads(["a", "b", "a"])
    assert rule.spreads(["a", "a", "b", "b", "a"])
    assert not rule.spreads(["a"])


def test_a_spread_alias_serves_no_reads():
    verdict = rule.may_serve(_replica(spread=True), PRIMARY, limits=LIMITS)
    assert verdict.reason == rule.SPREAD
