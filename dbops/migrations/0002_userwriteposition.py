from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("dbops", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="UserWritePosition",
            fields=[
                ("user_id", models.BigIntegerField(primary_key=True, serialize=False)),
                ("position", models.BigIntegerField()),
                ("written_at", models.DateTimeField(db_index=True)),
            ],
        ),
    ]
