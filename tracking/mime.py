"""Reading an outbound message as stored: its headers (leniently, as hostile input) and
text as PostgreSQL can store it. Used by the way in and by the history pages."""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser, BytesParser
from email.utils import getaddresses
from typing import Any

# Postfix's pickup: "Received: by host (Postfix, from userid 33)\n\tid QID; date".
_PICKUP_RE = re.compile(r"^by\s+\S+\s+\(Postfix,\s+from\s+userid\s+(\d{1,10})\)", re.IGNORECASE)
_PHP_UID_RE = re.compile(r"^(\d{1,10}):")
# Headers PHP and common CMS mailers add to mail sent by a website script.
SCRIPT_HEADERS = ("X-PHP-Originating-Script", "X-PHP-Script", "X-Source-Args", "X-Source")
# The first empty line (the end of the headers), with any of the line ends the email
# parser accepts: CRLF, LF, or a lone CR.
_BLANK_LINE = re.compile(rb"(?:\r\n|\n|\r(?!\n))(?:\r\n|\n|\r(?!\n))")
# What PostgreSQL refuses in text and JSON (NUL), or cannot encode (lone surrogates).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


@dataclass(frozen=True)
class Headers:
    """What the message's own headers say (trusted only for display)."""

    subject: str
    message_id: str
    script: str
    # The system user that submitted it with `sendmail` (see _submitter_uid).
    uid: int | None = None
    # To and Cc as written: read into addresses only when asked (`to`), as recording
    # needs them only when Rspamd gave no recipients.
    addressees: tuple[str, str] = ("", "")

    @property
    def to(self) -> list[str]:
        try:
            return [a for _, a in getaddresses(list(self.addressees)) if a]
        except Exception:
            return []


def clean_text(value: str) -> str:
    """Free text as PostgreSQL can store it: NUL removed, lone surrogates replaced (U+FFFD)."""
    return _UNSTORABLE.sub(lambda m: "" if m.group() == "\x00" else "\ufffd", value)


def text(value: Any) -> str:
    """Any header value as clean, stripped text; empty when it cannot be decoded."""
    try:
        return clean_text(str(value or "")).strip()
    except Exception:  # a header the policy cannot decode: keep what we can
        return ""


def _plain(value: str) -> str | None:
    """A raw header value unfolded, when reading it needs no decoding (ASCII without
    encoded words, as nearly every header is); None when the header registry must."""
    if value.isascii() and "=?" not in value:
        return value.replace("\r\n", "").replace("\n", "")
    return None


class _HeaderReader:
    """The message's headers by name, each read through the header registry only when
    its raw value needs decoding: the registry cost more than the rest of recording a
    message (measured with cProfile on bench/ingest.py's corpus)."""

    def __init__(self, msg: Message) -> None:
        self.raw: dict[str, list[str]] = {}
        for name, value in msg.raw_items():
            self.raw.setdefault(name.lower(), []).append(value)

    def first(self, name: str) -> str:
        """The topmost header of that name (a repeated one, Received, included); '' if none."""
        values = self.raw.get(name.lower())
        if not values:
            return ""
        if not isinstance(values[0], str):
            return text(values[0])
        plain = _plain(values[0])
        if plain is not None:
            return text(plain)
        try:
            # What EmailMessage.get does with the raw value, whatever the parse's policy.
            return text(policy.default.header_fetch_parse(name, values[0]))
        except Exception:  # a header the policy cannot decode: keep what we can
            return ""


def parse_message(raw: bytes, *, headers_only: bool = True) -> tuple[EmailMessage, Headers]:
    """Parse raw bytes leniently (policy.default); defects are tolerated, not fatal.

    Recording needs the headers only; the body is parsed when someone opens the message."""
    if headers_only:
        msg = BytesHeaderParser(policy=policy.default).parsebytes(_header_block(raw))
    else:
        msg = BytesParser(policy=policy.default).parsebytes(raw)
    return msg, _headers(_HeaderReader(msg))


def message_headers(raw: bytes) -> Headers:
    """The headers recording needs, as parse_message reads them, for less: parsed with
    compat32, which leaves Content-Type to the header registry's parsing (the registry,
    asked at the end of every policy.default parse, cost recording a third of its time
    per message, cProfile on bench/ingest.py's corpus); a value is decoded through
    policy.default only when it needs decoding."""
    msg = BytesHeaderParser(policy=policy.compat32).parsebytes(_header_block(raw))
    return _headers(_HeaderReader(msg))


def _header_block(raw: bytes) -> bytes:
    # The header parser still splits the whole body into lines: give it the headers.
    end = _BLANK_LINE.search(raw)
    return raw[: end.end()] if end else raw


def _headers(reader: _HeaderReader) -> Headers:
    header = reader.first
    script = next((v[:500] for n in SCRIPT_HEADERS if (v := header(n))), "")
    mailer = header("X-Mailer")
    if not script and "phpmailer" in mailer.lower():
        script = mailer[:500]
    return Headers(
        subject=header("Subject").replace("\r", " ").replace("\n", " "),
        message_id=header("Message-ID"),
        script=script,
        uid=_submitter_uid(reader),
        addressees=(header("To"), header("Cc")),
    )


def _submitter_uid(reader: _HeaderReader) -> int | None:
    """The uid of the system user that ran `sendmail`, from what the server wrote first."""
    # Postfix's pickup line, where the path keeps it (a milter does not see it): only the
    # topmost Received counts, as Postfix prepends its own above any a script wrote.
    received = reader.first("Received")
    if received:
        match = _PICKUP_RE.match(" ".join(received.split()))
        if match:
            return int(match.group(1))
    # PHP's mail() writes its header ahead of every header the script passes it.
    php = reader.first("X-PHP-Originating-Script")
    if php:
        match = _PHP_UID_RE.match(php)
        if match:
            return int(match.group(1))
    return None
