"""Dovecot's auth policy as a daemon of its own (`manage.py authpolicyd`): HTTP/1.1 over
asyncio (h11 frames the requests), every Redis call of one event-loop pass sent as one
pipeline. Two calls per login reach it; through the web's WSGI server each cost a thread
hand-off, a sync Redis round trip or three, and a share of the web's GIL, which capped a
2-core host at some 600 logins a second (docs/performance.md).

It answers exactly what the web's /api/authpolicy/ answers (mailaccess/views.py): both
check the call with policy.call_parse and build their scripts' arguments with the same
functions. Dovecot lets logins through on any error (auth_policy_reject_on_fail = no)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections import Counter
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

import h11
import redis.asyncio as aioredis
from celery import current_app as app  # the project's app, whichever process runs it
from django.conf import settings

from enforcement.counters import LIMITS_KEY, Held, admit_args, admit_keys, refusal
from enforcement.policyd import PassBatch, descriptor_headroom
from enforcement.scripts import ADMIT
from hosting.counters import KEY as METRICS_KEY
from mailaccess.policy import (
    DEFENCE_KEY,
    MAX_BODY,
    CallRefused,
    Defence,
    allow_answer,
    allow_call,
    call_parse,
    client_ip,
    report_call,
    source,
)
from mailaccess.services import (
    login_hold_report,
    networks_detection,
    report_metrics,
    report_tasks,
)

log = logging.getLogger(__name__)

PATH = "/api/authpolicy/"
# Dovecot's request head is a few hundred bytes.
MAX_HEAD = 8 * 1024
# Staff's edits of the defence apply within a second: reading it once a second costs
# nothing, and each call needs its numbers before its script runs.
DEFENCE_SECONDS = 1.0
STATS_SECONDS = 5.0


class Script:
    """A Lua script called by its SHA1 inside a pipeline, loaded again when Redis lost it."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.sha = hashlib.sha1(text.encode()).hexdigest()

    def command(self, keys: list[str], args: list) -> tuple:
        return ("EVALSHA", self.sha, len(keys), *keys, *args)


ALLOW = Script(source("auth_allow"))
REPORT = Script(source("auth_report"))
NETWORKS = Script(ADMIT)


class Pipelined(PassBatch):
    """Each item a Redis command (and the script it runs, if any); the pass's commands go
    as one pipeline. A command's own error reaches its request alone."""

    async def fetch(self, items: list[tuple[tuple, Script | None]]) -> list[Any]:
        results = await self._execute([command for command, _ in items])
        missing = [
            i
            for i, result in enumerate(results)
            if isinstance(result, aioredis.ResponseError) and "NOSCRIPT" in str(result)
        ]
        if missing:  # Redis restarted or flushed its scripts: load them, run those again
            for script in {items[i][1] for i in missing if items[i][1] is not None}:
                await self.redis.script_load(script.text)
            again = await self._execute([items[i][0] for i in missing])
            for i, result in zip(missing, again, strict=True):
                results[i] = result
        return results

    async def _execute(self, commands: list[tuple]) -> list[Any]:
        pipe = self.redis.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)
        return await pipe.execute(raise_on_error=False)


class Unreachable(Exception):
    """Redis did not answer a call."""


