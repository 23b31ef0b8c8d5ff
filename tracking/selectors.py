"""Read side of tracking: the newest-first list, and one message's detail."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from email.message import EmailMessage

import nh3
from django.db.models import Q
from django.utils import timezone

from hosting.models import Hosting
from tracking.complaints import messages_complaints_attach
from tracking.deliveries import latest_with_status, messages_delivery_attach
from tracking.mime import clean_text, parse_message
from tracking.models import OutboundMessage
from tracking.partitions import MESSAGES, partitioned, partitions_list

PAGE_SIZE = 50


@dataclass(frozen=True)
class MessageFilters:
    mailbox_id: int | None = None
    source: str = ""
    status: str = ""
    spam_only: bool = False
    delivery: str = ""  # a recipient whose latest result is this
    since: date | None = None
    until: date | None = None
    text: str = ""


def keyset_cursor(at: datetime, pk: int) -> str:
    """The cursor of a newest-first page that ends at the row (at, pk)."""
    raw = f"{at.isoformat()}|{pk}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def encode_cursor(message: OutboundMessage) -> str:
    return keyset_cursor(message.sent_at, message.pk)


def decode_cursor(cursor: str) -> tuple[datetime, int] | None:
    """The (time, id) a page continues after; None for a cursor that is not ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        when, _, pk = raw.partition("|")
        parsed = datetime.fromisoformat(when)
        number = int(pk)
        if parsed.tzinfo is None or not 0 < number < 2**63:
            return None
        # PostgreSQL takes offsets up to ±15:59 only: compare in UTC.
        return parsed.astimezone(UTC), number
    except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError):
        return None


def hosting_messages(
    *,
    hosting: Hosting,
    filters: MessageFilters,
    after: tuple[datetime, int] | None = None,
    limit: int = PAGE_SIZE,
) -> tuple[list[OutboundMessage], str | None]:
    """One page of the hosting's messages, newest first, continuing after `after`
    (keyset pagination: a deep page costs what the first one does)."""
    qs = OutboundMessage.objects.filter(hosting=hosting).select_related("mailbox")
    if filters.mailbox_id:
        qs = qs.filter(mailbox_id=filters.mailbox_id)
    if filters.source:
        qs = qs.filter(source=filters.source)
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.spam_only:
        qs = qs.filter(is_spam=True)
    if filters.delivery:
        qs = qs.filter(latest_with_status(filters.delivery))
    tz = timezone.get_current_timezone()
    if filters.since:
        qs = qs.filter(sent_at__gte=datetime.combine(filters.since, time.min, tz))
    if filters.until:
        end = datetime.combine(filters.until + timedelta(days=1), time.min, tz)
        qs = qs.filter(sent_at__lt=end)
    if filters.text:
        qs = qs.filter(
            Q(subject__icontains=filters.text) | Q(recipients_text__icontains=filters.text.lower())
        )
    if after is not None:
        sent_at, pk = after
        qs = qs.filter(Q(sent_at__lt=sent_at) | Q(sent_at=sent_at, pk__lt=pk))
    qs = qs.defer("recipients_text").order_by("-sent_at", "-id")
    if filters.text and partitioned():
        newest = after[0] if after is not None else None
        page = _by_partition(qs, limit=limit + 1, newest=newest)
    else:
        page = list(qs[: limit + 1])
    next_cursor = encode_cursor(page[limit - 1]) if len(page) > limit else None
    page = page[:limit]
    messages_delivery_attach(page)
    messages_complaints_attach(page)
    return page, next_cursor


def _by_partition(qs, *, limit: int, newest: datetime | None) -> list[OutboundMessage]:
    """The first `limit` rows of a text search, one partition at a time from the newest.
    The trigram index finds matches but not their order: one query over every partition
    fetched and sorted the matches of all the years kept, where a page of a common word
    fills from the newest weeks (measured in bench/tracking.py at 10^7 messages)."""
    page: list[OutboundMessage] = []
    for start, end in reversed(partitions_list(scheme=MESSAGES)):
        if newest is not None and start > newest:
            continue
        page += qs.filter(sent_at__gte=start, sent_at__lt=end)[: limit - len(page)]
        if len(page) >= limit:
            break
    return page


@dataclass
class Attachment:
    filename: str
    content_type: str
    size: int


@dataclass
class MessageView:
    headers: list[tuple[str, str]] = field(default_factory=list)
    text: str = ""
    has_html: bool = False
    attachments: list[Attachment] = field(default_factory=list)
    # MIME nested deeper than the parser can follow (a trick to crash readers): headers only.
    too_deep: bool = False


SHOWN_HEADERS = (
    "From",
    "To",
    "Cc",
    "Reply-To",
    "Subject",
    "Date",
    "Message-ID",
    "X-Mailer",
    "X-PHP-Originating-Script",
)


def _part_text(part: EmailMessage) -> str:
    try:
        return part.get_content()
    except (LookupError, UnicodeError, AssertionError, KeyError):
        payload = part.get_payload(decode=True) or b""
        return payload.decode("utf-8", "replace")


def _shown_headers(msg: EmailMessage) -> list[tuple[str, str]]:
    return [
        (name, clean_text(str(value))[:2000])
        for name in SHOWN_HEADERS
        for value in msg.get_all(name, [])
    ]


def message_view(raw: bytes) -> MessageView:
    """Headers, text part, whether there is an HTML part, attachments (never their bytes)."""
    try:
        return _message_view(raw)
    except RecursionError:
        msg, _headers = parse_message(raw)
        return MessageView(headers=_shown_headers(msg), too_deep=True)


def _message_view(raw: bytes) -> MessageView:
    msg, _headers = parse_message(raw, headers_only=False)
    view = MessageView(headers=_shown_headers(msg))
    text = msg.get_body(preferencelist=("plain",))
    view.text = _part_text(text)[:200_000] if text is not None else ""
    view.has_html = msg.get_body(preferencelist=("html",)) is not None
    for part in msg.iter_attachments():
        payload = part.get_payload(decode=True) or b""
        view.attachments.append(
            Attachment(part.get_filename() or "", part.get_content_type(), len(payload))
        )
    return view


def _drop_what_loads_or_leaves(tag: str, attribute: str, value: str) -> str | None:
    # Images would load from the spammer's server (a read receipt), links would navigate
    # the frame to it: both go; what is left is the text and layout of the message.
    if attribute in ("src", "href", "srcset", "background", "action", "formaction"):
        return None
    return value


def message_html(raw: bytes) -> str | None:
    """The HTML part, sanitised with nh3: no script, handler, style, form, frame or URL."""
    try:
        msg, _headers = parse_message(raw, headers_only=False)
        part = msg.get_body(preferencelist=("html",))
    except RecursionError:
        return None
    if part is None:
        return None
    return nh3.clean(
        _part_text(part),
        attribute_filter=_drop_what_loads_or_leaves,
        link_rel=None,
        strip_comments=True,
    )
