"""Mailbox password hashes in the form Dovecot reads from its passdb.

BLF-CRYPT (bcrypt) is what `doveadm pw -s BLF-CRYPT` writes and what libxcrypt's
crypt(3) verifies on Debian, so Dovecot can authenticate against our column directly.
"""

from __future__ import annotations

import bcrypt

SCHEME = "{BLF-CRYPT}"
ROUNDS = 10


def dovecot_hash(password: str) -> str:
    """Hash a clear-text mailbox password as Dovecot's {BLF-CRYPT}."""
    digest = bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds=ROUNDS, prefix=b"2b"))
    # Dovecot itself writes the $2y$ prefix; bcrypt and libxcrypt treat it as $2b$.
    return SCHEME + "$2y$" + digest.decode("ascii")[4:]


def dovecot_verify(password: str, stored: str) -> bool:
    """Whether `password` matches a {BLF-CRYPT} hash from `dovecot_hash`."""
    if not stored.startswith(SCHEME):
        return False
    digest = stored[len(SCHEME) :]
    try:
        return bcrypt.checkpw(password.encode("utf-8"), digest.encode("ascii"))
    except ValueError:
        return False
