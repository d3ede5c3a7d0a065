"""`manage.py pgcluster up|down|status|pause-replay|resume-replay`."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from dbops.cluster import Cluster, ClusterError


def local_cluster(
    root: str | None = None,
    primary_port: int | None = None,
    replica_port: int | None = None,
) -> Cluster:
    """The local cluster as configured in settings, with optional overrides."""
    primary_default, replica_default = settings.LOCAL_CLUSTER_PORTS
    return Cluster(
        root=Path(root) if root else settings.BASE_DIR / "var" / "pgcluster",
        primary_port=primary_port or primary_default,
        replica_port=replica_port or replica_default,
        database=settings.LOCAL_DATABASE,
        host=settings.LOCAL_CLUSTER_HOST,
    )


class Command(BaseCommand):
    help = (
        "Make and run the local PostgreSQL primary and streaming replica "
        "(under var/pgcluster/ on 127.0.0.1:55432 and :55433)."
    )
    # Starting the cluster must not need the database it starts.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser):
        parser.add_argument(
            "action",
            choices=["up", "down", "status", "pause-replay", "resume-replay"],
        )
        parser.add_argument("--dir", help="data directory (default var/pgcluster)")
        parser.add_argument("--primary-port", type=int)
        parser.add_argument("--replica-port", type=int)

    def handle(self, *args, action, **options):
        cluster = local_cluster(
            options["dir"], options["primary_port"], options["replica_port"]
        )
        try:
            self._dispatch(cluster, action)
        except ClusterError as exc:
            raise CommandError(str(exc)) from exc

    def _dispatch(self, cluster: Cluster, action: str) -> None:
        if action == "up":
            cluster.up()
            if cluster.data_root != Path(cluster.root).resolve():
                self.stdout.write(f"data: {cluster.data_root}")
            self.stdout.write(f"primary: {cluster.url('primary')}")
            self.stdout.write(f"replica: {cluster.url('replica')}")
        elif action == "down":
            cluster.down()
            self.stdout.write("local cluster stopped")
        elif action == "status":
            stopped = []
            for role, entry in cluster.status().items():
                running = entry.pop("running")
                if not running:
                    stopped.append(role)
                details = "  ".join(f"{key}={value}" for key, value in entry.items())
                state = "running" if running else "stopped"
                self.stdout.write(f"{role}: {state}  {details}")
            if stopped:
                # Non-zero, so that a script or a check can rely on it.
                raise ClusterError(
                    f"{' and '.join(stopped)} stopped: "
                    "`manage.py pgcluster up` starts what is not running"
                )
        elif action == "pause-replay":
            cluster.pause_replay()
            self.stdout.write("replay paused on the replica")
        else:
            cluster.resume_replay()
            self.stdout.write("replay resumed on the replica")
