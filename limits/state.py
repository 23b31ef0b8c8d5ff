"""The limits in Redis, where the policy service and Rspamd read them for every recipient.

One hash, LIMITS_KEY:
- "mailbox:<address>": {"h": hosting id, "d": domain, "m": [hour, day], "dl": [hour, day],
  "hl": [hour, day], "pm": per message} (0: no limit);
- "uid:<uid>" (website scripts, for Rspamd): {"h", "hl", "pm", "domains": {name: [hour, day]}};
- "default": the server default for a mailbox the panel has not published yet, and
  compromise detection's settings: {"hv": 0 (a mailbox not published yet has no history
  to be held for volume), "hn": networks that hold,
  "p4", "p6": network prefix lengths} (0: detection off);
- each mailbox's entry also holds "hv", its own volume that holds (from its baseline);
- "admit_sha": the SHA1 of the counting script (enforcement/lua/), loaded into Redis
  with it, which Rspamd calls by that name.
PostgreSQL is the truth; a change publishes its hosting after the commit and
`limits_rebuild` (command and beat job) rewrites the whole hash atomically.
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime

from django.db import transaction
from django.utils import timezone

from enforcement.blockstate import redis_apply
from enforcement.counters import (
    DAY,
    HOLDS_KEY,
    LIMITS_KEY,
    SINCE_KEY,
    Counter,
    admit_args,
    admit_keys,
    key,
)
from enforcement.scripts import ADMIT, HOLD_FORGET, HOLD_LIFT
from hosting.models import Domain, Hosting, Mailbox, SystemUser
from hosting.redis import client
from limits.models import (
    DomainLimit,
    Hold,
    HoldSettings,
    MailboxBaseline,
    MailboxLimit,
    SendingLimits,
)
from limits.selectors import inherit, lower, server_default, window
from tracking.models import OutboundMessage, Source, Status

log = logging.getLogger(__name__)


def _pair(values: dict, prefix: str, own=None) -> list[int]:
    return window(values, prefix, own).pair()


def _entries(hosting_ids: Iterable[int] | None = None) -> dict[str, str]:
    """Every field of the hash for these hostings (all when None), in a few queries."""
    default = server_default()
    by_staff = {
        r.hosting_id: inherit(default, r)
        for r in SendingLimits.objects.filter(hosting__isnull=False)
    }
    domains = Domain.objects.all()
    boxes = Mailbox.objects.select_related("domain")
    uids = SystemUser.objects.all()
    if hosting_ids is not None:
        domains = domains.filter(hosting_id__in=hosting_ids)
        boxes = boxes.filter(domain__hosting_id__in=hosting_ids)
        uids = uids.filter(hosting_id__in=hosting_ids)
    own_domain = {d.domain_id: d for d in DomainLimit.objects.filter(domain__in=domains)}
    own_box = {b.mailbox_id: b for b in MailboxLimit.objects.filter(mailbox__in=boxes)}
    detection = HoldSettings.load()
    baselines = {b.mailbox_id: b for b in MailboxBaseline.objects.filter(mailbox__in=boxes)}
    now = timezone.now()

    def hold_volume(baseline: MailboxBaseline | None) -> int:
        # Only a mailbox with enough sending history is held for volume; a newer one (and
        # one the panel has not published yet, the default entry) is bounded by its limits.
        if not detection.enabled or baseline is None:
            return 0
        if not baseline.holds_for_volume(history_days=detection.history_days, now=now):
            return 0
        return detection.volume_threshold(baseline.hourly)

    def inherited(hosting_id: int) -> dict:
        return by_staff.get(hosting_id, default)

    fields: dict[str, str] = {
        "default": json.dumps(
            {
                "m": _pair(default, "mailbox"),
                "dl": _pair(default, "domain"),
                "pm": default["per_message"] or 0,
                "hv": 0,
                "hn": detection.max_networks if detection.enabled else 0,
                "p4": detection.ipv4_prefix,
                "p6": detection.ipv6_prefix,
            }
        )
    }
    by_hosting: dict[int, dict[str, list[int]]] = defaultdict(dict)
    for domain in domains:
        values = inherited(domain.hosting_id)
        by_hosting[domain.hosting_id][domain.name] = _pair(
            values, "domain", own_domain.get(domain.pk)
        )
    for box in boxes:
        hosting_id = box.domain.hosting_id
        values = inherited(hosting_id)
        own = own_box.get(box.pk)
        fields[f"mailbox:{box.address.lower()}"] = json.dumps(
            {
                "h": hosting_id,
                "d": box.domain.name,
                "m": _pair(values, "mailbox", own),
                "dl": by_hosting[hosting_id][box.domain.name],
                "hl": _pair(values, "hosting"),
                "pm": lower(values["per_message"], own.per_message if own else None) or 0,
                "hv": hold_volume(baselines.get(box.pk)),
            }
        )
    for uid in uids:
        values = inherited(uid.hosting_id)
        fields[f"uid:{uid.uid}"] = json.dumps(
            {
                "h": uid.hosting_id,
                "hl": _pair(values, "hosting"),
                "pm": values["per_message"] or 0,
                "domains": by_hosting[uid.hosting_id],
            }
        )
    return fields


def limits_publish(*, hosting: Hosting) -> None:
    """After commit, make the policy service and Rspamd apply this hosting's limits."""

    def publish() -> None:
        fields = _entries([hosting.pk])
        fields["admit_sha"] = client().script_load(ADMIT)  # Rspamd calls it by this SHA1
        client().hset(LIMITS_KEY, mapping=fields)

    transaction.on_commit(lambda: redis_apply(publish, f"limits of {hosting}"))