class AuthPolicy:
    """The answers: Redis through one pipeline a pass, the defence's numbers read every
    second, the metrics added every few seconds."""

    def __init__(self, *, redis_url: str | None = None, token: str | None = None) -> None:
        self.redis = aioredis.Redis.from_url(
            redis_url or settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1
        )
        self.token = settings.AUTHPOLICY_TOKEN if token is None else token
        self.calls = Pipelined(self.redis)
        self.rules = Defence()
        self.metrics: Counter[str] = Counter()

    async def ask(self, *commands: tuple[tuple, Script | None]) -> list[Any]:
        """The results of `commands` (a command and the script it runs), sent in one pass."""
        futures = [self.calls.submit(command) for command in commands]
        results = []
        for future in futures:
            try:
                result = await future
            except (aioredis.RedisError, OSError) as exc:
                raise Unreachable(str(exc)) from exc
            if isinstance(result, Exception):
                raise Unreachable(str(result))
            results.append(result)
        return results

    async def answer(
        self, *, command: str | None, authorization: str, body: bytes | None
    ) -> tuple[int, dict]:
        """The HTTP status and JSON of one call, as the web's view answers it."""
        try:
            data = call_parse(
                token=self.token, command=command, authorization=authorization, body=body
            )
        except CallRefused as refused:
            return refused.status, refused.data
        try:
            if command == "allow":
                return 200, allow_answer(await self.allow(client_ip(data)))
            await self.report(data)
            return 200, {"status": 0, "msg": ""}
        except Unreachable as exc:
            log.error("auth policy: Redis unreachable (%s)", exc)
            return 503, {"detail": "Redis unreachable."}

    async def allow(self, ip: str) -> int:
        call = allow_call(self.rules, ip=ip, now=time.time())
        if call is None:
            return 0
        ((status,),) = await self.ask((ALLOW.command(*call), ALLOW))
        status = int(status)
        if status:
            self.metrics["login_refused" if status < 0 else "login_delayed"] += 1
        return status

    async def report(self, data: dict) -> None:
        now = time.time()
        call = report_call(self.rules, body=data, now=now)
        # The published limits come in the same pass: a success may count for L-HOLD.
        result, published = await self.ask(
            (REPORT.command(call.keys, call.args), REPORT),
            (("HGET", LIMITS_KEY, "default"), None),
        )
        reported = call.reported(result)
        self.metrics.update(report_metrics(reported))
        for task, args in report_tasks(reported):
            self._queue(lambda task=task, args=args: app.send_task(task, args=args))
        if not (call.success and "@" in call.login):
            return
        detection = networks_detection(published=published, login=call.login, ip=call.ip)
        if detection is None:
            return
        keys = admit_keys([], "", detection)
        args = admit_args([], recipients=1, per_message=0, now=now, detection=detection)
        (answer,) = await self.ask((NETWORKS.command(keys, args), NETWORKS))
        found = refusal(answer, [])
        if isinstance(found, Held) and found.new:
            self._queue(lambda: login_hold_report(login=call.login, found=found))

    def _queue(self, call) -> None:
        # The broker call blocks: off the event loop; a failure is logged by the callee,
        # and beat's jobs record the queue and the holds anyway.
        def run() -> None:
            try:
                call()
            except Exception:
                log.exception("auth policy: a task was not queued")

        asyncio.get_running_loop().run_in_executor(None, run)

    async def defence_refresh(self) -> None:
        """The defence's numbers, as staff last published them."""
        try:
            raw = await self.redis.get(DEFENCE_KEY)
        except (aioredis.RedisError, OSError) as exc:
            log.warning("auth policy: the defence's numbers not read again (%s)", exc)
            return
        self.rules = Defence.from_json(raw) if raw else Defence()

    async def metrics_flush(self) -> None:
        if not self.metrics:
            return
        counts, self.metrics = self.metrics, Counter()
        pipe = self.redis.pipeline(transaction=False)
        for field, n in counts.items():
            pipe.hincrby(METRICS_KEY, field, n)
        try:
            await pipe.execute()
        except (aioredis.RedisError, OSError) as exc:
            log.warning("auth policy: %s not counted in the metrics (%s)", dict(counts), exc)


def _respond(conn: h11.Connection, status: int, data: dict, *, close: bool = False) -> bytes:
    payload = json.dumps(data).encode()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
    if close:
        headers.append(("Connection", "close"))
    return (
        conn.send(
            h11.Response(status_code=status, headers=headers, reason=HTTPStatus(status).phrase)
        )
        + conn.send(h11.Data(data=payload))
        + conn.send(h11.EndOfMessage())
    )


