"""Tokens: created with their key shown once, revoked, and every write through one audited."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from rest_framework.request import Request

from api.models import PREFIX, ApiToken, key_hash
from hosting.access import client_ip
from hosting.services import audit_record
from tracking.deliveries import JOIN_SLACK, DeliveriesRecorded, deliveries_record
from tracking.models import OutboundMessage
from webhooks.events import Event
from webhooks.services import Occurrence, webhook_events_emit


def api_token_create(
    *,
    name: str,
    owner: AbstractBaseUser,
    scopes: list[str],
    created_by: AbstractBaseUser,
    expires_at: datetime | None = None,
) -> tuple[ApiToken, str]:
    """A new token and its key, which is never stored: only its hash is."""
    key = PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(
            name=name,
            owner=owner,
            scopes=scopes,
            key_hash=key_hash(key),
            key_prefix=key[:10],
            expires_at=expires_at,
        )
        audit_record(
            action="api.token_created",
            actor=created_by,
            subject=str(token),
            data={"token_id": token.pk, "owner": owner.get_username(), "scopes": scopes},
        )
    return token, key


def api_token_key_set(*, token: ApiToken, created_by: AbstractBaseUser) -> str:
    """Give a token a new key (the old one stops working at once); returns the new key."""
    key = PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        ApiToken.objects.filter(pk=token.pk).update(key_hash=key_hash(key), key_prefix=key[:10])
        audit_record(
            action="api.token_rekeyed",
            actor=created_by,
            subject=str(token),
            data={"token_id": token.pk},
        )
    token.refresh_from_db()
    return key


def api_token_revoke(*, token: ApiToken, user: AbstractBaseUser) -> bool:
    """Stop a token at once; False if it was already revoked."""
    with transaction.atomic():
        changed = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        if changed:
            audit_record(
                action="api.token_revoked",
                actor=user,
                subject=str(token),
                data={"token_id": token.pk},
            )
    return bool(changed)


def api_write_audit(*, token: ApiToken, request: Request, status: int) -> None:
    """Every write through the API, refused ones included, as the token's owner."""
    audit_record(
        action="api.write",
        actor=token.owner,
        subject=request.path[:300],
        data={
            "token_id": token.pk,
            "token": token.name,
            "method": request.method,
            "status": status,
        },
        client_ip=client_ip(request),
    )


def delivery_batch_receive(*, host: str, items: list, skipped: int) -> DeliveriesRecorded:
    """A mail host's delivery results stored, and each new bounce told to the webhooks
    (a bounce that comes before its message's Rspamd push is told to none)."""
    with transaction.atomic():
        recorded = deliveries_record(host=host, items=items, skipped=skipped)
        if recorded.bounced:
            messages = {
                m.queue_id: m
                for m in OutboundMessage.objects.filter(
                    queue_id__in={d.queue_id for d in recorded.bounced},
                    sent_at__gte=min(d.logged_at for d in recorded.bounced) - timedelta(days=10),
                ).exclude(hosting=None)
            }
            told = [
                (d, messages[d.queue_id])
                for d in recorded.bounced
                if d.queue_id in messages
                and d.logged_at >= messages[d.queue_id].sent_at - JOIN_SLACK
            ]
            webhook_events_emit(
                occurrences=[
                    Occurrence(
                        event=Event.MESSAGE_BOUNCED,
                        key=f"message.bounced:{d.pk}",
                        hosting_id=m.hosting_id,
                        at=d.logged_at,
                        data={
                            "message_id": m.pk,
                            "sender": m.sender,
                            "recipient": d.recipient,
                            "dsn": d.dsn,
                            "reply": d.reply,
                            "queue_id": d.queue_id,
                        },
                    )
                    for d, m in told
                ]
            )
    return recorded
