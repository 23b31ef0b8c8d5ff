from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from abuse.models import Block
from abuse.selectors import UnblockAvailability
from hosting.models import Hosting, Mailbox
from tracking.models import OutboundMessage


class BlockSerializer(serializers.ModelSerializer):
    hosting = serializers.IntegerField(source="hosting_id", read_only=True)
    active = serializers.SerializerMethodField()

    class Meta:
        model = Block
        fields = [
            "id", "hosting", "scope", "target", "code", "rank", "spam_count", "started_at",
            "ends_at", "complaint_ends_at", "lifted_at", "lift_reason", "active",
        ]  # fmt: skip

    @extend_schema_field(serializers.BooleanField())
    def get_active(self, block: Block) -> bool:
        return block.is_active()


class HoldSerializer(serializers.Serializer):
    mailbox = serializers.CharField(source="mailbox.address")
    reason = serializers.CharField()
    started_at = serializers.DateTimeField()


class UnblockSerializer(serializers.Serializer):
    allowed = serializers.BooleanField()
    reason = serializers.CharField(
        allow_null=True, help_text="nothing_blocked, interval, complaint_period"
    )
    available_from = serializers.DateTimeField(allow_null=True)
    uses_exceptional_grant = serializers.BooleanField()
    explanation = serializers.SerializerMethodField()

    def get_explanation(self, availability: UnblockAvailability) -> str:
        return availability.explanation()


class HostingSerializer(serializers.ModelSerializer):
    customer = serializers.CharField(source="customer.name")
    blocks = BlockSerializer(source="active_blocks", many=True, read_only=True)
    holds = HoldSerializer(source="standing_holds", many=True, read_only=True)
    blocked = serializers.SerializerMethodField()

    class Meta:
        model = Hosting
        fields = [
            "id", "name", "customer", "blocked", "blocks", "holds",
            "exceptional_unblock_granted_at",
        ]  # fmt: skip

    @extend_schema_field(serializers.BooleanField())
    def get_blocked(self, hosting: Hosting) -> bool:
        return bool(hosting.active_blocks) or bool(hosting.standing_holds)


class HostingDetailSerializer(HostingSerializer):
    unblock = serializers.SerializerMethodField()

    class Meta(HostingSerializer.Meta):
        fields = [*HostingSerializer.Meta.fields, "unblock"]

    @extend_schema_field(UnblockSerializer())
    def get_unblock(self, hosting: Hosting) -> dict:
        return UnblockSerializer(self.context["availability"]).data


class ComplaintSerializer(serializers.Serializer):
    reporter = serializers.CharField(help_text="The mailbox provider whose user complained.")
    feedback_type = serializers.CharField(help_text="abuse, fraud, virus, other... as reported.")
    received_at = serializers.DateTimeField()
    matched_by = serializers.CharField(help_text="reference, message_id or queue_id.")
    counted = serializers.BooleanField(help_text="This complaint made the message spam.")


class MessageSerializer(serializers.ModelSerializer):
    mailbox = serializers.CharField(source="mailbox.address", allow_null=True, default=None)
    delivery = serializers.CharField(
        read_only=True,
        default="",
        help_text=(
            "Its worst recipient's latest delivery result: delivered, deferred, bounced, "
            "expired; empty until the mail host reports one."
        ),
    )
    complaints = ComplaintSerializer(
        source="complaints_seen",
        many=True,
        read_only=True,
        default=list,
        help_text="Feedback-loop complaints about it, oldest first: each makes it spam once.",
    )

    class Meta:
        model = OutboundMessage
        fields = [
            "id", "hosting", "mailbox", "sender", "recipients", "subject", "queue_id",
            "message_id", "sent_at", "score", "status", "is_spam", "code", "source", "delivery",
            "complaints",
        ]  # fmt: skip


class NoBody(serializers.Serializer):
    """An endpoint that takes no fields: an empty body or {}; anything else is a 400."""


class LiftSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=500, help_text="Why: kept in the audit trail.")


