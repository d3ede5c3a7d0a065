"""The routing rules on the real pair: read-your-writes by WAL position,
admin forms and transactions on the primary, lag limits, dead replicas,
several replicas, and the routing query budget."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from django.conf import settings as django_settings
from django.db import connections, transaction
from django.test import Client

from catalog.models import Author
from dbops import routing
from dbops.routing import consistency
from dbops.routing.monitor import monitor

ROUTING_URLS = "tests.dbops.routing_urls"


@pytest.fixture
def routing_urls(settings):
    settings.ROOT_URLCONF = ROUTING_URLS


def _staff_client(django_user_model, username: str) -> Client:
    user = django_user_model.objects.create_user(
        username=username, password="pw-for-tests", is_staff=True, is_superuser=True
    )
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def two_staff_clients(db, django_user_model, cluster):
    first = _staff_client(django_user_model, "writer")
    second = _staff_client(django_user_model, "onlooker")
    cluster.wait_for_replay()
    return first, second


def test_admin_save_with_replay_paused_shows_at_once(
    two_staff_clients, cluster, query_log
):
    """With replay paused, the author a staff user just saved is on their own
    changelist at once (served by the primary), while another staff user's
    changelist is still served by the replica."""
    writer, onlooker = two_staff_clients
    cluster.pause_replay()
    response = writer.post(
        "/admin/catalog/author/add/",
        {"name": "Ursula Le Guin", "bio": "", "country": "US"},
    )
    assert response.status_code == 302, response.content[:500]
    assert _position_cookies(response)

    query_log.clear()
    mine = writer.get("/admin/catalog/author/")
    assert mine.status_code == 200
    assert "Ursula Le Guin" in mine.content.decode()
    assert query_log.aliases("catalog_author") == {"default"}

    query_log.clear()
    theirs = onlooker.get("/admin/catalog/author/")
    assert theirs.status_code == 200
    assert "Ursula Le Guin" not in theirs.content.decode()
    assert query_log.aliases("catalog_author") == {"replica"}


def test_change_form_reads_primary_and_changelist_reads_replica(
    two_staff_clients, cluster, query_log
):
    """An admin change form (GET) reads the primary; the changelist reads the
    replica."""
    _, onlooker = two_staff_clients
    author = Author.objects.create(name="Octavia Butler")
    cluster.wait_for_replay()

    query_log.clear()
    assert onlooker.get(f"/admin/catalog/author/{author.pk}/change/").status_code == 200
    assert query_log.aliases("catalog_author") == {"default"}

    query_log.clear()
    assert onlooker.get("/admin/catalog/author/").status_code == 200
    assert query_log.aliases("catalog_author") == {"replica"}


def test_anonymous_client_reads_own_write_and_others_read_replica(
    db, cluster, routing_urls
):
    """Read-your-writes works for anonymous clients too, and only for the
    client that wrote."""
    writer, other = Client(), Client()
    cluster.pause_replay()
    assert writer.post("/write/", {"name": "Stanisław Lem"}).status_code == 200

    mine = writer.get("/read/").json()
    assert mine == {"names": ["Stanisław Lem"], "alias": "default"}
    theirs = other.get("/read/").json()
    assert theirs == {"names": [], "alias": "replica"}


def _position_cookies(response) -> dict[str, str]:
    return {
        name: morsel.value
        for name, morsel in response.cookies.items()
        if name.startswith(consistency.COOKIE_PREFIX)
    }


def test_reads_return_to_replica_once_it_replayed_the_write(db, cluster, routing_urls):
    """Once the replica has replayed the client's write, its reads return to
    the replica; a read response leaves the client's position alone."""
    client = Client()
    cluster.pause_replay()
    client.post("/write/", {"name": "Italo Calvino"})
    assert client.get("/read/").json()["alias"] == "default"

    cluster.resume_replay()
    cluster.wait_for_replay()
    response = client.get("/read/")
    assert response.json() == {"names": ["Italo Calvino"], "alias": "replica"}
    assert _position_cookies(response) == {}
    assert client.get("/read/").json()["alias"] == "replica"


def test_token_older_than_max_age_is_ignored(db, cluster, routing_urls, settings):
    """The token is a safety net with a maximum age, not a permanent pin."""
    settings.READ_YOUR_WRITES_MAX_AGE = 1
    client = Client()
    cluster.pause_replay()
    client.post("/write/", {"name": "Borges"})
    assert client.get("/read/").json()["alias"] == "default"
    time.sleep(2.1)
    assert client.get("/read/").json()["alias"] == "replica"


def test_tampered_token_is_ignored(db, routing_urls):
    """A forged cookie cannot pin a client to the primary."""
    client = Client()
    client.cookies[consistency.cookie_name(99999999999)] = "99999999999"
    assert client.get("/read/").json()["alias"] == "replica"


def test_reads_in_transaction_go_to_primary(db, routing_urls):
    """Reads inside transaction.atomic() read the primary."""
    with transaction.atomic():
        assert Author.objects.all().db == "default"
    assert Author.objects.all().db == "replica"
    assert Client().get("/atomic/").json()["alias"] == "default"


