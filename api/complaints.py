"""Feedback-loop reports for providers who fetch them elsewhere (an IMAP mailbox, a
provider's API): the raw report as the body, matched and counted as the Postfix pipe's
(manage.py fbl_receive)."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser
from rest_framework.request import Request
from rest_framework.response import Response

from api.deliveries import MailHostView
from api.scopes import Scope
from reputation.complaints import Outcome, feedback_report_receive
from reputation.models import Via

STATUS = {
    Outcome.COUNTED: status.HTTP_201_CREATED,
    Outcome.MATCHED: status.HTTP_201_CREATED,
    Outcome.DUPLICATE: status.HTTP_200_OK,
    Outcome.PARKED: status.HTTP_202_ACCEPTED,
}


class RawMessageParser(BaseParser):
    """The report as it came: message/rfc822 (or any other type), bytes untouched."""

    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None) -> bytes:
        return stream.read() if stream is not None else b""


class ComplaintResultSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(
        choices=[Outcome.COUNTED, Outcome.MATCHED, Outcome.DUPLICATE, Outcome.PARKED],
        help_text=(
            "counted: matched, and it made its message spam; matched: the message was spam "
            "already; duplicate: this report was received before; parked: kept for staff."
        ),
    )
    complaint = serializers.IntegerField(allow_null=True)
    message = serializers.IntegerField(allow_null=True, help_text="The message it is about.")
    blocks = serializers.ListField(child=serializers.CharField(), help_text="Codes it started.")
    parked = serializers.IntegerField(allow_null=True)
    reason = serializers.CharField(help_text="Why it was parked.")


class ComplaintReport(MailHostView):
    required_scope = Scope.COMPLAINTS_WRITE
    parser_classes = [RawMessageParser]

    @extend_schema(
        request={"message/rfc822": bytes},
        responses={
            201: ComplaintResultSerializer,
            200: ComplaintResultSerializer,
            202: ComplaintResultSerializer,
            400: OpenApiResponse(description="An empty body."),
            413: OpenApiResponse(description="Larger than FBL_MAX_BYTES."),
        },
    )
    def post(self, request: Request) -> Response:
        """Hand in one feedback report (ARF, RFC 5965) as the raw message."""
        limit = settings.FBL_MAX_BYTES
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            raise ParseError("Content-Length is not a number.") from None
        if length > limit:
            return Response(
                {"detail": f"A report of at most {limit} bytes."},
                status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            )
        raw = request.data
        if not isinstance(raw, bytes) or not raw.strip():
            raise ParseError("The body is the report itself (message/rfc822): it is empty.")
        received = feedback_report_receive(raw=raw, via=Via.HTTP)
        complaint = received.complaint
        body = {
            "outcome": received.outcome,
            "complaint": complaint.pk if complaint else None,
            "message": complaint.message_id if complaint else None,
            "blocks": list(received.blocks),
            "parked": received.parked.pk if received.parked else None,
            "reason": received.reason or (received.parked.reason if received.parked else ""),
        }
        return Response(ComplaintResultSerializer(body).data, status=STATUS[received.outcome])