def limits_rebuild() -> int:
    """Rewrite the whole hash from PostgreSQL in one atomic swap; returns its field count."""
    fields = _entries()
    fields["admit_sha"] = client().script_load(ADMIT)  # Rspamd calls it by this SHA1
    tmp = f"{LIMITS_KEY}:rebuild"
    pipe = client().pipeline(transaction=True)
    pipe.delete(tmp)
    pipe.hset(tmp, mapping=fields)
    pipe.rename(tmp, LIMITS_KEY)
    # Counting starts now if the limits were not there (a Redis that lost them counted
    # nothing meanwhile); a Redis that kept them keeps its date.
    pipe.set(SINCE_KEY, time.time(), nx=True)
    pipe.execute()
    return len(fields)


def hold_entry(hold: Hold) -> str:
    return json.dumps(
        {
            "t": hold.token,
            "at": hold.started_at.timestamp(),
            "why": hold.reason,
            "n": hold.observed,
            "max": hold.threshold,
            "nets": hold.networks,
        }
    )


def hold_withdraw(*, address: str, at: float) -> None:
    """After commit, let the mailbox send again: clear its hold if it started by `at`."""

    def clear() -> None:
        keys = [HOLDS_KEY, key("lifted", address)]
        client().register_script(HOLD_LIFT)(keys=keys, args=[address.lower(), repr(at)])

    transaction.on_commit(lambda: redis_apply(clear, f"lift the hold of {address}"))


def holds_stored() -> dict[str, dict]:
    """The holds the policy service enforces now: address -> what its script recorded."""
    stored = client().hgetall(HOLDS_KEY)
    return {k.decode(): json.loads(v) for k, v in stored.items()}


def hold_restore(*, hold: Hold) -> None:
    """Put back a standing hold Redis lost (restart): PostgreSQL still holds it."""
    client().hsetnx(HOLDS_KEY, hold.mailbox.address.lower(), hold_entry(hold))


def hold_forget(*, address: str, token: str) -> None:
    """Remove a hold that nothing stands behind (its mailbox is gone), if still that one."""
    client().register_script(HOLD_FORGET)(keys=[HOLDS_KEY], args=[address, token])


class CountersWhole(Exception):
    """The counters already hold the whole last 24 hours: replaying would count twice."""


def counters_replay(*, now: float | None = None, batch: int = 1000) -> int:
    """Count again the recipients of the mail sent in the last 24 hours that Redis never
    counted (before SINCE_KEY: a Redis that lost its counters, or a demo's history), from
    the message history, so the windows are whole again; returns the messages counted."""
    now = time.time() if now is None else now
    redis = client()
    if not redis.hexists(LIMITS_KEY, "default"):
        limits_rebuild()  # counting starts with the limits: from here on it is live
    since = float(redis.get(SINCE_KEY) or now)
    if since <= now - DAY:
        raise CountersWhole(f"the counters are whole since {time.ctime(since)}")
    messages = (
        # Mail no hosting owns (an unknown sender or uid) was counted on no counter.
        OutboundMessage.objects.filter(
            hosting__isnull=False,
            status=Status.SENT,
            sent_at__gt=datetime.fromtimestamp(now - DAY, UTC),
            sent_at__lt=datetime.fromtimestamp(since, UTC),
        )
        .select_related("domain", "mailbox")
        .order_by("sent_at")
    )
    counted = 0
    pipe = redis.pipeline(transaction=False)
    admit_script = redis.register_script(ADMIT)
    for message in messages.iterator(chunk_size=batch):
        counters = [Counter("hosting", str(message.hosting_id), 0, 0)]
        if message.domain_id is not None:
            counters.insert(0, Counter("domain", message.domain.name, 0, 0))
        if message.source == Source.MAILBOX and message.mailbox_id is not None:
            counters.insert(0, Counter("mailbox", message.mailbox.address, 0, 0))
        recipients = len(message.recipients) if isinstance(message.recipients, list) else 1
        keys = admit_keys(counters, "")
        args = admit_args(
            counters, recipients=max(recipients, 1), per_message=0, now=message.sent_at.timestamp()
        )
        admit_script(keys=keys, args=args, client=pipe)
        counted += 1
        if counted % batch == 0:
            pipe.execute()
    pipe.execute()
    redis.set(SINCE_KEY, now - DAY)
    return counted
