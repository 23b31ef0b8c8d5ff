from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from abuse.models import Unblock
from hosting.models import AuditEvent
from hosting.passwords import dovecot_verify
from ingest.recording import message_record
from tests.abuse.helpers import spam_at
from tests.factories import message_data

pytestmark = pytest.mark.django_db


def test_a_customer_with_one_hosting_lands_on_its_addresses(logged_in, customer):
    response = logged_in.get("/")

    assert response["Location"] == reverse("addresses", args=[customer.hosting.pk])


def test_the_addresses_list_shows_a_triangle_linking_to_mail_abuse(logged_in, abuse_blocked):
    page = logged_in.get(reverse("addresses", args=[abuse_blocked.hosting.pk])).content.decode()

    abuse_url = reverse("mail-abuse", args=[abuse_blocked.hosting.pk])
    assert page.count('class="restriction"') == 1
    assert f'href="{abuse_url}"' in page
    assert "L-SPAM20" in page


def test_a_timed_block_offers_the_password_change_first(logged_in, customer):
    spam_at(customer.box.address, timezone.now())

    page = logged_in.get(reverse("addresses", args=[customer.hosting.pk])).content.decode()

    assert "L-SPAM00" in page
    assert 'class="btn btn-primary btn-small">Change password' in page


def test_the_mail_abuse_page_is_green_when_nothing_is_blocked(logged_in, customer):
    page = logged_in.get(reverse("mail-abuse", args=[customer.hosting.pk])).content.decode()

    assert 'class="notice notice-ok" id="abuse-status"' in page
    assert "unblock-button" not in page


def test_unblock_then_green_then_a_second_unblock_refused_with_its_date(logged_in, abuse_blocked):
    hosting = abuse_blocked.hosting
    page = logged_in.get(reverse("mail-abuse", args=[hosting.pk])).content.decode()
    assert 'class="notice notice-error" id="abuse-status"' in page
    assert "contact@boulangerie.example" in page and "L-SPAM20" in page

    response = logged_in.post(reverse("unblock", args=[hosting.pk]), {"confirm": "on"}, follow=True)

    page = response.content.decode()
    assert 'class="notice notice-ok" id="abuse-status"' in page
    assert "1 block lifted. Sending works again for this address." in page
    spam_at(abuse_blocked.box.address, timezone.now() - timedelta(hours=25), 40)
    page = logged_in.get(reverse("mail-abuse", args=[hosting.pk])).content.decode()
    assert 'id="unblock-refusal"' in page and "once every 90 days" in page
    assert "VPS" in page
    again = logged_in.post(reverse("unblock", args=[hosting.pk]), {"confirm": "on"})
    # Post/redirect/get: the page says why, once; a reload posts nothing.
    assert (again.status_code, again["Location"]) == (302, reverse("mail-abuse", args=[hosting.pk]))
    page = logged_in.get(again["Location"]).content.decode()
    assert page.count("once every 90 days; the next unblock is possible") == 1
    assert Unblock.objects.count() == 1


def test_unblocking_needs_the_confirmation(logged_in, abuse_blocked):
    response = logged_in.post(reverse("unblock", args=[abuse_blocked.hosting.pk]), {})

    assert response.status_code == 400
    assert not Unblock.objects.exists()


def test_meters_show_each_address_against_each_threshold(logged_in, customer):
    spam_at(customer.box.address, timezone.now() - timedelta(hours=1), 7)

    page = logged_in.get(reverse("mail-abuse", args=[customer.hosting.pk])).content.decode()

    assert "7 of 20 spam in 1 day" in page
    assert "7 of 40 spam in 7 days" in page
    assert "7 of 30 spam in 1 day<" in page  # the domain's L-SPAM11


