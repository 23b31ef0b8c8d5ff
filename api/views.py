"""The provider's API: thin views over the same services the panel and the admin use, so
an unblock through the API obeys the 90 days and the complaint periods exactly as the
button. Every write is audited as the token's owner, with the token's name."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from abuse.models import Block
from abuse.selectors import unblock_availability
from abuse.services import UnblockRefused, block_lift, hosting_unblock
from api.scopes import Scope
from api.serializers import (
    BlockQuerySerializer,
    BlockSerializer,
    GrantResultSerializer,
    HostingDetailSerializer,
    HostingSerializer,
    LiftResultSerializer,
    LiftSerializer,
    MessageQuerySerializer,
    MessageSerializer,
    NoBody,
    RefusedSerializer,
    UnblockResultSerializer,
)
from api.services import api_write_audit
from hosting.access import client_ip
from hosting.models import Hosting
from hosting.services import hosting_grant_exceptional_unblock
from limits.models import Hold
from tracking.complaints import messages_complaints_attach
from tracking.deliveries import messages_delivery_attach
from tracking.models import OutboundMessage


class Cursor(CursorPagination):
    """Cursor pagination that refuses what DRF would quietly replace: a `limit` that is not
    a whole number from 1 to 500 (DRF serves 50 rows instead) and a cursor that is not one
    of ours (DRF answers 404, as if the collection were missing): both are a 400."""

    page_size = 50
    max_page_size = 500
    page_size_query_param = "limit"
    invalid_cursor_message = "cursor: not a cursor this API gave; start again without it."

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= self.max_page_size:
            raise ValidationError(
                {"limit": [f"A whole number from 1 to {self.max_page_size}, not {raw[:20]!r}."]}
            )
        return int(raw)

    def decode_cursor(self, request: Request):
        try:
            return super().decode_cursor(request)
        except NotFound:
            raise ValidationError({"cursor": [self.invalid_cursor_message]}) from None


class NewestFirst(Cursor):
    ordering = ("-sent_at", "-id")


class ById(Cursor):
    ordering = ("id",)


class BlocksNewestFirst(Cursor):
    ordering = ("-started_at", "-id")


class TokenView:
    """A view that knows the token's reach and audits every write it answers."""

    required_scope = ""
    request: Request

    def hostings(self) -> QuerySet[Hosting]:
        return self.request.auth.hostings()

    def hosting(self, pk: int) -> Hosting:
        """A hosting the token reaches; any other id is a 404."""
        return get_object_or_404(self.hostings(), pk=pk)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if request.method not in SAFE_METHODS and request.auth is not None:
            api_write_audit(token=request.auth, request=request, status=response.status_code)
        return response


def _with_state(hostings: QuerySet[Hosting]) -> QuerySet[Hosting]:
    now = timezone.now()
    return hostings.select_related("customer").prefetch_related(
        Prefetch("blocks", Block.objects.active(now).order_by("target"), to_attr="active_blocks"),
        Prefetch(
            "holds",
            Hold.objects.standing().select_related("mailbox").order_by("started_at"),
            to_attr="standing_holds",
        ),
    )


class HostingList(TokenView, generics.ListAPIView):
    """Hostings the token reaches, with their blocks in force and compromise holds."""

    required_scope = Scope.HOSTINGS_READ
    serializer_class = HostingSerializer
    pagination_class = ById

    def get_queryset(self) -> QuerySet[Hosting]:
        return _with_state(self.hostings())


class HostingDetail(TokenView, APIView):
    required_scope = Scope.HOSTINGS_READ

    @extend_schema(responses=HostingDetailSerializer)
    def get(self, request: Request, pk: int) -> Response:
        """One hosting: its blocks, holds, and whether Unblock mailboxes is possible now."""
        hosting = get_object_or_404(_with_state(self.hostings()), pk=pk)
        context = {"availability": unblock_availability(hosting=hosting)}
        return Response(HostingDetailSerializer(hosting, context=context).data)


