"""The demo `make run` shows: two hostings, a sent-mail history, one L-SPAM20, one L-SPAM00."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from abuse.counting import strongest
from abuse.models import Block
from abuse.services import blocks_lift_expired
from demo.sample_mail import sample_message
from hosting.models import CustomerAccount, Domain, Hosting, Mailbox
from hosting.passwords import dovecot_hash
from ingest.recording import message_record
from tracking.services import MessageData, message_contents_sweep

HOSTINGS = {
    "boulangerie-martin": {
        "boulangerie-martin.fr": ["contact", "commandes", "marie"],
        "martin-traiteur.fr": ["info", "devis"],
    },
    "blog-voyages": {
        "blog-voyages.it": ["redazione", "luca"],
        "viaggi-lenti.it": ["info"],
    },
}
COMPROMISED = "contact@boulangerie-martin.fr"  # ends under L-SPAM20
TIMED = "luca@blog-voyages.it"  # under a fresh L-SPAM00


class DemoExists(Exception):
    pass


def _record(rng: random.Random, sender: str, when: datetime, spam: bool, n: int) -> None:
    sample = sample_message(rng, sender=sender, spam=spam, when=when)
    symbols = sample.symbols
    domain = sender.rpartition("@")[2]
    standing = strongest(
        Block.objects.active(when).filter(target__in=[sender, domain], started_at__lte=when)
    )
    if standing is not None:
        # The mail server would have refused it, as Rspamd's LWS_BLOCKED rule reports it.
        symbols = {"LWS_BLOCKED": {"score": 0.0, "description": "", "options": [standing.code]}}
    message_record(
        data=MessageData(
            sender=sender,
            recipients=sample.recipients,
            sent_at=when,
            score=sample.score,
            action=sample.action,
            required_score=15.0,
            authenticated_user=sender,
            subject=sample.subject,
            size=len(sample.raw),
            queue_id=f"4D{n:08X}",
            rspamd_server="demo-rspamd",
            message_id=sample.message_id,
            client_ip="203.0.113.24",
            symbols=symbols,
            raw=sample.raw,
        ),
        now=when,
    )


@transaction.atomic
def demo_load(*, now: datetime | None = None, seed: int = 20261128) -> None:
    """Create the demo customer, staff user, hostings and a month of sent mail."""
    now = now or timezone.now()
    User = get_user_model()
    if User.objects.filter(username="demo").exists():
        raise DemoExists("The demo is already loaded (user 'demo' exists).")
    rng = random.Random(seed)
    User.objects.create_superuser("admin", "admin@example.net", "admin")
    demo = User.objects.create_user("demo", "demo@example.net", "demo", first_name="Marie")
    customer = CustomerAccount.objects.create(
        name="Martin & Rossi", contact_email="marie.martin@example.net", language="en"
    )
    customer.users.add(demo)
    mailboxes: list[str] = []
    for hosting_name, domains in HOSTINGS.items():
        hosting = Hosting.objects.create(customer=customer, name=hosting_name)
        for domain_name, locals_ in domains.items():
            domain = Domain.objects.create(hosting=hosting, name=domain_name)
            for local in locals_:
                address = f"{local}@{domain_name}"
                Mailbox.objects.create(
                    domain=domain, address=address, password_hash=dovecot_hash(f"demo-{local}!")
                )
                mailboxes.append(address)

    events: list[tuple[datetime, str, bool]] = []
    for _ in range(420):
        when = now - timedelta(seconds=rng.randint(3600, 30 * 86400))
        events.append((when, rng.choice(mailboxes), rng.random() < 0.03))
    # A compromised PC: 40 spam over five days, eight a day (so no 24-hour code fires), each
    # after the 20 minutes of the previous one's L-SPAM00, the last 30 h ago (its complaint
    # period is over): the 40th in 7 days is L-SPAM20.
    start = now - timedelta(hours=30) - timedelta(hours=3) * 39
    events += [(start + timedelta(hours=3) * i, COMPROMISED, True) for i in range(40)]
    events.append((now - timedelta(minutes=4), TIMED, True))
    for n, (when, sender, spam) in enumerate(sorted(events)):
        _record(rng, sender, when, spam, n)
    blocks_lift_expired(now=now)
    message_contents_sweep(now=now)
