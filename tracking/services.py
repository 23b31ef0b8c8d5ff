"""The history of sent mail: who sent a message, and storing it once with its content.

It knows nothing of blocks: whether a message is spam, and the code it met, are decided
by the way in (ingest) and stored as they are given."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from lwsmail.models import Domain, Mailbox, SystemUser
from tracking.mime import clean_text
from tracking.models import CONTENT_RETENTION, MessageContent, OutboundMessage, Source, Status


@dataclass(frozen=True)
class MessageData:
    """One outbound message as Rspamd saw it: plain data, as tasks pass it around."""

    sender: str
    recipients: list[str]
    sent_at: datetime
    score: float
    action: str = ""
    required_score: float | None = None
    authenticated_user: str = ""
    subject: str = ""
    size: int = 0
    queue_id: str = ""
    rspamd_server: str = ""
    message_id: str = ""
    client_ip: str | None = None
    script: str = ""
    # The system uid of a `sendmail` submission (Postfix pickup's Received line).
    uid: int | None = None
    symbols: dict[str, Any] = field(default_factory=dict)
    raw: bytes = b""
    # The verdict, decided by the way in: stored as given.
    status: str = Status.SENT
    is_spam: bool = False
    code: str = ""  # the L-SPAM code the message met (refused for a standing block)

    def identity(self) -> str:
        """Rspamd server + queue id, else Message-ID + sender + time, else the bytes."""
        if self.queue_id:
            key = f"q\0{self.rspamd_server}\0{self.queue_id}"
        elif self.message_id:
            key = f"m\0{self.message_id}\0{self.sender.lower()}\0{self.sent_at.isoformat()}"
        else:
            digest = hashlib.sha256(self.raw).hexdigest()
            key = f"r\0{digest}\0{self.sender.lower()}\0{self.sent_at.isoformat()}"
        return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()


@dataclass(frozen=True)
class Attribution:
    source: str
    domain: Domain | None = None
    mailbox: Mailbox | None = None
    hosting_id: int | None = None


@dataclass(frozen=True)
class Stored:
    message: OutboundMessage
    created: bool


def _domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower().rstrip(".")


@dataclass(frozen=True)
class Directory:
    """The mailboxes, domains and system users a batch of messages names, looked up in
    four queries at most."""

    mailboxes: dict[str, Mailbox]
    domains: dict[str, Domain]
    hosting_of_uid: dict[int, int]
    primary_domain: dict[int, Domain]  # hosting id -> its first domain

    @classmethod
    def for_messages(cls, datas: list[MessageData]) -> Directory:
        users = {d.authenticated_user.lower() for d in datas if d.authenticated_user}
        names = {_domain_of(d.sender) for d in datas if "@" in d.sender}
        uids = {d.uid for d in datas if d.uid is not None and not d.authenticated_user}
        hosting_of_uid = (
            dict(SystemUser.objects.filter(uid__in=uids).values_list("uid", "hosting_id"))
            if uids
            else {}
        )
        mailboxes = (
            Mailbox.objects.select_related("domain").filter(address__in=users) if users else []
        )
        domains = Domain.objects.filter(name__in=names) if names else []
        primary: dict[int, Domain] = {}
        if hosting_of_uid:
            for d in Domain.objects.filter(hosting_id__in=set(hosting_of_uid.values())).order_by(
                "-id"
            ):
                primary[d.hosting_id] = d  # the lowest id wins: the hosting's first domain
        return cls(
            {m.address: m for m in mailboxes},
            {d.name: d for d in domains},
            hosting_of_uid,
            primary,
        )


def message_attribute(data: MessageData, directory: Directory | None = None) -> Attribution:
    """Who sent it, by what the mail server vouches for: the authenticated mailbox, else the
    hosting of the system user that ran `sendmail` (its own domain of the envelope sender,
    else its first domain). Anything else, an envelope sender above all, is a claim the
    sender made: kept for staff, counted for nobody."""
    directory = directory or Directory.for_messages([data])
    if data.authenticated_user:
        mailbox = directory.mailboxes.get(data.authenticated_user.lower())
        if mailbox is None:
            return Attribution(Source.MAILBOX)
        return Attribution(Source.MAILBOX, mailbox.domain, mailbox, mailbox.domain.hosting_id)
    hosting_id = directory.hosting_of_uid.get(data.uid) if data.uid is not None else None
    if hosting_id is None:
        return Attribution(Source.WEBSITE)
    domain = directory.domains.get(_domain_of(data.sender))
    if domain is None or domain.hosting_id != hosting_id:
        domain = directory.primary_domain.get(hosting_id)
    return Attribution(Source.WEBSITE, domain, None, hosting_id)


def _new_message(
    data: MessageData, identity: str, attribution: Attribution, now: datetime
) -> OutboundMessage:
    recipients = [clean_text(r)[:254] for r in data.recipients]
    return OutboundMessage(
        identity=identity,
        hosting_id=attribution.hosting_id,
        domain=attribution.domain,
        mailbox=attribution.mailbox,
        sender=clean_text(data.sender)[:254],
        authenticated_user=clean_text(data.authenticated_user)[:254],
        source=attribution.source,
        script=clean_text(data.script)[:500],
        recipients=recipients,
        recipients_text=" ".join(recipients).lower(),
        subject=clean_text(data.subject)[:998],
        size=data.size or len(data.raw),
        rspamd_server=clean_text(data.rspamd_server)[:255],
        queue_id=clean_text(data.queue_id)[:64],
        message_id=clean_text(data.message_id)[:998],
        client_ip=data.client_ip or None,
        sent_at=data.sent_at,
        received_at=now,
        score=data.score,
        required_score=data.required_score,
        action=data.action[:32],
        status=data.status,
        is_spam=data.is_spam,
        code=data.code,
    )


def _new_content(
    message: OutboundMessage, data: MessageData, now: datetime
) -> MessageContent | None:
    expires_at = data.sent_at + CONTENT_RETENTION
    if now >= expires_at:
        return None  # recorded after its 72 hours: metadata only
    return MessageContent(
        message=message, expires_at=expires_at, raw=data.raw, symbols=data.symbols
    )


def message_store(
    *, data: MessageData, now: datetime, attribution: Attribution | None = None
) -> Stored:
    """Store one message once, with its content for 72 hours; storing the same message
    again (same identity) returns the stored one."""
    identity = data.identity()
    attribution = attribution or message_attribute(data)
    existing = OutboundMessage.objects.filter(identity=identity).first()
    if existing is not None:
        return Stored(existing, False)
    message = _new_message(data, identity, attribution, now)
    try:
        with transaction.atomic():
            message.save(force_insert=True)
            content = _new_content(message, data, now)
            if content is not None:
                content.save(force_insert=True)
    except IntegrityError:
        # A concurrent worker stored the same identity first: theirs is the record.
        existing = OutboundMessage.objects.filter(identity=identity).first()
        if existing is None:
            raise
        return Stored(existing, False)
    return Stored(message, True)


def messages_store(*, datas: list[MessageData], now: datetime) -> int:
    """Store many messages in two bulk inserts (each once); returns how many were new."""
    batch = {d.identity(): d for d in datas}
    if not batch:
        return 0
    stored = set(
        OutboundMessage.objects.filter(identity__in=batch).values_list("identity", flat=True)
    )
    todo = {identity: d for identity, d in batch.items() if identity not in stored}
    directory = Directory.for_messages(list(todo.values()))
    messages = [_new_message(d, i, message_attribute(d, directory), now) for i, d in todo.items()]
    try:
        with transaction.atomic():
            OutboundMessage.objects.bulk_create(messages)
            contents = [_new_content(m, todo[m.identity], now) for m in messages]
            MessageContent.objects.bulk_create([c for c in contents if c is not None])
    except IntegrityError:
        # Another worker stored one of them meanwhile: one by one, each once.
        return sum(message_store(data=d, now=now).created for d in todo.values())
    return len(messages)


def message_code_set(*, message: OutboundMessage, code: str) -> None:
    """Note the L-SPAM code a message caused."""
    message.code = code
    OutboundMessage.objects.filter(pk=message.pk).update(code=code)


def _delete_batch(rows: QuerySet, order: str, batch_size: int) -> int:
    """Delete up to `batch_size` of `rows`, first by `order` (an indexed column), in one
    short transaction; returns how many rows of that model went."""
    with transaction.atomic():
        pks = list(rows.order_by(order).values_list("pk", flat=True)[:batch_size])
        if not pks:
            return 0
        return rows.filter(pk__in=pks).delete()[1].get(rows.model._meta.label, 0)


def in_batches(delete_batch: Callable[[], int], batch_size: int) -> int:
    """Run `delete_batch` until a batch comes back short; returns how many rows went in all.
    Each batch is its own short transaction, whatever the table's size."""
    total = 0
    while deleted := delete_batch():
        total += deleted
        if deleted < batch_size:
            break
    return total


def message_contents_sweep_batch(*, now: datetime, batch_size: int = 5000) -> int:
    """Delete one batch of expired content, oldest first by the expires_at index."""
    expired = MessageContent.objects.filter(expires_at__lte=now)
    return _delete_batch(expired, "expires_at", batch_size)


def message_contents_sweep(*, now: datetime | None = None, batch_size: int = 5000) -> int:
    """Delete message content and spam reports past their 72 hours; returns how many."""
    now = now or timezone.now()
    return in_batches(
        lambda: message_contents_sweep_batch(now=now, batch_size=batch_size), batch_size
    )


def messages_expire(*, before: datetime, batch_size: int = 5000) -> int:
    """Delete the message history sent before `before` (content goes with it); returns how
    many messages went. In primary-key order: the oldest rows come first on that index, so
    no index on the send time is needed."""
    old = OutboundMessage.objects.filter(sent_at__lt=before)
    return in_batches(lambda: _delete_batch(old, "pk", batch_size), batch_size)
