from __future__ import annotations

from tests.panel.conftest import customer, logged_in  # noqa: F401 (the panel's marie)
