"""Mailbox password hashes in the form Dovecot reads from its passdb.

BLF-CRYPT (bcrypt) is what `doveadm pw -s BLF-CRYPT` writes and what libxcrypt's
crypt(3) verifies on Debian, so Dovecot can authenticate against our column directly.
"""

from __future__ import annotations

import base64
import binascii
import re

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


# Dovecot's crypt(3)-based schemes, by the prefix of their hash.
CRYPT_FORMS = {
    "BLF-CRYPT": re.compile(r"^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$"),
    "SHA512-CRYPT": re.compile(r"^\$6\$(rounds=\d+\$)?[^$]{1,16}\$[./A-Za-z0-9]{86}$"),
    "SHA256-CRYPT": re.compile(r"^\$5\$(rounds=\d+\$)?[^$]{1,16}\$[./A-Za-z0-9]{43}$"),
    "MD5-CRYPT": re.compile(r"^\$1\$[^$]{1,8}\$[./A-Za-z0-9]{22}$"),
    "ARGON2I": re.compile(r"^\$argon2i\$v=\d+\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$"),
    "ARGON2ID": re.compile(
        r"^\$argon2id\$v=\d+\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$"
    ),
}
# Salted digests: base64 of the digest followed by its salt, at least this many bytes.
SALTED_DIGESTS = {"SSHA512": 64, "SSHA256": 32, "SSHA": 20}
# Schemes that keep the password itself, or none that Dovecot can verify: refused.
CLEAR = {"PLAIN", "CLEARTEXT", "CLEAR", "PLAIN-TRUNC"}
MAX_HASH = 255  # the column's size
SCHEMES = sorted([*CRYPT_FORMS, *SALTED_DIGESTS])


class HashRefused(ValueError):
    """A hash Dovecot could not verify, or one that keeps the password itself, and why."""


def hash_check(value: str) -> str:
    """The hash as stored when Dovecot can verify it, else HashRefused with the reason."""
    match = re.fullmatch(r"\{([A-Z0-9-]+)\}(\S+)", value)
    if match is None:
        raise HashRefused("the hash needs its scheme first, e.g. {SHA512-CRYPT}$6$…")
    scheme, digest = match.groups()
    if scheme in CLEAR:
        raise HashRefused(f"{{{scheme}}} is a clear password, not a hash: refused")
    if len(value) > MAX_HASH:
        raise HashRefused(f"the hash is longer than {MAX_HASH} characters")
    if scheme in CRYPT_FORMS:
        if not CRYPT_FORMS[scheme].fullmatch(digest):
            raise HashRefused(f"not a {{{scheme}}} hash")
    elif scheme in SALTED_DIGESTS:
        try:
            raw = base64.b64decode(digest, validate=True)
        except (binascii.Error, ValueError):
            raise HashRefused(f"a {{{scheme}}} hash is base64") from None
        if len(raw) <= SALTED_DIGESTS[scheme]:
            raise HashRefused(f"a {{{scheme}}} hash is its digest and a salt: too short")
    else:
        raise HashRefused(f"{{{scheme}}} is not a scheme lwsmail takes ({', '.join(SCHEMES)})")
    return value
