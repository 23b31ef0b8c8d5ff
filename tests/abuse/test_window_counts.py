"""Every tier's count from one read equals counting each window on its own."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from abuse.counting import LiftFloors, policy_cached, spam_counts_in_windows, targets_of
from tests.abuse.helpers import T0, spam_at
from tracking.models import OutboundMessage

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("seed", range(4))
def test_one_read_counts_every_window_as_counting_each_would(mailbox, seed):
    rng = random.Random(seed)
    now = T0 + timedelta(days=130)
    for _ in range(rng.randrange(60, 160)):
        # Spam over 130 days, some of it bunched at the windows' edges, one in the future.
        at = now - timedelta(seconds=rng.choice([rng.randrange(130 * 86400), 86400, 7 * 86400]))
        spam_at(mailbox.address, at + timedelta(seconds=rng.choice([-1, 0, 1])))
    spam_at(mailbox.address, now + timedelta(hours=1))
    message = OutboundMessage.objects.filter(mailbox=mailbox).first()
    tiers = list(policy_cached().tiers)
    for target in targets_of(message):
        floor = now - timedelta(days=rng.randrange(1, 100))
        for floors in (LiftFloors(()), LiftFloors(((20, floor),))):
            scoped = [t for t in tiers if t.scope == target.scope]
            counts = spam_counts_in_windows(tiers=scoped, target=target, now=now, floors=floors)
            stored = list(target.spam().values_list("sent_at", flat=True))
            for tier in scoped:
                since = now - tier.window
                lifted = floors.for_rank(tier.rank)
                if lifted is not None and lifted > since:
                    since = lifted
                naive = min(tier.threshold, sum(1 for at in stored if at > since))
                assert counts[tier.pk] == naive, (target.scope, tier.code)