class AuthPolicyServer:
    """Keep-alive HTTP/1.1 connections; an idle one is closed after `idle_timeout`
    seconds (Dovecot reconnects), a malformed request gets a 400 and the connection closed."""

    def __init__(self, policy: AuthPolicy | None = None, *, idle_timeout: float = 60.0) -> None:
        self.policy = policy or AuthPolicy()
        self.idle_timeout = idle_timeout
        self.max_connections = descriptor_headroom()
        # Each connection's writer and when it last finished a request (None: in one).
        self.connections: dict[asyncio.StreamWriter, float | None] = {}
        self.server: asyncio.Server | None = None
        self.tasks: list[asyncio.Task] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self.connections) >= self.max_connections:
            log.warning("authpolicyd: %d connections, refusing one more", len(self.connections))
            writer.close()
            return
        loop = asyncio.get_running_loop()
        self.connections[writer] = loop.time()
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
        try:
            while True:
                answer = await self._exchange(conn, reader, writer)
                if answer is None:
                    return
                writer.write(answer)
                await writer.drain()
                self.connections[writer] = loop.time()
                if conn.our_state is h11.MUST_CLOSE or conn.their_state is not h11.DONE:
                    return
                conn.start_next_cycle()
        except (ConnectionError, TimeoutError):
            return
        finally:
            self.connections.pop(writer, None)
            writer.close()

    async def _event(self, conn: h11.Connection, reader: asyncio.StreamReader):
        while True:
            event = conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            conn.receive_data(await reader.read(65536))

    async def _exchange(
        self, conn: h11.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bytes | None:
        """One request read and answered: the bytes of the answer, None to close quietly."""
        try:
            request = await self._event(conn, reader)
            if isinstance(request, h11.ConnectionClosed):
                return None
            self.connections[writer] = None
            assert isinstance(request, h11.Request)
            url = urlsplit(request.target.decode("ascii", "replace"))
            headers = {name.decode(): value for name, value in request.headers}
            if url.path != PATH:
                return _respond(conn, 404, {"detail": f"Only {PATH} is served here."}, close=True)
            if request.method != b"POST":
                return _respond(conn, 405, {"detail": "POST expected."}, close=True)
            length = headers.get("content-length")
            if length is not None and int(length) > MAX_BODY:
                return await self._call(conn, url.query, headers, None)
            body = bytearray()
            while not isinstance(event := await self._event(conn, reader), h11.EndOfMessage):
                if isinstance(event, h11.ConnectionClosed):
                    return None
                body += event.data
                if len(body) > MAX_BODY:
                    return await self._call(conn, url.query, headers, None)
            return await self._call(conn, url.query, headers, bytes(body))
        except h11.RemoteProtocolError as exc:
            if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                return _respond(conn, 400, {"detail": f"Bad HTTP request: {exc}"}, close=True)
            return None

    async def _call(
        self, conn: h11.Connection, query: str, headers: dict[str, bytes], body: bytes | None
    ) -> bytes:
        try:
            status, data = await self.policy.answer(
                command=parse_qs(query).get("command", [None])[-1],
                authorization=headers.get("authorization", b"").decode("latin-1"),
                body=body,
            )
        except Exception:
            log.exception("authpolicyd: internal error")
            # Dovecot lets the login through on any error (auth_policy_reject_on_fail = no).
            status, data = 500, {"detail": "internal error"}
        # A body not read to its end leaves nothing to frame the next request by.
        return _respond(conn, status, data, close=body is None)

    async def _sweep(self) -> None:
        """Connections silent for `idle_timeout` seconds between requests are closed (a
        timer per read would cost a task per request)."""
        deadline = asyncio.get_running_loop().time() - self.idle_timeout
        for writer, idle_since in list(self.connections.items()):
            if idle_since is not None and idle_since < deadline:
                writer.close()

    async def _every(self, seconds: float, job) -> None:
        while True:
            await job()
            await asyncio.sleep(seconds)

    async def serve(self, host: str, port: int) -> asyncio.Server:
        self.server = await asyncio.start_server(self.handle, host, port)
        self.tasks = [
            asyncio.ensure_future(self._every(DEFENCE_SECONDS, self.policy.defence_refresh)),
            asyncio.ensure_future(self._every(STATS_SECONDS, self.policy.metrics_flush)),
            asyncio.ensure_future(self._every(min(5.0, self.idle_timeout / 2), self._sweep)),
        ]
        return self.server

    async def shutdown(self) -> None:
        """Stop taking connections, let the calls in flight be answered, close the rest."""
        if self.server is not None:
            self.server.close()
        await asyncio.sleep(0.2)
        for writer in list(self.connections):
            writer.close()
        for task in self.tasks:
            task.cancel()
        await self.policy.metrics_flush()
        await self.policy.redis.aclose()
