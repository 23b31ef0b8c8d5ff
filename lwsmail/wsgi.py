from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lwsmail.settings")
django_application = get_wsgi_application()

from ingest.wsgi import IngestFastPath  # noqa: E402  (needs the apps loaded)
from mailaccess.wsgi import AuthPolicyFastPath  # noqa: E402

application = AuthPolicyFastPath(IngestFastPath(django_application))
