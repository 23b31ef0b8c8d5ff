"""The server default of docs/rules.md ("Sending limits"): staff edit it in the admin."""

from __future__ import annotations

from django.db import migrations


def seed(apps, schema_editor):
    SendingLimits = apps.get_model("limits", "SendingLimits")
    SendingLimits.objects.get_or_create(
        hosting=None,
        defaults={
            "mailbox_per_hour": 200,
            "mailbox_per_day": 1000,
            "domain_per_hour": 500,
            "domain_per_day": 3000,
            "per_message": 100,
        },
    )


class Migration(migrations.Migration):
    dependencies = [("limits", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