class LiftResultSerializer(serializers.Serializer):
    lifted = serializers.BooleanField()
    block = BlockSerializer()


class GrantResultSerializer(serializers.Serializer):
    granted = serializers.BooleanField(help_text="False: a grant was already pending.")
    exceptional_unblock_granted_at = serializers.DateTimeField()


class UnblockResultSerializer(serializers.Serializer):
    unblock_id = serializers.IntegerField()
    lifted = serializers.ListField(child=serializers.DictField())
    used_exceptional_grant = serializers.BooleanField()


class RefusedSerializer(serializers.Serializer):
    detail = serializers.CharField()
    reason = serializers.CharField()
    available_from = serializers.DateTimeField(allow_null=True)


class BlockQuerySerializer(serializers.Serializer):
    """The filters of the block list; a value that is not one of them is a 400."""

    hosting = serializers.IntegerField(required=False, min_value=1, help_text="one hosting's")
    code = serializers.RegexField(
        r"^L-[A-Z]{3,5}[0-9]{0,2}$", required=False, max_length=16, help_text="L-SPAM20, L-SPAM00…"
    )
    active = serializers.ChoiceField(
        ["true", "false"], required=False, help_text="in force now (true) or not (false)"
    )


class MessageQuerySerializer(serializers.Serializer):
    """A search names a hosting or an address (both may be given), within an optional time
    range: every search then reads one index, however many messages are stored."""

    hosting = serializers.IntegerField(required=False, min_value=1)
    address = serializers.EmailField(required=False, max_length=254)
    after = serializers.DateTimeField(required=False, help_text="sent at or after")
    before = serializers.DateTimeField(required=False, help_text="sent before")
    queue_id = serializers.CharField(required=False, max_length=64)

    def validate(self, data: dict) -> dict:
        if not data.get("hosting") and not data.get("address"):
            raise serializers.ValidationError("Give a hosting or an address.")
        if data.get("after") and data.get("before") and data["after"] >= data["before"]:
            raise serializers.ValidationError("after must be earlier than before.")
        return data


class MailboxSerializer(serializers.ModelSerializer):
    domain = serializers.CharField(source="domain.name")
    hosting = serializers.IntegerField(source="domain.hosting_id")
    state = serializers.SerializerMethodField(
        help_text="active, held (L-HOLD: logins refused until the password changes) or "
        "suspended (L-SUSPENDED: logins refused until reactivated)"
    )

    class Meta:
        model = Mailbox
        fields = [
            "id",
            "address",
            "domain",
            "hosting",
            "state",
            "suspended_at",
            "suspended_reason",
            "password_changed_at",
            "created_at",
        ]

    def get_state(self, mailbox: Mailbox) -> str:
        if mailbox.is_suspended():
            return "suspended"
        return "held" if getattr(mailbox, "standing_holds", None) else "active"


class MailboxCreateSerializer(serializers.Serializer):
    address = serializers.CharField(max_length=254)
    password = serializers.CharField(
        required=False, max_length=200, trim_whitespace=False, help_text="checked, then hashed"
    )
    password_hash = serializers.CharField(
        required=False,
        max_length=255,
        help_text="or the hash it has elsewhere, with its scheme: {SHA512-CRYPT}$6$…",
    )

    def validate(self, data: dict) -> dict:
        if bool(data.get("password")) == bool(data.get("password_hash")):
            raise serializers.ValidationError("Give either password or password_hash.")
        return data


class MailboxQuerySerializer(serializers.Serializer):
    hosting = serializers.IntegerField(required=False, min_value=1)
    domain = serializers.CharField(required=False, max_length=253)
    address = serializers.CharField(required=False, max_length=254)


class SuspendSerializer(serializers.Serializer):
    reason = serializers.CharField(
        max_length=300, help_text="Shown to the customer on the panel; kept in the audit trail."
    )


class PasswordSerializer(serializers.Serializer):
    password = serializers.CharField(max_length=200, trim_whitespace=False)
