"""The compromise-detection thresholds of docs/rules.md: staff edit them in the admin."""

from __future__ import annotations

from django.db import migrations


def seed(apps, schema_editor):
    HoldSettings = apps.get_model("limits", "HoldSettings")
    HoldSettings.objects.get_or_create(pk=1)  # the model's defaults are docs/rules.md's


class Migration(migrations.Migration):
    dependencies = [("limits", "0003_holds")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
