import django.contrib.postgres.indexes
import django.db.models.functions.text
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run inside a transaction; in exchange
    # it does not block writes to a big table while it builds.
    atomic = False

    dependencies = [
        ("catalog", "0001_initial"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="book",
            index=models.Index(fields=["author", "id"], name="catalog_book_author_id"),
        ),
        AddIndexConcurrently(
            model_name="book",
            index=models.Index(fields=["published"], name="catalog_book_published"),
        ),
        AddIndexConcurrently(
            model_name="book",
            index=django.contrib.postgres.indexes.GinIndex(django.contrib.postgres.indexes.OpClass(django.db.models.functions.text.Upper("title"), name="gin_trgm_ops"), name="catalog_book_title_trgm"),
        ),
    ]
