"""Mailboxes brought from another platform with the hashes they have there, so that nobody
must reset a password to move: one line per mailbox, `address hash`, the hash in any
scheme Dovecot verifies, with its `{SCHEME}` prefix (`doveadm pw -l` lists them)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from hosting.models import AuditEvent, Domain, Mailbox
from hosting.passwords import HashRefused, hash_check
from hosting.services import audit_event


class LineRefused(ValueError):
    """A line that cannot be imported, and why."""


def line_parse(text: str) -> tuple[str, str] | None:
    """(address, hash) of one line; None for a blank or comment line; LineRefused else."""
    text = text.strip()
    if not text or text.startswith("#"):
        return None
    if "\x00" in text:
        raise LineRefused("a NUL character")
    parts = text.split()
    if len(parts) != 2:
        raise LineRefused("two fields expected: the address, then the hash")
    address, hashed = parts[0].lower(), parts[1]
    try:
        validate_email(address)
    except ValidationError:
        raise LineRefused(f"{parts[0][:100]!r} is not an address") from None
    try:
        return address, hash_check(hashed)
    except HashRefused as exc:
        raise LineRefused(str(exc)) from None


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    refused: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)


def mailboxes_import(*, lines: Iterable[str], batch_size: int = 1000) -> ImportResult:
    """Create or update mailboxes with the hashes they had elsewhere, audited; a line that
    cannot be used is refused with its number and reason, the others are imported, one
    transaction per batch (a later batch's failure never undoes an earlier one's)."""
    result = ImportResult()
    batch: list[tuple[int, str, str]] = []
    seen: dict[str, int] = {}
    for number, text in enumerate(lines, start=1):
        try:
            parsed = line_parse(text)
        except LineRefused as exc:
            result.refused.append((number, str(exc)))
            continue
        if parsed is None:
            continue
        address, hashed = parsed
        if address in seen:
            result.refused.append((number, f"{address} already given on line {seen[address]}"))
            continue
        seen[address] = number
        batch.append((number, address, hashed))
        if len(batch) >= batch_size:
            _batch_import(batch, result)
            batch = []
    if batch:
        _batch_import(batch, result)
    return result


def _batch_import(batch: list[tuple[int, str, str]], result: ImportResult) -> None:
    names = {address.rpartition("@")[2] for _n, address, _h in batch}
    domains = {d.name: d for d in Domain.objects.filter(name__in=names)}
    now = timezone.now()
    with transaction.atomic():
        existing = {
            m.address: m
            for m in Mailbox.objects.select_for_update().filter(
                address__in=[a for _n, a, _h in batch]
            )
        }
        created, updated, events = [], [], []
        for number, address, hashed in batch:
            domain = domains.get(address.rpartition("@")[2])
            if domain is None:
                result.refused.append((number, f"no domain {address.rpartition('@')[2]} here"))
                continue
            box = existing.get(address)
            if box is None:
                box = Mailbox(domain=domain, address=address)
                created.append(box)
            elif box.domain_id != domain.pk:
                result.refused.append((number, f"{address} belongs to another domain"))
                continue
            else:
                updated.append(box)
            box.password_hash, box.password_changed_at = hashed, now
            events.append(
                audit_event(
                    action="mailbox.password_imported",
                    hosting=domain.hosting_id,
                    subject=address,
                    data={"scheme": hashed[1 : hashed.index("}")]},
                    at=now,
                )
            )
        Mailbox.objects.bulk_create(created)
        Mailbox.objects.bulk_update(updated, ["password_hash", "password_changed_at"])
        AuditEvent.objects.bulk_create(events)
    result.created += len(created)
    result.updated += len(updated)
