"""Dovecot's authentication policy (auth_policy_server_url), answered from Redis alone:
before a login, whether its client waits or is refused; after it, the attempt queued for
the access log and its failure counted. The numbers are LoginDefence's, published here."""

from __future__ import annotations

import hmac
import ipaddress
import json
import time
import uuid
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from hosting.networks import IPNetwork

PREFIX = "lws:auth:"
QUEUE_KEY = PREFIX + "attempts"
DEFENCE_KEY = PREFIX + "defence"
REFUSED_REASON = "L-AUTH too many failed logins from your address, try again later"
LUA = Path(__file__).resolve().parent / "lua"
# What a report may carry into the queue (Dovecot's own values are far shorter).
MAX_FIELD = 254
# A call's JSON body: Dovecot's are a few hundred bytes.
MAX_BODY = 16 * 1024


@cache
def source(name: str) -> str:
    """The Lua source of one of the scripts in mailaccess/lua."""
    return (LUA / f"{name}.lua").read_text()


@dataclass(frozen=True)
class Defence:
    delay_after: int = 10
    delay_window: int = 600  # seconds
    delay_seconds: int = 5
    refuse_after: int = 30
    refuse_window: int = 3600
    refuse_seconds: int = 3600
    alert_after: int = 50
    exempt: tuple[IPNetwork, ...] = ()

    def exempts(self, ip: str) -> bool:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(address in network for network in self.exempt)

    def to_json(self) -> str:
        fields = {k: v for k, v in self.__dict__.items() if k != "exempt"}
        return json.dumps({**fields, "exempt": [str(n) for n in self.exempt]})

    @classmethod
    def from_json(cls, text: str | bytes) -> Defence:
        data = json.loads(text)
        exempt = tuple(ipaddress.ip_network(n, strict=False) for n in data.pop("exempt", []))
        return cls(**data, exempt=exempt)


_cached: tuple[float, Defence] | None = None


def defence(redis, *, now: float | None = None) -> Defence:
    """The published numbers, read again every 10 seconds; the defaults until published."""
    global _cached
    now = time.monotonic() if now is None else now
    if _cached is None or now - _cached[0] > 10:
        raw = redis.get(DEFENCE_KEY)
        _cached = (now, Defence.from_json(raw) if raw else Defence())
    return _cached[1]


def defence_forget() -> None:
    global _cached
    _cached = None


def ip_key(kind: str, ip: str) -> str:
    return f"{PREFIX}{kind}:ip:{ip}"


def login_key(kind: str, login: str) -> str:
    return f"{PREFIX}{kind}:box:{login}"


def allow_call(rules: Defence, *, ip: str, now: float) -> tuple[list[str], list] | None:
    """The keys and arguments of the allow script for a login from `ip`; None when the
    client is never delayed (no address, or one of the provider's own networks)."""
    if not ip or rules.exempts(ip):
        return None
    return (
        [ip_key("failed", ip), ip_key("refused", ip)],
        [int(now * 1000), rules.delay_window * 1000, rules.delay_after, rules.delay_seconds],
    )


def allow(redis, *, ip: str, now: float | None = None) -> int:
    """Dovecot's status before a login: 0 go on, N > 0 wait N seconds, -1 refused."""
    call = allow_call(defence(redis), ip=ip, now=time.time() if now is None else now)
    if call is None:
        return 0
    (status,) = redis.register_script(source("auth_allow"))(keys=call[0], args=call[1])
    return int(status)


@dataclass(frozen=True)
class Reported:
    login: str  # the mailbox as typed, as stored
    queued: int  # the queue's length after it
    refused_now: bool  # this failure made the client refused
    alert_now: bool  # this failure reached the mailbox's alert


def _text(value: object) -> str:
    """A report's string field as stored: cut short, without NUL (PostgreSQL refuses it)."""
    return value[:MAX_FIELD].replace("\x00", "") if isinstance(value, str) else ""


@dataclass(frozen=True)
class ReportCall:
    login: str
    ip: str
    success: bool
    keys: list[str]
    args: list

    def reported(self, result: list) -> Reported:
        length, refused, alert = result
        return Reported(self.login, int(length), bool(int(refused)), bool(int(alert)))


def report_call(rules: Defence, *, body: dict, now: float) -> ReportCall:
    """The keys and arguments of the report script for one attempt Dovecot reported."""
    login = _text(body.get("login")).strip().lower()
    ip = _text(body.get("remote")).strip()
    success = body.get("success") is True
    policy_reject = body.get("policy_reject") is True
    member = uuid.uuid4().hex
    attempt = {
        "uid": member,
        "at": now,
        "login": login,
        "ip": ip,
        "protocol": _text(body.get("protocol")).lower(),
        "success": success,
        "policy_reject": policy_reject,
        "reason": _text(body.get("reason")),
    }
    # A failure that tried a password counts; one the policy refused tried none.
    tried = not success and not policy_reject
    by_ip = tried and bool(ip) and not rules.exempts(ip)
    by_login = tried and "@" in login
    keys = [
        QUEUE_KEY,
        ip_key("failed", ip),
        ip_key("refused", ip),
        login_key("failed", login),
        login_key("alerted", login),
    ]
    args = [
        json.dumps(attempt),
        int(now * 1000),
        member[:12],
        int(by_ip),
        int(by_login),
        rules.refuse_window * 1000,
        rules.refuse_after,
        rules.refuse_seconds,
        rules.alert_after,
    ]
    return ReportCall(login, ip[:64], success, keys, args)


def report(redis, *, body: dict, now: float | None = None) -> Reported:
    """Queue one attempt for the access log and count it if it failed (atomic in Redis)."""
    call = report_call(defence(redis), body=body, now=time.time() if now is None else now)
    return call.reported(
        redis.register_script(source("auth_report"))(keys=call.keys, args=call.args)
    )


class CallRefused(Exception):
    """A call of the auth policy answered with an HTTP error: its status and JSON."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.data = status, {"detail": detail}


def call_parse(*, token: str, command: str | None, authorization: str, body: bytes | None) -> dict:
    """The JSON object of one call of Dovecot's auth policy, once the caller, the command
    and the body are right (`body` None: longer than MAX_BODY, and not read); CallRefused
    otherwise. The web's view and the daemon (authpolicyd) answer through this."""
    if not token:
        raise CallRefused(404, "The auth policy is off: AUTHPOLICY_TOKEN is not set.")
    given = authorization.encode("utf-8", "replace")
    if not hmac.compare_digest(given, f"Bearer {token}".encode()):
        raise CallRefused(401, "Authorization: Bearer <AUTHPOLICY_TOKEN> expected.")
    if command not in ("allow", "report"):
        raise CallRefused(400, "command must be allow or report.")
    if body is None:
        raise CallRefused(413, "A login report is a few hundred bytes.")
    try:
        data = json.loads(body)
    except ValueError:
        raise CallRefused(400, "The body is not JSON.") from None
    if not isinstance(data, dict):
        raise CallRefused(400, "The body is a JSON object.")
    return data


def client_ip(data: dict) -> str:
    """The client address a call names, as the allow script keys it."""
    remote = data.get("remote")
    return remote.strip()[:64] if isinstance(remote, str) else ""


def allow_answer(status: int) -> dict:
    """The JSON Dovecot reads before a login."""
    return {"status": status, "msg": REFUSED_REASON if status < 0 else ""}
