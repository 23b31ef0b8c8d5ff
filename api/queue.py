"""The mail-host agent and Postfix's queue (mxagent/queue.py): which senders' queued mail
must stay held (every standing block and compromise hold), which held messages staff
asked to delete, and what each host holds now."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from abuse.models import Block
from abuse.models import Scope as BlockScope
from api.deliveries import MailHostView
from limits.models import Hold
from tracking.queue import MAX_HELD, queue_deletions, queue_held_replace


def queue_wanted(*, host: str) -> dict[str, list[str]]:
    """Whose queued mail stays held (every standing block and compromise hold), and the
    held messages of `host` staff asked to delete."""
    blocks = Block.objects.active().values_list("scope", "target")
    held = Hold.objects.standing().values_list("mailbox__address", flat=True)
    return {
        "addresses": sorted(
            {t for s, t in blocks if s == BlockScope.ADDRESS} | {a for a in held if a}
        ),
        "domains": sorted({t for s, t in blocks if s == BlockScope.DOMAIN}),
        "delete": queue_deletions(host=host),
    }


class QueueStateSerializer(serializers.Serializer):
    addresses = serializers.ListField(child=serializers.CharField(), help_text="Senders held.")
    domains = serializers.ListField(
        child=serializers.CharField(), help_text="Domains whose every sender is held."
    )
    delete = serializers.ListField(
        child=serializers.CharField(), help_text="Queue ids on this host staff asked to delete."
    )


class HeldReportSerializer(serializers.Serializer):
    host = serializers.CharField(max_length=255)
    held = serializers.ListField(
        child=serializers.JSONField(allow_null=True),
        max_length=MAX_HELD,
        help_text="What the host holds now: queue_id, sender, recipients, subject, arrived.",
    )


class HeldResultSerializer(serializers.Serializer):
    held = serializers.IntegerField()
    invalid = serializers.IntegerField()


class QueueState(MailHostView):
    @extend_schema(
        parameters=[OpenApiParameter("host", str, required=True)],
        responses=QueueStateSerializer,
    )
    def get(self, request: Request) -> Response:
        """Whose queued mail the agent must hold now, and what staff asked it to delete."""
        host = request.query_params.get("host", "")
        if not host or len(host) > 255 or "\x00" in host:
            raise ValidationError({"host": "This mail host's name, as it reports it."})
        return Response(QueueStateSerializer(queue_wanted(host=host)).data)


class QueueHeld(MailHostView):
    @extend_schema(request=HeldReportSerializer, responses=HeldResultSerializer)
    def post(self, request: Request) -> Response:
        """What this host holds now (its last report is replaced)."""
        report = self.body(request, HeldReportSerializer)
        done = queue_held_replace(host=report["host"], items=report["held"])
        return Response(HeldResultSerializer(done).data)
