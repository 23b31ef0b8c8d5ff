"""The endpoint Dovecot's auth policy calls (auth_policy_server_url): before a login
(?command=allow) and after it (?command=report). Answered from Redis; a token in the
Authorization header (auth_policy_server_api_header) says it is Dovecot. The WSGI fast
path (mailaccess/wsgi.py) answers the same, ahead of Django's handler."""

from __future__ import annotations

import hmac
import json
import logging

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from redis import RedisError

from hosting.counters import count
from hosting.redis import client
from mailaccess.policy import REFUSED_REASON, allow
from mailaccess.services import attempt_reported

log = logging.getLogger(__name__)
MAX_BODY = 16 * 1024


def auth_policy_answer(
    *, command: str | None, authorization: str, body: bytes | None
) -> tuple[int, dict]:
    """The HTTP status and JSON for one call of Dovecot's auth policy (`body` None: longer
    than MAX_BODY, and not read)."""
    token = settings.AUTHPOLICY_TOKEN
    if not token:
        return 404, {"detail": "The auth policy is off: AUTHPOLICY_TOKEN is not set."}
    given = authorization.encode("utf-8", "replace")
    if not hmac.compare_digest(given, f"Bearer {token}".encode()):
        return 401, {"detail": "Authorization: Bearer <AUTHPOLICY_TOKEN> expected."}
    if command not in ("allow", "report"):
        return 400, {"detail": "command must be allow or report."}
    if body is None:
        return 413, {"detail": "A login report is a few hundred bytes."}
    try:
        data = json.loads(body)
    except ValueError:
        return 400, {"detail": "The body is not JSON."}
    if not isinstance(data, dict):
        return 400, {"detail": "The body is a JSON object."}
    try:
        if command == "allow":
            remote = data.get("remote")
            status = allow(client(), ip=remote.strip()[:64] if isinstance(remote, str) else "")
            if status:
                count("login_refused" if status < 0 else "login_delayed")
            return 200, {"status": status, "msg": REFUSED_REASON if status < 0 else ""}
        attempt_reported(redis=client(), body=data)
        return 200, {"status": 0, "msg": ""}
    except RedisError as exc:
        # Dovecot lets the login through (auth_policy_reject_on_fail = no) and logs it.
        log.error("auth policy: Redis unreachable (%s)", exc)
        return 503, {"detail": "Redis unreachable."}


@csrf_exempt
@require_POST
def auth_policy(request: HttpRequest) -> JsonResponse:
    status, data = auth_policy_answer(
        command=request.GET.get("command"),
        authorization=request.headers.get("Authorization", ""),
        body=request.body if len(request.body) <= MAX_BODY else None,
    )
    return JsonResponse(data, status=status)