def test_select_for_update_goes_to_primary(db):
    """select_for_update reads the primary."""
    with transaction.atomic():
        assert Author.objects.select_for_update().db == "default"


def test_unsafe_method_reads_primary(db, routing_urls, query_log):
    """Every read during a POST request reads the primary."""
    Client().post("/write/", {"name": "Calvino"})
    assert query_log.aliases("catalog_author") == {"default"}
    assert query_log.probes() == []


def test_use_primary_nests_and_restores(db):
    """use_primary() works as a context manager and decorator and nested
    blocks restore the outer routing on exit."""

    @routing.use_primary("decorated")
    def decorated_alias() -> str:
        return Author.objects.all().db

    assert Author.objects.all().db == "replica"
    with routing.use_primary("outer"):
        with routing.use_primary("inner"):
            assert routing.decide() == routing.Decision("default", "inner")
        assert routing.decide() == routing.Decision("default", "outer")
    assert decorated_alias() == "default"
    assert Author.objects.all().db == "replica"


def _make_replay_lag(cluster, *, role: str = "replica") -> None:
    cluster.pause_replay(role)
    with connections["default"].cursor() as cursor:
        cursor.execute(
            "INSERT INTO catalog_author (name, bio, country, created_at) "
            "SELECT 'lag ' || n, repeat('x', 200), '', now() "
            "FROM generate_series(1, 200) AS n"
        )
    cluster.wait_for_receive(role)


def test_replica_over_lag_seconds_gets_no_reads(db, cluster, settings, routing_urls):
    """A replica further behind than REPLICA_MAX_LAG_SECONDS serves no reads;
    once caught up it serves them again."""
    settings.REPLICA_MAX_LAG_SECONDS = 1
    _make_replay_lag(cluster)
    time.sleep(1.5)
    assert Client().get("/read/").json()["alias"] == "default"

    cluster.resume_replay()
    cluster.wait_for_replay()
    assert Client().get("/read/").json()["alias"] == "replica"


def test_replica_over_lag_bytes_gets_no_reads(db, cluster, settings, routing_urls):
    """The same limit in WAL bytes."""
    settings.REPLICA_MAX_LAG_BYTES = 4096
    _make_replay_lag(cluster)
    status = monitor.refresh().replicas["replica"]
    assert status.replay_paused is True
    assert status.lag_bytes > 4096
    assert Client().get("/read/").json()["alias"] == "default"

    cluster.resume_replay()
    cluster.wait_for_replay()
    assert Client().get("/read/").json()["alias"] == "replica"


def test_lag_seconds_is_zero_on_idle_caught_up_replica(db, cluster):
    """On an idle primary a caught-up replica reports zero time lag, however
    long ago the last transaction was."""
    cluster.wait_for_replay()
    time.sleep(1.2)
    status = monitor.refresh().replicas["replica"]
    assert status.lag_seconds == 0
    assert status.lag_bytes == 0


def test_stopped_replica_costs_no_error_page(
    two_staff_clients, cluster, settings, query_log
):
    """The replica is stopped between two requests: both answer 200 from the
    primary (the dead one is probed once, then skipped); once it is back,
    reads return to it within REPLICA_RETRY_SECONDS."""
    settings.REPLICA_RETRY_SECONDS = 2
    # Behind PgBouncer a stopped server is met by the read timeout (the
    # pooler queues the query); without one, the refused connection at once.
    settings.REPLICA_READ_TIMEOUT = 1
    _, client = two_staff_clients
    Author.objects.create(name="Kazuo Ishiguro")
    cluster.wait_for_replay()
    assert client.get("/admin/catalog/author/").status_code == 200  # warm connection
    cluster.stop("replica")
    try:
        for _ in range(2):
            query_log.clear()
            started = time.monotonic()
            response = client.get("/admin/catalog/author/")
            assert response.status_code == 200
            assert "Kazuo Ishiguro" in response.content.decode()
            assert query_log.aliases("catalog_author") == {"default"}
            assert time.monotonic() - started < 2
        assert monitor.is_down("replica")
    finally:
        cluster.start("replica")
    cluster.wait_until_ready("replica")
    deadline = time.monotonic() + settings.REPLICA_RETRY_SECONDS + 2
    while True:
        query_log.clear()
        assert client.get("/admin/catalog/author/").status_code == 200
        if query_log.aliases("catalog_author") == {"replica"}:
            break
        assert time.monotonic() < deadline, "reads did not return to the replica"
        time.sleep(0.2)


def test_read_retried_on_primary_when_replica_connection_drops(db, cluster, settings):
    """A read whose replica connection is killed mid-request is retried once
    on the primary and the replica is skipped afterwards. (Behind PgBouncer
    the pooler replaces the killed server connection itself: the read just
    succeeds.)"""
    Author.objects.create(name="Ted Chiang")
    cluster.wait_for_replay()
    assert Author.objects.count() == 1  # opens the replica connection
    cluster.execute(
        "replica",
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE application_name = 'console'",
    )
    names = list(Author.objects.values_list("name", flat=True))
    assert names == ["Ted Chiang"]
    if not settings.TEST_POOLER_PORT:
        assert monitor.is_down("replica")
        assert Author.objects.all().db == "default"


