"""The blocklists looked up by default (docs/rules.md): staff add or disable zones."""

from __future__ import annotations

from django.db import migrations

ZONES = ["zen.spamhaus.org", "b.barracudacentral.org", "bl.spamcop.net"]


def seed(apps, schema_editor):
    zone = apps.get_model("reputation", "BlocklistZone")
    for name in ZONES:
        zone.objects.get_or_create(zone=name)


def unseed(apps, schema_editor):
    apps.get_model("reputation", "BlocklistZone").objects.filter(zone__in=ZONES).delete()


class Migration(migrations.Migration):
    dependencies = [("reputation", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
