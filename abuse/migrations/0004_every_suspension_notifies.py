"""Every suspension e-mails the customer, timed ones included (docs/rules.md); staff may still
turn a tier's e-mail off in the policy table."""

from __future__ import annotations

from django.db import migrations


def notify_timed_tiers(apps, schema_editor):
    PolicyTier = apps.get_model("abuse", "PolicyTier")
    PolicyTier.objects.filter(code__in=["L-SPAM00", "L-SPAM10", "L-SPAM11"]).update(
        notify_customer=True
    )


class Migration(migrations.Migration):
    dependencies = [("abuse", "0003_block_notified_at")]

    operations = [migrations.RunPython(notify_timed_tiers, migrations.RunPython.noop)]
