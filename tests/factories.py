from __future__ import annotations

import itertools
import uuid
from datetime import datetime

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from hosting.models import CustomerAccount, Domain, Hosting, Mailbox, SystemUser
from ingest.recording import RecordResult, message_record
from tracking.models import OutboundMessage
from tracking.partitions import MESSAGES, partitions_cover
from tracking.services import MessageData

_seq = itertools.count()


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.net")
    password = factory.django.Password("pw-for-tests")


class CustomerAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CustomerAccount
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Customer {n}")
    contact_email = factory.Sequence(lambda n: f"owner{n}@example.net")
    language = "en"

    @factory.post_generation
    def users(self, create, extracted, **kwargs):
        if create and extracted:
            self.users.add(*extracted)


class HostingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Hosting

    customer = factory.SubFactory(CustomerAccountFactory)
    name = factory.Sequence(lambda n: f"hosting{n}")


class SystemUserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SystemUser

    hosting = factory.SubFactory(HostingFactory)
    uid = factory.Sequence(lambda n: 20000 + n)


class DomainFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Domain

    hosting = factory.SubFactory(HostingFactory)
    name = factory.Sequence(lambda n: f"site{n}.example")


class MailboxFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Mailbox

    domain = factory.SubFactory(DomainFactory)
    address = factory.LazyAttributeSequence(lambda o, n: f"box{n}@{o.domain.name}")


def message_data(
    *,
    sender: str,
    score: float = 12.5,
    user: str | None = None,
    sent_at: datetime | None = None,
    queue_id: str | None = None,
    script: str = "",
    uid: int | None = None,
    action: str = "add header",
) -> MessageData:
    """A message as Rspamd reports it; by default spam sent now over SMTP by `sender`."""
    return MessageData(
        sender=sender,
        recipients=["someone@example.org"],
        sent_at=sent_at or timezone.now(),
        score=score,
        action=action,
        required_score=15.0,
        authenticated_user=sender if user is None and not script and uid is None else (user or ""),
        subject="Win a prize now",
        queue_id=queue_id or f"Q{next(_seq):010X}",
        rspamd_server="rspamd-test",
        script=script,
        uid=uid,
        symbols={"BAYES_SPAM": {"score": 5.1, "description": "Bayes spam", "options": ["99%"]}},
        raw=b"Subject: Win a prize now\r\n\r\nbody\r\n",
    )


def record_spam(sender: str, **kwargs) -> RecordResult:
    """Record one spam message from `sender` now (time travel sets now)."""
    return message_record(data=message_data(sender=sender, **kwargs))


def sent_message(
    box: Mailbox,
    *,
    at: datetime,
    queue_id: str = "",
    recipients: tuple[str, ...] | list[str] = ("anna@example.org",),
    subject: str = "",
    message_id: str = "",
) -> OutboundMessage:
    """A message `box` sent at `at`, stored as is (its partition made if needed)."""
    partitions_cover(scheme=MESSAGES, moments=[at])
    return OutboundMessage.objects.create(
        identity=uuid.uuid4().hex,
        hosting=box.domain.hosting,
        domain=box.domain,
        mailbox=box,
        sender=box.address,
        source="mailbox",
        recipients=list(recipients),
        subject=subject,
        sent_at=at,
        score=1.0,
        queue_id=queue_id,
        message_id=message_id,
    )
