"""The Statements page's source: PostgreSQL's `pg_stat_statements`.

Creating an extension needs rights that a deployment's user may lack (and
the server may lack the contrib package): then this migration notes it and
goes on, and the Statements page says what to run. Replicas get the
extension by replaying the primary; each server also needs the library in
its `shared_preload_libraries` (the local and test clusters have it).
"""

from django.db import migrations

CREATE = """
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
EXCEPTION WHEN insufficient_privilege OR undefined_file OR feature_not_supported THEN
    RAISE NOTICE 'pg_stat_statements not created (%): the Statements page says what to do', SQLERRM;
END
$$;
"""


class Migration(migrations.Migration):
    dependencies = [("dbops", "0002_userwriteposition")]

    # Dropping it on the way back could take it from other tools that read it.
    operations = [migrations.RunSQL(CREATE, reverse_sql=migrations.RunSQL.noop)]
