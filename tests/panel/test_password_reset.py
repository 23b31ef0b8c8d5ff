from __future__ import annotations

import re

import pytest
from django.core import mail

pytestmark = pytest.mark.django_db


def test_a_customer_resets_a_forgotten_password_by_email(client, customer, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

    response = client.post("/accounts/password_reset/", {"email": customer.email})

    assert response.status_code == 302
    assert len(mail.outbox) == 1
    assert mail.outbox[0].subject == "lwsmail: choose a new password"
    assert "within three days" in mail.outbox[0].body
    link = re.search(r"https?://[^/\s]+(/accounts/reset/\S+/)", mail.outbox[0].body).group(1)
    form = client.get(link, follow=True)
    assert form.context["validlink"]
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "An0ther-long-secret", "new_password2": "An0ther-long-secret"},
    )
    assert done.status_code == 302
    login = client.post(
        "/accounts/login/", {"username": "marie", "password": "An0ther-long-secret"}
    )
    assert login.status_code == 302


def test_an_unknown_address_gets_the_same_answer_and_no_mail(client, db, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

    response = client.post("/accounts/password_reset/", {"email": "nobody@example.org"})

    assert response.status_code == 302
    assert mail.outbox == []
