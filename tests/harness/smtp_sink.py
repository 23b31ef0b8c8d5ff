"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives."""

from __future__ import annotations

import threading
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message

from tests.harness.common import free_port


class Inbox(Message):
    def __init__(self) -> None:
        super().__init__(message_class=None)
        self.received: list[EmailMessage] = []
        self._arrived = threading.Condition()
        # A receiving server's answers by recipient: the reply for each address that
        # starts with the key (450 ..., 550 ...); every other recipient is taken.
        self.replies: dict[str, str] = {}

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:
        for start, reply in self.replies.items():
            if address.lower().startswith(start):
                return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    def handle_message(self, message: EmailMessage) -> None:
        with self._arrived:
            self.received.append(message)
            self._arrived.notify_all()

    def prepare_message(self, session, envelope) -> EmailMessage:
        return message_from_bytes(envelope.original_content, policy=policy.default)

    def wait_for(self, count: int, timeout: float = 30.0) -> list[EmailMessage]:
        """Wait until `count` messages arrived in all; fail with what did arrive."""
        with self._arrived:
            self._arrived.wait_for(lambda: len(self.received) >= count, timeout=timeout)
        subjects = [m["Subject"] for m in self.received]
        assert len(self.received) >= count, f"{count} expected, got {subjects}"
        return self.received


class SmtpSink:
    def __init__(self) -> None:
        self.inbox = Inbox()
        self.port = free_port()
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> Inbox:
        self.controller.start()
        return self.inbox

    def __exit__(self, *exc) -> None:
        self.controller.stop()
