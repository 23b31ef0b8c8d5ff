"""The endpoint Dovecot's auth policy calls (auth_policy_server_url): before a login
(?command=allow) and after it (?command=report). Answered from Redis; a token in the
Authorization header (auth_policy_server_api_header) says it is Dovecot. The WSGI fast
path (mailaccess/wsgi.py) answers the same, ahead of Django's handler."""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from redis import RedisError

from hosting.counters import count
from hosting.redis import client
from mailaccess.policy import MAX_BODY, CallRefused, allow, allow_answer, call_parse, client_ip
from mailaccess.services import attempt_reported

log = logging.getLogger(__name__)


def auth_policy_answer(
    *, command: str | None, authorization: str, body: bytes | None
) -> tuple[int, dict]:
    """The HTTP status and JSON for one call of Dovecot's auth policy (`body` None: longer
    than MAX_BODY, and not read)."""
    try:
        data = call_parse(
            token=settings.AUTHPOLICY_TOKEN, command=command, authorization=authorization, body=body
        )
    except CallRefused as refused:
        return refused.status, refused.data
    try:
        if command == "allow":
            status = allow(client(), ip=client_ip(data))
            if status:
                count("login_refused" if status < 0 else "login_delayed")
            return 200, allow_answer(status)
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