def test_changing_a_mailbox_password_stores_a_dovecot_hash(logged_in, customer):
    url = reverse("mailbox-password", args=[customer.hosting.pk, customer.box.pk])

    response = logged_in.post(
        url, {"password1": "Fresh-Long-Secret-1", "password2": "Fresh-Long-Secret-1"}
    )

    assert response.status_code == 302
    customer.box.refresh_from_db()
    assert dovecot_verify("Fresh-Long-Secret-1", customer.box.password_hash)
    assert AuditEvent.objects.filter(action="mailbox.password_changed", actor=customer).exists()


def test_mismatched_passwords_are_refused(logged_in, customer):
    url = reverse("mailbox-password", args=[customer.hosting.pk, customer.box.pk])

    response = logged_in.post(url, {"password1": "Fresh-Long-Secret-1", "password2": "other"})

    assert response.status_code == 400
    assert "The two passwords differ." in response.content.decode()


@pytest.mark.parametrize(
    ("language", "password", "says"),
    [
        ("en", "qwertyuiop", "This password is too common."),
        ("en", "1234567890123", "This password is entirely numeric."),
        ("fr", "azertyuiop", "Ce mot de passe est trop courant."),
        ("it", "motdepasse", "Questa password è troppo comune."),
        ("en", "contact@boulangerie.example", "must not"),
    ],
)
def test_a_common_numeric_or_self_naming_password_is_refused_in_the_readers_language(
    logged_in, customer, settings, language, password, says
):
    logged_in.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    url = reverse("mailbox-password", args=[customer.hosting.pk, customer.box.pk])

    response = logged_in.post(url, {"password1": password, "password2": password})

    assert response.status_code == 400
    assert says in response.content.decode()
    customer.box.refresh_from_db()
    assert not customer.box.password_hash or not dovecot_verify(
        password, customer.box.password_hash
    )


def _record(customer, *, minutes_ago: int, subject: str = "Hello", score: float = 1.0, n: int = 0):
    data = message_data(
        sender=customer.box.address,
        score=score,
        sent_at=timezone.now() - timedelta(minutes=minutes_ago),
        queue_id=f"T{n}",
    )
    html = "<p onclick=alert(1)>Hi<script>alert(2)</script><img src=http://x.example/p.gif></p>"
    raw = (
        f"From: {customer.box.address}\r\nTo: a@example.org\r\nSubject: {subject}\r\n"
        'MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nplain body\r\n"
        "--b\r\nContent-Type: text/html\r\n\r\n"
        f"{html}\r\n--b--\r\n"
    ).encode()
    from dataclasses import replace

    return message_record(data=replace(data, subject=subject, raw=raw)).message


def test_tracking_lists_newest_first_with_keyset_pages(logged_in, customer):
    for n in range(55):
        _record(customer, minutes_ago=n, subject=f"Message {n}", n=n)
    url = reverse("tracking", args=[customer.hosting.pk])

    first = logged_in.get(url)
    assert first.context["page"][0].subject == "Message 0"
    assert len(first.context["page"]) == 50
    second = logged_in.get(url, {"after": first.context["next_cursor"]})
    assert [m.subject for m in second.context["page"]] == [f"Message {n}" for n in range(50, 55)]
    assert second.context["next_cursor"] is None


def test_tracking_filters_by_text_and_spam(logged_in, customer):
    _record(customer, minutes_ago=1, subject="Invoice 12", n=1)
    _record(customer, minutes_ago=2, subject="WIN NOW", score=12.0, n=2)
    url = reverse("tracking", args=[customer.hosting.pk])

    by_text = logged_in.get(url, {"q": "invoice"}).context["page"]
    spam = logged_in.get(url, {"spam": "on"}).context["page"]

    assert [m.subject for m in by_text] == ["Invoice 12"]
    assert [m.subject for m in spam] == ["WIN NOW"]


@pytest.mark.parametrize(
    "query",
    [
        {"after": "garbage!"},
        {"since": "2026-13-40"},
        {"since": "2026-11-20", "until": "2026-11-10"},
    ],
)
def test_bad_tracking_queries_get_a_400(logged_in, customer, query):
    assert logged_in.get(reverse("tracking", args=[customer.hosting.pk]), query).status_code == 400


