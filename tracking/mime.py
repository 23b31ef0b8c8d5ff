"""Reading an outbound message as stored: its headers (leniently, as hostile input) and
text as PostgreSQL can store it. Used by the way in and by the history pages."""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
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
    to: list[str]
    script: str
    # The system user that submitted it with `sendmail` (see _submitter_uid).
    uid: int | None = None


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

    def __init__(self, msg: EmailMessage) -> None:
        self.msg = msg
        self.raw: dict[str, list[str]] = {}
        for name, value in msg.raw_items():
            self.raw.setdefault(name.lower(), []).append(value)

    def first(self, name: str) -> str:
        """The topmost header of that name (a repeated one, Received, included); '' if none."""
        values = self.raw.get(name.lower())
        if not values:
            return ""
        plain = _plain(values[0]) if isinstance(values[0], str) else None
        return text(plain if plain is not None else self.msg.get(name))


def parse_message(raw: bytes, *, headers_only: bool = True) -> tuple[EmailMessage, Headers]:
    """Parse raw bytes leniently (policy.default); defects are tolerated, not fatal.

    Recording needs the headers only; the body is parsed when someone opens the message."""
    if headers_only:
        # The header parser still splits the whole body into lines: give it the headers.
        end = _BLANK_LINE.search(raw)
        msg = BytesHeaderParser(policy=policy.default).parsebytes(raw[: end.end()] if end else raw)
    else:
        msg = BytesParser(policy=policy.default).parsebytes(raw)
    reader = _HeaderReader(msg)
    header = reader.first

    script = next((v[:500] for n in SCRIPT_HEADERS if (v := header(n))), "")
    mailer = header("X-Mailer")
    if not script and "phpmailer" in mailer.lower():
        script = mailer[:500]
    try:
        to = [a for _, a in getaddresses([header("To"), header("Cc")]) if a]
    except Exception:
        to = []
    return msg, Headers(
        subject=header("Subject").replace("\r", " ").replace("\n", " "),
        message_id=header("Message-ID"),
        to=to,
        script=script,
        uid=_submitter_uid(reader),
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
