"""The database aliases, named in one place.

The primary is Django's "default"; the replicas are "replica", "replica_2",
"replica_3", ... in the order of DATABASE_REPLICA_URLS (console/settings.py).
No imports: every layer, the database backend included, can use it.
"""

PRIMARY = "default"
