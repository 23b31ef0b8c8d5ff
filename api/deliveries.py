"""The mail-host agent's endpoint (mxagent/): Postfix's delivery results, in batches.

Machine traffic, not a staff member's write: it is not in the audit trail (a line per
batch would bury the writes people make)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.scopes import Scope
from api.services import delivery_batch_receive
from tracking.deliveries import MAX_BATCH


class DeliveryBatchSerializer(serializers.Serializer):
    host = serializers.CharField(max_length=255, help_text="The mail host that logged them.")
    deliveries = serializers.ListField(
        child=serializers.JSONField(allow_null=True),
        max_length=MAX_BATCH,
        help_text=(
            "Results as mxagent ships them: queue_id, recipient, status (delivered, deferred, "
            "bounced, expired), dsn, reply, relay, delay, logged_at (ISO 8601 with offset). "
            "Each is checked alone: one that is not a result is counted as invalid."
        ),
    )
    skipped = serializers.IntegerField(
        min_value=0, default=0, help_text="Log lines the agent read that were not results."
    )


class DeliveryBatchResultSerializer(serializers.Serializer):
    stored = serializers.IntegerField()
    duplicates = serializers.IntegerField(help_text="Already stored: shipped again.")
    invalid = serializers.IntegerField()


class MailHostView(APIView):
    """An endpoint of the mail-host agent: its scope, and a token that reaches every
    customer (what a mail host reports concerns them all)."""

    required_scope = Scope.DELIVERIES_WRITE

    def initial(self, request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)
        if request.auth.customers.exists():
            raise PermissionDenied(
                "A mail host's reports concern every customer: use a token that reaches them all."
            )

    def body(self, request: Request, serializer: type[serializers.Serializer]) -> dict:
        """The JSON object posted, checked by `serializer`; a 400 saying why otherwise."""
        if not isinstance(request.data, dict):
            fields = ", ".join(serializer().fields)
            raise ValidationError(f"A JSON object: {fields}.")
        checked = serializer(data=request.data)
        checked.is_valid(raise_exception=True)
        return checked.validated_data


class DeliveryReport(MailHostView):
    @extend_schema(request=DeliveryBatchSerializer, responses=DeliveryBatchResultSerializer)
    def post(self, request: Request) -> Response:
        """Store a batch of delivery results; a result shipped twice is stored once."""
        batch = self.body(request, DeliveryBatchSerializer)
        recorded = delivery_batch_receive(
            host=batch["host"], items=batch["deliveries"], skipped=batch["skipped"]
        )
        return Response(DeliveryBatchResultSerializer(recorded).data)
