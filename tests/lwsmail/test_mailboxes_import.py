"""Mailboxes moved with the hashes they had elsewhere (`manage.py mailboxes_import`): every
usable line imported, every other refused with its number and reason, nothing half-done."""

from __future__ import annotations

import base64
import hashlib
import random
import subprocess
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from hosting.imports import mailboxes_import
from hosting.models import AuditEvent, Mailbox
from hosting.passwords import dovecot_hash
from tests.factories import DomainFactory, MailboxFactory
from tests.harness.common import require_binary

pytestmark = pytest.mark.django_db


def sha512_crypt(password: str, salt: str = "Kx8fQ2mZ") -> str:
    openssl = require_binary("openssl", "openssl")
    out = subprocess.run(
        [openssl, "passwd", "-6", "-salt", salt, password],
        capture_output=True,
        text=True,
        check=True,
    )
    return "{SHA512-CRYPT}" + out.stdout.strip()


def ssha512(password: str, salt: bytes = b"salt-of-8") -> str:
    digest = hashlib.sha512(password.encode() + salt).digest()
    return "{SSHA512}" + base64.b64encode(digest + salt).decode()


def run(tmp_path, text: str) -> tuple[str, str, CommandError | None]:
    path = tmp_path / "mailboxes.txt"
    path.write_text(text)
    out, err = StringIO(), StringIO()
    try:
        call_command("mailboxes_import", str(path), stdout=out, stderr=err)
    except CommandError as exc:
        return out.getvalue(), err.getvalue(), exc
    return out.getvalue(), err.getvalue(), None


def test_it_creates_and_updates_mailboxes_with_hashes_of_any_scheme_and_audits(tmp_path):
    domain = DomainFactory(name="cafe-du-port.fr")
    existing = MailboxFactory(domain=domain, address="bonjour@cafe-du-port.fr")
    lines = [
        "# moved from the old platform",
        f"Contact@Cafe-du-Port.fr {sha512_crypt('Une vieille phrase de passe')}",
        f"bonjour@cafe-du-port.fr {dovecot_hash('Encore une phrase')}",
        "",
        f"compta@cafe-du-port.fr\t{ssha512('Les comptes du port')}",
    ]

    out, err, failed = run(tmp_path, "\n".join(lines) + "\n")

    assert failed is None and err == ""
    assert "2 mailbox(es) created, 1 updated, 0 line(s) refused." in out
    stored = dict(Mailbox.objects.values_list("address", "password_hash"))
    assert stored["contact@cafe-du-port.fr"].startswith("{SHA512-CRYPT}$6$Kx8fQ2mZ$")
    assert stored["compta@cafe-du-port.fr"].startswith("{SSHA512}")
    existing.refresh_from_db()
    assert existing.password_hash.startswith("{BLF-CRYPT}") and existing.password_changed_at
    events = AuditEvent.objects.filter(action="mailbox.password_imported")
    assert sorted(e.data["scheme"] for e in events) == ["BLF-CRYPT", "SHA512-CRYPT", "SSHA512"]


def test_each_unusable_line_is_refused_with_its_number_and_the_rest_imported(tmp_path):
    DomainFactory(name="cafe-du-port.fr")
    good = sha512_crypt("Une vieille phrase de passe")
    lines = [
        f"a@cafe-du-port.fr {good}",  # 1: imported
        "b@cafe-du-port.fr {PLAIN}secret",  # 2
        "c@cafe-du-port.fr $6$nosalt$abc",  # 3: no scheme
        "d@cafe-du-port.fr {NTLM}0123456789abcdef",  # 4: a scheme this import does not take
        f"e@elsewhere.example {good}",  # 5: no such domain here
        f"not-an-address {good}",  # 6
        f"f@cafe-du-port.fr {good} extra",  # 7
        f"a@cafe-du-port.fr {good}",  # 8: twice
        "g@cafe-du-port.fr {SHA512-CRYPT}$6$salt$tooshort",  # 9
        "h@cafe-du-port.fr {SSHA512}bm90IGJhc2U2NCE=",  # 10: too short
        f"i@cafe-du-port.fr {good}",  # 11: imported
    ]

    _out, err, failed = run(tmp_path, "\n".join(lines))

    assert failed is not None and "2 mailbox(es) created, 0 updated, 9 line(s) refused." in str(
        failed
    )
    refused = [int(line.split(":")[0].removeprefix("line ")) for line in err.splitlines()]
    assert refused == [2, 3, 4, 5, 6, 7, 8, 9, 10]
    assert "clear password" in err and "no domain elsewhere.example here" in err
    assert "already given on line 1" in err
    assert sorted(Mailbox.objects.values_list("address", flat=True)) == [
        "a@cafe-du-port.fr",
        "i@cafe-du-port.fr",
    ]


def test_a_file_that_is_not_utf8_or_missing_stops_before_importing_anything(tmp_path):
    DomainFactory(name="cafe-du-port.fr")
    path = tmp_path / "latin1.txt"
    path.write_bytes(
        f"a@cafe-du-port.fr {sha512_crypt('x' * 12)}\n".encode() + b"caf\xe9@cafe-du-port.fr x\n"
    )

    with pytest.raises(CommandError, match="not UTF-8"):
        call_command("mailboxes_import", str(path))
    with pytest.raises(CommandError, match="cannot read"):
        call_command("mailboxes_import", str(tmp_path / "missing.txt"))
    with pytest.raises(CommandError, match="--batch"):
        call_command("mailboxes_import", str(path), "--batch", "0")
    assert not Mailbox.objects.exists()


def test_a_generated_corpus_of_hostile_lines_is_imported_or_refused_never_half_stored():
    DomainFactory(name="cafe-du-port.fr")
    rng = random.Random(25)
    good = sha512_crypt("Une vieille phrase de passe")
    pieces = [
        "a@cafe-du-port.fr",
        "{SHA512-CRYPT}",
        good,
        "{",
        "}",
        "\x00",
        "é",
        "\t",
        " ",
        "$6$",
        "@",
        "x" * 300,
        "{SSHA512}",
        "=",
        "\u202e",
        "'; DROP TABLE lwsmail_mailbox; --",
    ]
    lines = ["".join(rng.choice(pieces) for _ in range(rng.randrange(0, 6))) for _ in range(400)]
    lines += [f"box{n}@cafe-du-port.fr {good}" for n in range(5)]

    result = mailboxes_import(lines=lines, batch_size=7)

    # Each line that is not blank or a comment is imported or refused, exactly once.
    handled = result.created + result.updated + len(result.refused)
    assert handled == sum(1 for x in lines if x.strip() and not x.strip().startswith("#"))
    assert result.created == Mailbox.objects.count() >= 5
    for address, hashed in Mailbox.objects.values_list("address", "password_hash"):
        assert address.endswith("@cafe-du-port.fr") and hashed.startswith("{")
