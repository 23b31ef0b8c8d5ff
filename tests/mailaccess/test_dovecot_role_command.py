from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from mailaccess.passdb import ROLE


@pytest.mark.django_db(transaction=True)
def test_dovecot_role_refuses_to_run_without_a_password(settings):
    settings.DOVECOT_DB_PASSWORD = ""
    with pytest.raises(CommandError, match="DOVECOT_DB_PASSWORD is not set"):
        call_command("dovecot_role")


@pytest.mark.django_db(transaction=True)
def test_dovecot_role_refuses_a_short_password(settings):
    settings.DOVECOT_DB_PASSWORD = "short"
    with pytest.raises(CommandError, match="at least 16 characters"):
        call_command("dovecot_role")


@pytest.mark.django_db(transaction=True)
def test_dovecot_role_says_what_it_did(settings, capsys):
    settings.DOVECOT_DB_PASSWORD = "dovecot-role-password-for-tests"
    call_command("dovecot_role")
    assert f"{ROLE} may log in and read mailaccess_passdb, nothing else." in capsys.readouterr().out