class BlockList(TokenView, generics.ListAPIView):
    """Blocks of the hostings the token reaches, newest first: ?hosting=, ?code=,
    ?active=true|false."""

    required_scope = Scope.BLOCKS_READ
    serializer_class = BlockSerializer
    pagination_class = BlocksNewestFirst

    @extend_schema(parameters=[BlockQuerySerializer])
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[Block]:
        query = BlockQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        q = query.validated_data
        blocks = Block.objects.filter(hosting__in=self.hostings())
        if q.get("hosting"):
            blocks = blocks.filter(hosting_id=q["hosting"])
        if q.get("code"):
            blocks = blocks.filter(code=q["code"])
        if q.get("active"):
            standing = Block.objects.active().values("pk")
            blocks = (
                blocks.filter(pk__in=standing)
                if q["active"] == "true"
                else blocks.exclude(pk__in=standing)
            )
        return blocks


class BlockLift(TokenView, APIView):
    required_scope = Scope.BLOCKS_LIFT

    @extend_schema(
        request=LiftSerializer,
        responses={200: LiftResultSerializer, 409: RefusedSerializer},
    )
    def post(self, request: Request, pk: int) -> Response:
        """Lift one block as staff (the token's owner), with the reason for the audit trail."""
        block = get_object_or_404(Block.objects.filter(hosting__in=self.hostings()), pk=pk)
        body = LiftSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        note = f"{body.validated_data['note']} (API token {request.auth.name})"
        lifted = block_lift(block=block, user=request.user, note=note, client_ip=client_ip(request))
        block.refresh_from_db()
        if not lifted:
            return Response(
                {
                    "detail": "This block no longer stands.",
                    "reason": "not_standing",
                    "available_from": None,
                },
                status=status.HTTP_409_CONFLICT,
            )
        return Response({"lifted": True, "block": BlockSerializer(block).data})


class HostingGrant(TokenView, APIView):
    required_scope = Scope.GRANTS_WRITE

    @extend_schema(request=None, responses=GrantResultSerializer)
    def post(self, request: Request, pk: int) -> Response:
        """Let the hosting's next Unblock mailboxes through despite the 90-day rule, once."""
        hosting = self.hosting(pk)
        NoBody(data=request.data or {}).is_valid(raise_exception=True)
        granted = hosting_grant_exceptional_unblock(
            hosting=hosting, user=request.user, client_ip=client_ip(request)
        )
        return Response(
            {
                "granted": granted,
                "exceptional_unblock_granted_at": hosting.exceptional_unblock_granted_at,
            }
        )


class HostingUnblock(TokenView, APIView):
    required_scope = Scope.UNBLOCK_WRITE

    @extend_schema(request=None, responses={200: UnblockResultSerializer, 409: RefusedSerializer})
    def post(self, request: Request, pk: int) -> Response:
        """Unblock mailboxes on the customer's behalf: the button's rules, the button's service."""
        hosting = self.hosting(pk)
        NoBody(data=request.data or {}).is_valid(raise_exception=True)
        try:
            unblock = hosting_unblock(
                hosting=hosting, user=request.user, client_ip=client_ip(request)
            )
        except UnblockRefused as refused:
            return Response(
                {
                    "detail": str(refused),
                    "reason": refused.reason,
                    "available_from": refused.available_from,
                },
                status=status.HTTP_409_CONFLICT,
            )
        return Response(
            {
                "unblock_id": unblock.pk,
                "lifted": unblock.lifted,
                "used_exceptional_grant": unblock.used_exceptional_grant,
            }
        )


class MessageList(TokenView, generics.ListAPIView):
    """Sent messages of a hosting or an address, newest first, within an optional time
    range and queue id."""

    required_scope = Scope.MESSAGES_READ
    serializer_class = MessageSerializer
    pagination_class = NewestFirst

    @extend_schema(parameters=[MessageQuerySerializer])
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[OutboundMessage]:
        query = MessageQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        q = query.validated_data
        messages = OutboundMessage.objects.filter(hosting__in=self.hostings()).select_related(
            "mailbox"
        )
        if q.get("hosting"):
            messages = messages.filter(hosting_id=q["hosting"])
        if q.get("address"):
            messages = messages.filter(mailbox__address=q["address"].lower())
        if q.get("after"):
            messages = messages.filter(sent_at__gte=q["after"])
        if q.get("before"):
            messages = messages.filter(sent_at__lt=q["before"])
        if q.get("queue_id"):
            messages = messages.filter(queue_id=q["queue_id"])
        return messages

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        if page is not None:
            messages_delivery_attach(page)
            messages_complaints_attach(page)
        return page
