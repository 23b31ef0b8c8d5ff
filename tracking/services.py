"""The history of sent mail: who sent a message, and storing it once with its content.

It knows nothing of blocks: whether a message is spam, and the code it met, are decided
by the way in (ingest) and stored as they are given."""

from __future__ import annotations

import hashlib
import ipaddress
import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

import psycopg
from django.db import connection, models, transaction
from django.db.models import QuerySet
from django.utils import timezone
from psycopg.types.json import Jsonb

from hosting.models import Domain, Mailbox, SystemUser
from tracking.mime import clean_text
from tracking.models import CONTENT_RETENTION, MessageContent, OutboundMessage, Source, Status
from tracking.partitions import CONTENTS, MESSAGES, partitioned, partitions_cover, partitions_drop

# The first key of the identities' advisory locks (the second: 32 bits of the identity).
IDENTITY_LOCKS = 0x6C77_6964  # "lwid"


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
    domain, mailbox = attribution.domain, attribution.mailbox
    values = {
        "id": None,
        "identity": identity,
        "hosting_id": attribution.hosting_id,
        "domain_id": domain.pk if domain is not None else None,
        "mailbox_id": mailbox.pk if mailbox is not None else None,
        "sender": clean_text(data.sender)[:254],
        "authenticated_user": clean_text(data.authenticated_user)[:254],
        "source": attribution.source,
        "script": clean_text(data.script)[:500],
        "recipients": recipients,
        "recipients_text": " ".join(recipients).lower(),
        "subject": clean_text(data.subject)[:998],
        "size": data.size or len(data.raw),
        "rspamd_server": clean_text(data.rspamd_server)[:255],
        "queue_id": clean_text(data.queue_id)[:64],
        "message_id": clean_text(data.message_id)[:998],
        "client_ip": data.client_ip or None,
        "sent_at": data.sent_at,
        "received_at": now,
        "score": data.score,
        "required_score": data.required_score,
        "action": data.action[:32],
        "status": data.status,
        "is_spam": data.is_spam,
        "code": data.code,
    }
    # Positional, as Django makes the instances it reads: by keyword, an instance cost
    # nearly four times as much CPU (a field missing here is a KeyError, not a default).
    message = OutboundMessage(*(values[name] for name in _message_columns()))
    # The related rows, as the keywords would have kept them: the engine reads the address.
    OutboundMessage.domain.field.set_cached_value(message, domain)
    OutboundMessage.mailbox.field.set_cached_value(message, mailbox)
    return message


@cache
def _message_columns() -> tuple[str, ...]:
    return tuple(f.attname for f in OutboundMessage._meta.concrete_fields)


def _content_expiry(data: MessageData, now: datetime) -> datetime | None:
    """When the message's content goes (72 hours after sending); None when it is recorded
    after that: metadata only."""
    expires_at = data.sent_at + CONTENT_RETENTION
    return expires_at if now < expires_at else None


def _identities_lock(identities: list[str]) -> None:
    """Hold each identity's lock until the transaction ends: no unique index spans the
    partitions of the message table, so storing a message once is looking for its
    identity and inserting it under that lock (a duplicate pushed days later lands in
    another partition, and is found there)."""
    if not partitioned():
        # SQLite (the demo) has no advisory locks: two of its workers storing one message
        # at the same instant could both store it. The suite proves PostgreSQL only.
        return
    with connection.cursor() as cursor:
        # In one order, so that two batches sharing identities never wait on each other.
        cursor.execute(
            "SELECT count(pg_advisory_xact_lock(%s, k)) FROM (SELECT DISTINCT "
            "('x' || substr(i, 1, 8))::bit(32)::int AS k FROM unnest(%s::text[]) i "
            "ORDER BY k) keys",
            [IDENTITY_LOCKS, identities],
        )


def _rows_insert(messages: list[OutboundMessage], datas: list[MessageData], now: datetime) -> None:
    partitions_cover(scheme=MESSAGES, moments=[m.sent_at for m in messages])
    _messages_insert(messages)
    contents = [
        (m.pk, expires_at, d)
        for m, d in zip(messages, datas, strict=True)
        if (expires_at := _content_expiry(d, now))
    ]
    partitions_cover(scheme=CONTENTS, moments=[expires_at for _, expires_at, _ in contents])
    _contents_insert(contents)


def _contents_insert(contents: list[tuple[int, datetime, MessageData]]) -> None:
    """Insert each (message id, expiry, data)'s content. The widest rows of a batch (the
    whole message): COPY in binary took a third of the time of an INSERT of the same rows
    as hex text, PostgreSQL's share included; the rows go as values, without model
    instances, which nothing here needs."""
    if not contents:
        return
    if connection.vendor != "postgresql":
        MessageContent.objects.bulk_create(
            MessageContent(message_id=pk, expires_at=at, raw=d.raw, symbols=d.symbols)
            for pk, at, d in contents
        )
        return
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        _values_copy(
            cursor, MessageContent, [(pk, at, d.raw, Jsonb(d.symbols)) for pk, at, d in contents]
        )


def _messages_insert(messages: list[OutboundMessage]) -> None:
    """Insert new messages, their ids drawn first: the ORM's bulk INSERT spent more CPU
    preparing each value of each row (Field.get_db_prep_save) than PostgreSQL spent on
    the statement (cProfile on bench/ingest.py's corpus)."""
    if connection.vendor != "postgresql" or not messages:
        OutboundMessage.objects.bulk_create(messages)
        return
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            (OutboundMessage._meta.db_table, len(messages)),
        )
        for message, (pk,) in zip(messages, cursor.fetchall(), strict=True):
            message.pk = pk
        _rows_copy(cursor, messages)
    for message in messages:
        message._state.adding, message._state.db = False, connection.alias


