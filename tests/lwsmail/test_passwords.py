from __future__ import annotations

import warnings

import pytest

from hosting.models import AuditEvent
from hosting.passwords import dovecot_hash, dovecot_verify
from hosting.services import InvalidPassword, mailbox_set_password

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt  # the libc crypt(3) Dovecot itself calls for {BLF-CRYPT}


def test_the_hash_is_a_dovecot_blf_crypt_string():
    stored = dovecot_hash("correct horse battery")

    assert stored.startswith("{BLF-CRYPT}$2y$10$")
    assert len(stored) == len("{BLF-CRYPT}") + 60


def test_libc_crypt_as_dovecot_uses_it_accepts_the_hash():
    stored = dovecot_hash("correct horse battery")
    digest = stored.removeprefix("{BLF-CRYPT}")

    assert crypt.crypt("correct horse battery", digest) == digest
    assert crypt.crypt("wrong horse battery", digest) != digest


def test_verify_accepts_the_password_and_rejects_others():
    stored = dovecot_hash("pässwörd-ünïcode")

    assert dovecot_verify("pässwörd-ünïcode", stored)
    assert not dovecot_verify("password-unicode", stored)
    assert not dovecot_verify("x", "{PLAIN}x")
    assert not dovecot_verify("x", "{BLF-CRYPT}not-a-hash")


@pytest.mark.django_db
def test_changing_a_mailbox_password_stores_only_the_hash_and_is_audited(mailbox):
    mailbox_set_password(mailbox=mailbox, password="a long new secret", user=None)

    assert dovecot_verify("a long new secret", mailbox.password_hash)
    assert "a long new secret" not in mailbox.password_hash
    assert mailbox.password_changed_at is not None
    assert AuditEvent.objects.filter(action="mailbox.password_changed").count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("password", ["short", "box-addr"])
def test_a_weak_mailbox_password_is_refused(mailbox, password):
    if password == "box-addr":
        password = mailbox.address.upper() + "!"
    with pytest.raises(InvalidPassword):
        mailbox_set_password(mailbox=mailbox, password=password, user=None)

    mailbox.refresh_from_db()
    assert mailbox.password_hash == ""
