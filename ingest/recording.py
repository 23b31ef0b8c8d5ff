"""Recording what came in: the verdict, the history (tracking), then the engine (abuse).

Spam of one domain is serialised by a row lock on the domain, held while the messages are
stored and the engine counts: window counts and block starts for its addresses and for
itself never interleave. A batch goes in bulk, spam included; the engine then judges
each new spam on the counts as they stood when it was recorded."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from abuse.counting import is_spam, strongest
from abuse.engine import spams_evaluate
from abuse.models import Block
from hosting.models import Domain
from ingest.rspamd import refused_code
from tracking.models import OutboundMessage, Status
from tracking.services import (
    Directory,
    MessageData,
    message_attribute,
    message_code_set,
    messages_store,
)


@dataclass(frozen=True)
class RecordResult:
    message: OutboundMessage
    created: bool
    blocks: list[Block]


def message_verdict(data: MessageData) -> MessageData:
    """The message with its verdict: refused for a standing block (never spam: counting it
    would escalate the block with every retry of the customer's mail client), rejected by
    Rspamd (spam), or sent (spam over the threshold)."""
    code = refused_code(data.symbols)
    if code is not None:
        return replace(data, status=Status.BLOCKED, is_spam=False, code=code)
    status = Status.REJECTED if data.action == "reject" else Status.SENT
    return replace(data, status=status, is_spam=is_spam(score=data.score, action=data.action))


def message_record(*, data: MessageData, now: datetime | None = None) -> RecordResult:
    """Store one outbound message once, with its content for 72 h, and feed spam to the
    L-SPAM engine; recording the same message again changes nothing."""
    created, started = _batch_record([message_verdict(data)], now or timezone.now())
    if not created:
        stored = OutboundMessage.objects.filter(identity=data.identity()).first()
        return RecordResult(stored, False, [])
    return RecordResult(created[0], True, started.get(created[0].pk, []))


def messages_record(*, datas: list[MessageData], now: datetime | None = None) -> int:
    """Record many messages: all stored in two bulk inserts, then the new spam through the
    engine, target by target in the order sent; returns how many were new."""
    created, _started = _batch_record([message_verdict(d) for d in datas], now or timezone.now())
    return len(created)


def _batch_record(
    judged: list[MessageData], now: datetime
) -> tuple[list[OutboundMessage], dict[int, list[Block]]]:
    """The new messages and the blocks their spam started (by message id)."""
    # One lookup of the senders serves the locks and every message's attribution.
    directory = Directory.for_messages(judged)
    with transaction.atomic():
        _spam_domains_lock([d for d in judged if d.is_spam], directory)
        created = messages_store(datas=judged, now=now, directory=directory)
        spam = sorted((m for m in created if m.is_spam), key=lambda m: m.sent_at)
        started = spams_evaluate(messages=spam, now=now)
        for message in spam:
            if message.pk in started:
                message_code_set(message=message, code=strongest(started[message.pk]).code)
    return created, started


def _spam_domains_lock(spam: list[MessageData], directory: Directory) -> None:
    """Lock the domains of a batch's spam at once, in id order: taken one by one in the
    order sent, two workers whose batches share two domains could each hold one and wait
    for the other (a deadlock PostgreSQL breaks by failing a batch)."""
    ids = {a.domain.pk for d in spam if (a := message_attribute(d, directory)).domain is not None}
    if ids:
        list(Domain.objects.select_for_update().filter(pk__in=ids).order_by("pk").values("pk"))