def test_reads_spread_over_two_replicas(second_replica, routing_urls):
    """With two healthy replicas, requests spread over both."""
    served = {Client().get("/read/").json()["alias"] for _ in range(30)}
    assert served == {"replica", "replica_2"}


def test_paused_replica_left_out_while_other_serves(
    second_replica, cluster, settings, routing_urls
):
    """One replica lagging past the limit: the other serves every read."""
    settings.REPLICA_MAX_LAG_BYTES = 4096
    _make_replay_lag(cluster, role="replica_2")
    cluster.wait_for_replay("replica")
    served = {Client().get("/read/").json()["alias"] for _ in range(20)}
    assert served == {"replica"}


def test_routing_costs_no_query_in_the_steady_state(
    db, routing_urls, query_log, settings
):
    """Within REPLICA_CHECK_INTERVAL, read requests share one measurement of
    the primary and the replica: in the steady state a read request costs
    no routing query, and a write request one WAL-position query."""
    settings.REPLICA_CHECK_INTERVAL = 60
    client = Client()
    client.get("/read/")  # the first measurement of this process
    query_log.clear()
    for _ in range(3):
        assert Client().get("/read/").json()["alias"] == "replica"
    routing_queries = [
        sql for _, sql in query_log.entries if "catalog_author" not in sql
    ]
    assert routing_queries == []

    query_log.clear()
    client.post("/write/", {"name": "Clarice Lispector"})
    routing_queries = [
        sql for _, sql in query_log.entries if "catalog_author" not in sql
    ]
    assert routing_queries == [consistency.WRITE_POSITION_SQL]


def test_routing_measures_each_server_once_per_interval(
    db, routing_urls, query_log, settings
):
    """When the shared state is older than the interval, one request
    measures the primary once and each replica once."""
    settings.REPLICA_CHECK_INTERVAL = 60
    routing.reset()
    query_log.clear()
    for _ in range(3):
        Client().get("/read/")
    assert query_log.primary_checks() == 1
    assert query_log.probes() == ["replica"]


def test_client_without_cookies_reads_its_write_with_the_header(
    db, cluster, routing_urls
):
    """An API client that keeps no cookies gets its write position in the
    Console-Write-Position header and, sending it back, reads its own write
    with replay paused; without it (or with a forged one) it reads the
    replica."""
    cluster.pause_replay()
    written = Client().post("/write/", {"name": "Machado de Assis"})
    position = written[consistency.HEADER]
    assert position

    fresh = Client(headers={consistency.HEADER: position})
    assert fresh.get("/read/").json() == {
        "names": ["Machado de Assis"],
        "alias": "default",
    }
    assert Client().get("/read/").json()["alias"] == "replica"
    forged = Client(headers={consistency.HEADER: "99999999999:forged"})
    assert forged.get("/read/").json()["alias"] == "replica"


def test_database_url_with_several_hosts_reaches_the_one_that_takes_writes(
    db, cluster, tmp_path
):
    """DATABASE_URL naming a replica first and the primary second: libpq,
    told target_session_attrs=read-write, skips the server in recovery, as
    it finds the new primary after a failover; the replication page names
    the server that answered."""
    url = (
        f"postgres://postgres@{cluster.host}:{cluster.port('replica')},"
        f"{cluster.host}:{cluster.port('primary')}/{cluster.database}"
    )
    code = (
        "import django; django.setup();"
        "from dbops.routing import probes;"
        "state = probes.check_primary('default');"
        "print(state.in_recovery, state.server)"
    )
    env = {
        "PATH": os.environ["PATH"],
        "ENV_FILE": "/dev/null",
        "DJANGO_SETTINGS_MODULE": "console.settings",
        "DEBUG": "1",
        "DATABASE_URL": url,
        "DATABASE_REPLICA_URLS": "",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=django_settings.BASE_DIR, env=env,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "False",
        f"{cluster.host}:{cluster.port('primary')}",
    ]


def test_second_device_of_the_same_user_sees_the_write(
    db, cluster, django_user_model, query_log
):
    """The user's write position is kept server-side too: their second
    browser, which has no cookie of the first, reads the new author from the
    primary with replay paused; another user still reads the replica."""
    user = django_user_model.objects.create_user(
        "ursula", password="pw-for-tests", is_staff=True, is_superuser=True
    )
    laptop, phone = Client(), Client()
    laptop.force_login(user)
    phone.force_login(user)
    colleague = _staff_client(django_user_model, "colleague")
    cluster.wait_for_replay()
    cluster.pause_replay()
    response = laptop.post(
        "/admin/catalog/author/add/", {"name": "Lygia Fagundes", "country": "BR"}
    )
    assert response.status_code == 302

    query_log.clear()
    assert "Lygia Fagundes" in phone.get("/admin/catalog/author/").content.decode()
    assert query_log.aliases("catalog_author") == {"default"}
    query_log.clear()
    page = colleague.get("/admin/catalog/author/").content.decode()
    assert "Lygia Fagundes" not in page
    assert query_log.aliases("catalog_author") == {"replica"}
