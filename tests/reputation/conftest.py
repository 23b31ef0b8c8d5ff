from __future__ import annotations

# The API's token fixture, and the platform of the Postfix tests (Postfix, Rspamd,
# policyd, a worker), FBL address included.
from tests.api.conftest import make_api  # noqa: F401
from tests.enforcement.test_postfix_end_to_end import customer, platform  # noqa: F401