@pytest.mark.parametrize(("offset", "available"), [(-1, True), (1, False)])
def test_content_and_report_are_shown_for_72_hours_exactly(logged_in, customer, offset, available):
    message = _record(customer, minutes_ago=0, score=12.0)
    url = reverse("message", args=[customer.hosting.pk, message.pk])
    html_url = reverse("message-html", args=[customer.hosting.pk, message.pk])

    with time_machine.travel(message.sent_at + timedelta(hours=72, seconds=offset)):
        page = logged_in.get(url).content.decode()
        html = logged_in.get(html_url)

    assert ("BAYES_SPAM" in page) is available
    assert ('id="content-gone"' in page) is not available
    assert html.status_code == (200 if available else 404)


def test_the_html_preview_is_sanitised_and_sandboxed(logged_in, customer):
    message = _record(customer, minutes_ago=0)

    response = logged_in.get(reverse("message-html", args=[customer.hosting.pk, message.pk]))

    body = response.content.decode()
    assert "<script" not in body and "onclick" not in body and "x.example" not in body
    assert "Hi" in body
    csp = response["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "sandbox" in csp
    assert response["X-Frame-Options"] == "SAMEORIGIN"


def test_the_action_history_lists_blocks_and_unblocks(logged_in, abuse_blocked):
    logged_in.post(reverse("unblock", args=[abuse_blocked.hosting.pk]), {"confirm": "on"})

    page = logged_in.get(reverse("history", args=[abuse_blocked.hosting.pk])).content.decode()

    assert "Block started" in page and "Mailboxes unblocked" in page


def test_the_account_language_is_used_and_can_be_switched(logged_in, customer):
    account = customer.customer_accounts.get()
    account.language = "it"
    account.save()
    url = reverse("mail-abuse", args=[customer.hosting.pk])

    assert "Controlla il monitoraggio" in logged_in.get(url).content.decode()
    logged_in.post("/i18n/setlang/", {"language": "fr", "next": url})
    assert "Vérifier l’historique" in logged_in.get(url).content.decode()


def test_login_attempts_are_throttled(client, customer):
    for _ in range(5):
        client.post("/accounts/login/", {"username": "marie", "password": "wrong"})

    response = client.post("/accounts/login/", {"username": "marie", "password": "pw-for-tests"})

    assert response.status_code == 429
    assert "Too many failed log-in attempts" in response.content.decode()


def test_the_addresses_list_shows_the_domain_block_when_it_is_the_one_enforced(logged_in, customer):
    from tests.abuse.helpers import website_spam_at

    spam_at(customer.box.address, timezone.now())  # the address's own L-SPAM00
    website_spam_at(customer.box.domain.name, timezone.now(), 30)  # then its domain's L-SPAM11

    page = logged_in.get(reverse("addresses", args=[customer.hosting.pk])).content.decode()

    # contact@ and marie@, each in the triangle's title and its text
    assert page.count("L-SPAM11") == 4 and "L-SPAM00" not in page


@pytest.mark.parametrize("noticed_by", ["the lift job", "the next spam"])
def test_an_expired_block_ends_at_its_own_end_time_whichever_path_notices(
    logged_in, customer, noticed_by
):
    from abuse.models import Block
    from abuse.services import blocks_lift_expired
    from hosting.models import AuditEvent

    spam_at(customer.box.address, timezone.now() - timedelta(hours=2))  # L-SPAM00, 20 min
    block = Block.objects.get(target=customer.box.address)

    if noticed_by == "the lift job":
        blocks_lift_expired()
    else:  # the engine meets the ended block while it evaluates a new spam
        spam_at(customer.box.address, timezone.now())

    block.refresh_from_db()
    assert block.lifted_at == block.ends_at and block.lift_reason == "expired"
    ended = AuditEvent.objects.filter(action="block.expired", subject=customer.box.address)
    assert [e.created_at for e in ended] == [block.ends_at]
    page = logged_in.get(reverse("history", args=[customer.hosting.pk])).content.decode()
    assert page.count("Block ended") == 1


def test_the_email_history_shows_sizes_links_scores_for_72_hours_and_leads_back(
    logged_in, customer
):
    old = _record(customer, minutes_ago=73 * 60, n=1)
    new = _record(customer, minutes_ago=5, n=2)
    url = reverse("tracking", args=[customer.hosting.pk])

    page = logged_in.get(url).content.decode()

    assert "Size" in page
    assert reverse("message", args=[customer.hosting.pk, new.pk]) in page
    assert reverse("message", args=[customer.hosting.pk, old.pk]) not in page
    assert "kept for 72 hours after sending" in page
    from tracking.selectors import encode_cursor

    deeper = logged_in.get(url, {"after": encode_cursor(new)}).content.decode()
    assert "Newest messages" in deeper and "Newest messages" not in page


def test_the_action_history_shows_escalations_and_pages_beyond_its_first_50(logged_in, customer):
    spam_at(customer.box.address, timezone.now(), 20)  # L-SPAM00, then L-SPAM10 replaces it
    for n in range(60):
        AuditEvent.objects.create(
            created_at=timezone.now() - timedelta(days=10, minutes=n),
            actor_kind="system",
            action="mailbox.password_changed",
            hosting=customer.hosting,
            subject=customer.box.address,
        )
    url = reverse("history", args=[customer.hosting.pk])

    first = logged_in.get(url).content.decode()
    second = logged_in.get(url, {"page": "2"}).content.decode()

    assert "Block started (replaces L-SPAM00)" in first
    assert "Older events" in first and "Newer events" in second
    assert logged_in.get(url, {"page": "not-a-number"}).status_code == 200
    # The title is text: the pager is in the page, not in the browser's tab.
    title = first[first.index("<title>") : first.index("</title>")]
    assert "<p" not in title and "<a" not in title and "page 1 of 2" in title


def test_the_action_history_names_the_early_warning_as_such(logged_in, customer):
    spam_at(customer.box.address, timezone.now() - timedelta(days=2), 32)  # 80 % of 40

    page = logged_in.get(reverse("history", args=[customer.hosting.pk])).content.decode()

    row = page[page.index("Early warning e-mailed") :]
    row = row[: row.index("</tr>")]
    assert "32 spam counted; L-SPAM20 at 40" in row and "automatic" in row
    assert "Change by support" not in page


def test_the_current_password_cannot_be_set_again(logged_in, customer):
    from hosting.services import mailbox_set_password

    mailbox_set_password(mailbox=customer.box, password="Old-Long-Secret-1", user=customer)
    url = reverse("mailbox-password", args=[customer.hosting.pk, customer.box.pk])

    response = logged_in.post(
        url, {"password1": "Old-Long-Secret-1", "password2": "Old-Long-Secret-1"}
    )

    assert response.status_code == 400
    assert "not the one this address has now" in response.content.decode()


def test_a_message_to_73_recipients_shows_three_and_folds_the_rest(logged_in, customer):
    from dataclasses import replace

    data = message_data(sender=customer.box.address, sent_at=timezone.now(), queue_id="MANY")
    recipients = [f"client{n:02d}@example.org" for n in range(73)]
    message = message_record(data=replace(data, recipients=recipients)).message

    page = logged_in.get(reverse("message", args=[customer.hosting.pk, message.pk])).content
    page = page.decode()

    folded = page[page.index('<details class="recipients">') :]
    folded = folded[: folded.index("</details>")]
    shown = page[: page.index('<details class="recipients">')]
    assert "client02@example.org" in shown and "client03@example.org" not in shown
    assert "73 recipients in all" in folded and "client72@example.org" in folded
