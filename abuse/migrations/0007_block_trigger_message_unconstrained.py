# The message table becomes partitioned (tracking 0005): a foreign key constraint cannot
# reference an id that is unique per partition only.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("abuse", "0006_spam_warnings"),
        ("tracking", "0004_ingest_parked"),
    ]

    operations = [
        migrations.AlterField(
            model_name="block",
            name="trigger_message",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="tracking.outboundmessage",
            ),
        ),
    ]
