"""A DNS server of the tests on a free loopback UDP port, answering from a table: A records,
NXDOMAIN, SERVFAIL, or silence (a time-out). It counts the queries it holds at once."""

from __future__ import annotations

import socket
import threading
import time

import dns.message
import dns.rcode
import dns.rrset

NXDOMAIN, SERVFAIL, SILENT = "nxdomain", "servfail", "silent"


class DnsServer:
    def __init__(self, answers: dict[str, list[str] | str], *, delay: float = 0.0) -> None:
        self.answers = {k.lower().rstrip(".") + ".": v for k, v in answers.items()}
        self.delay = delay
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.queries: list[str] = []
        self.in_flight = self.most_in_flight = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> DnsServer:
        threading.Thread(target=self._serve, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self.sock.close()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._answer, args=(data, peer), daemon=True).start()

    def _answer(self, data: bytes, peer) -> None:
        query = dns.message.from_wire(data)
        name = query.question[0].name.to_text().lower()
        with self._lock:
            self.queries.append(name)
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        response = None
        try:
            time.sleep(self.delay)
            answer = self.answers.get(name, NXDOMAIN)
            if answer != SILENT:
                response = dns.message.make_response(query)
                if answer == NXDOMAIN:
                    response.set_rcode(dns.rcode.NXDOMAIN)
                elif answer == SERVFAIL:
                    response.set_rcode(dns.rcode.SERVFAIL)
                else:
                    response.answer.append(dns.rrset.from_text(name, 60, "IN", "A", *answer))
        finally:
            # Before the answer leaves: the client's next query may arrive the instant it
            # does, and counted after, this one and that one made one too many in flight.
            with self._lock:
                self.in_flight -= 1
        if response is not None and not self._stop.is_set():
            self.sock.sendto(response.to_wire(), peer)
