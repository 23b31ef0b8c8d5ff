"""The endpoint Dovecot's auth policy calls (auth_policy_server_url): before a login
(?command=allow) and after it (?command=report). Answered from Redis; a token in the
Authorization header (auth_policy_server_api_header) says it is Dovecot."""

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


def _refused(status: int, detail: str) -> JsonResponse:
    return JsonResponse({"detail": detail}, status=status)


@csrf_exempt
@require_POST
def auth_policy(request: HttpRequest) -> JsonResponse:
    token = settings.AUTHPOLICY_TOKEN
    if not token:
        return _refused(404, "The auth policy is off: AUTHPOLICY_TOKEN is not set.")
    given = request.headers.get("Authorization", "").encode("utf-8", "replace")
    if not hmac.compare_digest(given, f"Bearer {token}".encode()):
        return _refused(401, "Authorization: Bearer <AUTHPOLICY_TOKEN> expected.")
    command = request.GET.get("command")
    if command not in ("allow", "report"):
        return _refused(400, "command must be allow or report.")
    if len(request.body) > MAX_BODY:
        return _refused(413, "A login report is a few hundred bytes.")
    try:
        body = json.loads(request.body)
    except ValueError:
        return _refused(400, "The body is not JSON.")
    if not isinstance(body, dict):
        return _refused(400, "The body is a JSON object.")
    try:
        if command == "allow":
            status = allow(client(), ip=str(body.get("remote") or "").strip()[:64])
            if status:
                count("login_refused" if status < 0 else "login_delayed")
            return JsonResponse({"status": status, "msg": REFUSED_REASON if status < 0 else ""})
        attempt_reported(redis=client(), body=body)
        return JsonResponse({"status": 0, "msg": ""})
    except RedisError as exc:
        # Dovecot lets the login through (auth_policy_reject_on_fail = no) and logs it.
        log.error("auth policy: Redis unreachable (%s)", exc)
        return _refused(503, "Redis unreachable.")
