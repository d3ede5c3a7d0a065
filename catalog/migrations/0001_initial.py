import django.contrib.postgres.indexes
import django.db.models.deletion
import django.db.models.functions.text
from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = []

    operations = [
        # gin_trgm_ops for the substring searches of the admin.
        TrigramExtension(),
        migrations.CreateModel(
            name="Author",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=200, unique=True)),
                ("bio", models.TextField(blank=True)),
                ("country", models.CharField(blank=True, max_length=100)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
            options={
                "verbose_name": "author",
                "verbose_name_plural": "authors",
                "ordering": ["name"],
                "indexes": [
                    django.contrib.postgres.indexes.GinIndex(django.contrib.postgres.indexes.OpClass(django.db.models.functions.text.Upper("name"), name="gin_trgm_ops"), name="catalog_author_name_trgm"),
                    models.Index(fields=["country"], name="catalog_author_country"),
                ],
            },
        ),
        # Book's indexes come in 0002, built concurrently: the table is the
        # big one, and the same pattern must be followed for later indexes.
        migrations.CreateModel(
            name="Book",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("title", models.CharField(max_length=300)),
                ("published", models.DateField(blank=True, null=True)),
                ("isbn", models.CharField(blank=True, max_length=20, null=True, verbose_name="ISBN")),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("author", models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name="books", to="catalog.author")),
            ],
            options={
                "verbose_name": "book",
                "verbose_name_plural": "books",
                "ordering": ["-id"],
            },
        ),
    ]