@cache
def _copy_columns(model: type[models.Model]) -> tuple[tuple[models.Field, str], ...]:
    """Each concrete field of the model with its column's type, as COPY's binary format
    names it (varchar(64) -> varchar)."""
    columns = []
    for f in model._meta.concrete_fields:
        db_type = f.target_field.rel_db_type(connection) if f.is_relation else f.db_type(connection)
        columns.append((f, db_type.split("(")[0]))
    return tuple(columns)


def _rows_copy(cursor: psycopg.Cursor, instances: list[models.Model]) -> None:
    """Every column of each instance (one model's) in one binary COPY."""
    if not instances:
        return
    read, adapters = _row_reader(type(instances[0]))
    rows = []
    for instance in instances:
        row = list(read(instance))
        for i, adapt in adapters:
            if row[i] is not None:
                row[i] = adapt(row[i])
        rows.append(row)
    _values_copy(cursor, type(instances[0]), rows)


@cache
def _row_reader(model: type[models.Model]) -> tuple[Callable[[Any], tuple], tuple]:
    """What reads an instance's columns in one call (a value per column was a function
    call each, 25 a message), and the columns whose values COPY takes adapted."""
    columns = _copy_columns(model)
    names = [f.attname for f, _type in columns]
    read = operator.attrgetter(*names) if len(names) > 1 else lambda o: (getattr(o, names[0]),)
    adapt = {"jsonb": Jsonb, "inet": ipaddress.ip_address}
    adapters = tuple((i, adapt[t]) for i, (_f, t) in enumerate(columns) if t in adapt)
    return read, adapters


def _values_copy(cursor: psycopg.Cursor, model: type[models.Model], rows: Iterable) -> None:
    """Rows of every column of the model, in the order of its fields, in one binary COPY."""
    columns = _copy_columns(model)
    names = ", ".join(f'"{f.column}"' for f, _type in columns)
    statement = f'COPY "{model._meta.db_table}" ({names}) FROM STDIN (FORMAT BINARY)'
    with cursor.copy(statement) as copy:
        copy.set_types([db_type for _f, db_type in columns])
        for row in rows:
            copy.write_row(row)


def _stored_identities(identities: list[str]) -> set[str]:
    """Those of the identities a stored message has, in any partition."""
    if not partitioned():
        return set(
            OutboundMessage.objects.filter(identity__in=identities).values_list(
                "identity", flat=True
            )
        )
    # The function keeps its plan for the session (tracking/migrations/0007): planning the
    # lookup over every partition cost more than running it.
    with connection.cursor() as cursor:
        cursor.execute("SELECT lws_stored_identities(%s::text[])", [identities])
        return {row[0] for row in cursor.fetchall()}


def messages_store(
    *, datas: list[MessageData], now: datetime, directory: Directory | None = None
) -> list[OutboundMessage]:
    """Store many messages in two bulk inserts (each once); returns the new ones, in the
    order given."""
    batch = {d.identity(): d for d in datas}
    if not batch:
        return []
    with transaction.atomic():
        _identities_lock(list(batch))
        stored = _stored_identities(list(batch))
        todo = {identity: d for identity, d in batch.items() if identity not in stored}
        directory = directory or Directory.for_messages(list(todo.values()))
        messages = [
            _new_message(d, i, message_attribute(d, directory), now) for i, d in todo.items()
        ]
        _rows_insert(messages, list(todo.values()), now)
    return messages


def message_code_set(*, message: OutboundMessage, code: str) -> None:
    """Note the L-SPAM code a message caused."""
    message.code = code
    # The send time names the message's partition: by id alone, PostgreSQL looks in every
    # partition's primary key (28 with two years stored).
    OutboundMessage.objects.filter(pk=message.pk, sent_at=message.sent_at).update(code=code)


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


def message_contents_sweep(*, now: datetime | None = None, batch_size: int = 5000) -> int:
    """Delete message content and spam reports past their 72 hours; returns how many hours
    (PostgreSQL: each hour's partition goes whole once its last row has expired; the pages
    refuse content past its 72 hours meanwhile) or rows (SQLite) went."""
    now = now or timezone.now()
    if partitioned():
        return len(partitions_drop(scheme=CONTENTS, before=now))
    expired = MessageContent.objects.filter(expires_at__lte=now)
    return in_batches(lambda: _delete_batch(expired, "expires_at", batch_size), batch_size)


def messages_expire(*, before: datetime, batch_size: int = 5000) -> int:
    """Delete the message history sent before `before`, a partition (four weeks) at a time
    once all of it is older (PostgreSQL), else in batches (SQLite); returns how many
    partitions or rows went. What pointed at a dropped message (a block's trigger) points
    at nothing."""
    if not partitioned():
        old = OutboundMessage.objects.filter(sent_at__lt=before)
        return in_batches(lambda: _delete_batch(old, "pk", batch_size), batch_size)
    return len(partitions_drop(scheme=MESSAGES, before=before, unlink=_references_unlink))


def _references_unlink(partition: str) -> None:
    # A dropped partition takes no ORM cascade with it: the rows that point at its messages
    # with SET_NULL are set to NULL here, in the same transaction as the detach.
    for rel in OutboundMessage._meta.get_fields(include_hidden=True):
        if not rel.auto_created or rel.concrete or rel.on_delete is not models.SET_NULL:
            continue
        table, column = rel.related_model._meta.db_table, rel.field.column
        with connection.cursor() as cursor:
            cursor.execute(
                f'UPDATE "{table}" SET "{column}" = NULL WHERE "{column}" IN '
                f'(SELECT id FROM "{partition}")'
            )
