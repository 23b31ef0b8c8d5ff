"""Provisioning: the provider's systems create, list, suspend, reactivate and delete
mailboxes and set their passwords, through the same services as the admin and the panel."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.scopes import Scope
from api.serializers import (
    MailboxCreateSerializer,
    MailboxQuerySerializer,
    MailboxSerializer,
    NoBody,
    PasswordSerializer,
    SuspendSerializer,
)
from api.views import ById, TokenView
from hosting.access import client_ip
from hosting.models import Domain, Mailbox
from hosting.services import (
    InvalidPassword,
    MailboxRefused,
    mailbox_create,
    mailbox_delete,
    mailbox_reactivate,
    mailbox_suspend,
)
from limits.models import Hold
from limits.services import mailbox_password_change


class MailboxView(TokenView):
    def mailboxes(self) -> QuerySet[Mailbox]:
        return (
            Mailbox.objects.filter(domain__hosting__in=self.hostings())
            .select_related("domain")
            .prefetch_related(Prefetch("holds", Hold.objects.standing(), to_attr="standing_holds"))
        )

    def mailbox(self, pk: int) -> Mailbox:
        """A mailbox the token reaches; any other id is a 404."""
        return get_object_or_404(self.mailboxes(), pk=pk)

    def answer(self, mailbox: Mailbox, code: int = status.HTTP_200_OK) -> Response:
        return Response(MailboxSerializer(self.mailbox(mailbox.pk)).data, status=code)


class MailboxList(MailboxView, generics.ListAPIView):
    """Mailboxes the token reaches, by id: ?hosting=, ?domain=, ?address=."""

    serializer_class = MailboxSerializer
    pagination_class = ById

    def get_permissions(self):
        self.required_scope = (
            Scope.MAILBOXES_READ if self.request.method == "GET" else Scope.MAILBOXES_WRITE
        )
        return super().get_permissions()

    @extend_schema(parameters=[MailboxQuerySerializer])
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[Mailbox]:
        query = MailboxQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        mailboxes = self.mailboxes()
        if hosting := query.validated_data.get("hosting"):
            mailboxes = mailboxes.filter(domain__hosting_id=hosting)
        if domain := query.validated_data.get("domain"):
            mailboxes = mailboxes.filter(domain__name=domain.lower())
        if address := query.validated_data.get("address"):
            mailboxes = mailboxes.filter(address=address.lower())
        return mailboxes

    @extend_schema(request=MailboxCreateSerializer, responses={201: MailboxSerializer})
    def post(self, request: Request) -> Response:
        """Create a mailbox with a password (checked as on the panel) or an existing hash."""
        body = MailboxCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        address = body.validated_data["address"].strip().lower()
        domain = Domain.objects.filter(
            hosting__in=self.hostings(), name=address.rpartition("@")[2]
        ).first()
        if domain is None:
            raise ValidationError({"address": ["No domain of this address is within reach."]})
        try:
            mailbox = mailbox_create(
                domain=domain,
                address=address,
                password=body.validated_data.get("password", ""),
                password_hash=body.validated_data.get("password_hash", ""),
                user=request.user,
                client_ip=client_ip(request),
            )
        except (MailboxRefused, InvalidPassword) as exc:
            raise ValidationError({"detail": str(exc)}) from None
        return self.answer(mailbox, status.HTTP_201_CREATED)


class MailboxDetail(MailboxView, APIView):
    def get_permissions(self):
        self.required_scope = (
            Scope.MAILBOXES_READ if self.request.method == "GET" else Scope.MAILBOXES_WRITE
        )
        return super().get_permissions()

    @extend_schema(responses=MailboxSerializer)
    def get(self, request: Request, pk: int) -> Response:
        """One mailbox and its state."""
        return self.answer(self.mailbox(pk))

    @extend_schema(responses={204: None})
    def delete(self, request: Request, pk: int) -> Response:
        """Delete a mailbox: no login opens it any more; its history stays, by address."""
        mailbox_delete(mailbox=self.mailbox(pk), user=request.user, client_ip=client_ip(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class MailboxSuspend(MailboxView, APIView):
    required_scope = Scope.MAILBOXES_WRITE

    @extend_schema(request=SuspendSerializer, responses=MailboxSerializer)
    def post(self, request: Request, pk: int) -> Response:
        """Refuse every login of the mailbox (L-SUSPENDED), with the reason the customer
        reads; a mailbox suspended already keeps its reason."""
        mailbox = self.mailbox(pk)
        body = SuspendSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            mailbox_suspend(
                mailbox=mailbox,
                reason=body.validated_data["reason"],
                user=request.user,
                client_ip=client_ip(request),
            )
        except MailboxRefused as exc:
            raise ValidationError({"reason": [str(exc)]}) from None
        return self.answer(mailbox)


class MailboxReactivate(MailboxView, APIView):
    required_scope = Scope.MAILBOXES_WRITE

    @extend_schema(request=None, responses=MailboxSerializer)
    def post(self, request: Request, pk: int) -> Response:
        """Let a suspended mailbox log in again."""
        mailbox = self.mailbox(pk)
        NoBody(data=request.data or {}).is_valid(raise_exception=True)
        mailbox_reactivate(mailbox=mailbox, user=request.user, client_ip=client_ip(request))
        return self.answer(mailbox)


class MailboxPassword(MailboxView, APIView):
    required_scope = Scope.MAILBOXES_WRITE

    @extend_schema(request=PasswordSerializer, responses=MailboxSerializer)
    def post(self, request: Request, pk: int) -> Response:
        """Set the mailbox's password (checked as on the panel); it lifts an L-HOLD."""
        mailbox = self.mailbox(pk)
        body = PasswordSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            mailbox_password_change(
                mailbox=mailbox,
                password=body.validated_data["password"],
                user=request.user,
                client_ip=client_ip(request),
            )
        except InvalidPassword as exc:
            raise ValidationError({"password": [str(exc)]}) from None
        return self.answer(mailbox)
