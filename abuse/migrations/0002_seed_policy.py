"""Seed the L-SPAM table of docs/rules.md and the policy settings; staff edit them afterwards."""

from __future__ import annotations

from datetime import timedelta

from django.db import migrations

H = timedelta(hours=1)
D = timedelta(days=1)

# code, scope, rank, threshold, window, block duration (None: until unblocked),
# complaint period, e-mail the customer (every suspension does, docs/rules.md)
TIERS = [
    ("L-SPAM00", "address", 0, 1, timedelta(0), 20 * timedelta(minutes=1), None, True),
    ("L-SPAM10", "address", 10, 20, 24 * H, 24 * H, None, True),
    ("L-SPAM11", "domain", 11, 30, 24 * H, 24 * H, None, True),
    ("L-SPAM20", "address", 20, 40, 7 * D, None, 24 * H, True),
    ("L-SPAM21", "domain", 21, 60, 7 * D, None, 24 * H, True),
    ("L-SPAM30", "address", 30, 80, 60 * D, None, 72 * H, True),
    ("L-SPAM31", "domain", 31, 120, 60 * D, None, 72 * H, True),
    ("L-SPAM40", "address", 40, 120, 120 * D, None, 7 * D, True),
]


def seed(apps, schema_editor):
    PolicyTier = apps.get_model("abuse", "PolicyTier")
    PolicySettings = apps.get_model("abuse", "PolicySettings")
    PolicySettings.objects.get_or_create(
        pk=1, defaults={"spam_score_threshold": 8.0, "unblock_interval": 90 * D}
    )
    for code, scope, rank, threshold, window, duration, complaint, notify in TIERS:
        PolicyTier.objects.update_or_create(
            code=code,
            defaults={
                "scope": scope,
                "rank": rank,
                "threshold": threshold,
                "window": window,
                "block_duration": duration,
                "complaint_period": complaint,
                "notify_customer": notify,
                "enabled": True,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("abuse", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
