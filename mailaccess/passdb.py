"""What Dovecot reads from the panel's database: one view, through one read-only role.

The view and the role are made by this app's migrations; `manage.py dovecot_role` gives
the role its password (DOVECOT_DB_PASSWORD) and takes back any right but reading the view.
"""

from __future__ import annotations

ROLE = "lwsmail_dovecot"
VIEW = "mailaccess_passdb"
# The codes Dovecot answers with (the view's reason column), as the pages show them.
HOLD_REASON = "L-HOLD password change required, see the panel"
SUSPENDED_REASON = "L-SUSPENDED mailbox suspended by support, see the panel"
