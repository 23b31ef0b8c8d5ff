"""Settings for lwsmail, read from the environment (see .env.example)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env.str(
    "DJANGO_SECRET_KEY",
    # Only a development key may be implicit; production must set its own.
    default="dev-insecure-0w2c9x7k1m8q4r6t3y5u0i9o8p7a6s5d4f3g2h1j"
    if DEBUG
    else environ.Env.NOTSET,
)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
# Names (and addresses) by which the stack's own services call the panel's machine
# endpoints over the private network: Rspamd's pushes, Prometheus, health checks. They are
# allowed hosts, and those endpoints answer them over plain HTTP (hosting.middleware).
# docker-compose.yml sets "web" and LWSMAIL_BIND_ADDRESS.
INTERNAL_HOSTS = [h.lower() for h in env.list("DJANGO_INTERNAL_HOSTS", default=[])]
ALLOWED_HOSTS += [h for h in INTERNAL_HOSTS if h not in ALLOWED_HOSTS]
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")
# The provider's support page or contact address (https://… or mailto:…), linked from the
# Mail Abuse page when an unblock is refused; empty: no link.
SUPPORT_URL = env.str("SUPPORT_URL", default="")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "axes",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    # The project's apps, floor by floor (docs/architecture.md): each imports only those
    # listed before it.
    "hosting",
    "tracking",
    "webhooks",
    "enforcement",
    "abuse",
    "limits",
    "mailaccess",
    "reputation",
    "ingest",
    "panel",
    "api",
    "ops",
    "demo",
]

MIDDLEWARE = [
    # First: every later reader of the client address or the scheme sees the checked one.
    "hosting.middleware.TrustedProxyMiddleware",
    # Django's SecurityMiddleware, but internal calls are not sent to HTTPS (hosting.checks
    # stands in for its security.W001, which looks for Django's by name).
    "hosting.middleware.InternalAwareSecurityMiddleware",
    # Rspamd's ingest URLs stop here: nothing below is for a machine's POST.
    "hosting.middleware.IngestShortcutMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "hosting.middleware.AccountLanguageMiddleware",
    # Last, as django-axes asks: it turns a lockout into the lockout page.
    "axes.middleware.AxesMiddleware",
]

SILENCED_SYSTEM_CHECKS = ["security.W001"]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Login throttling: 5 failures for one username from one address lock it for 15 minutes.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_LOCKOUT_TEMPLATE = "registration/locked.html"
AXES_RESET_ON_SUCCESS = True
# The client address is REMOTE_ADDR, which TrustedProxyMiddleware has already set from
# X-Forwarded-For when, and only when, the request came through a trusted proxy.
AXES_CLIENT_IP_CALLABLE = "hosting.access.client_ip"
# Networks of the reverse proxies in front of the panel (e.g. 127.0.0.1/32 for a TLS proxy
# on the same host). Empty: X-Forwarded-For and X-Forwarded-Proto are never believed.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])

# Nothing from elsewhere: no CDN, no inline script. The message preview is stricter still.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "frame-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

ROOT_URLCONF = "lwsmail.urls"
WSGI_APPLICATION = "lwsmail.wsgi.application"
ASGI_APPLICATION = "lwsmail.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": env.db_url("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/lwsmail"),
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")

# SMTP policy service: block state kept in Redis (off only for a panel run without Redis).
POLICY_BLOCKSTATE_ENABLED = env.bool("POLICY_BLOCKSTATE_ENABLED", default=True)
# Redis or PostgreSQL unreachable: True lets mail through (DUNNO) and logs; False defers it.
POLICYD_FAIL_OPEN = env.bool("POLICYD_FAIL_OPEN", default=True)
# Idle connections are closed after this many seconds (Postfix closes its own after 300 s
# by default, smtpd_policy_service_max_idle, and reconnects when it needs to ask).
POLICYD_IDLE_TIMEOUT = env.float("POLICYD_IDLE_TIMEOUT", default=600.0)
# At this many connections the longest-idle one is closed to make room for a new one.
POLICYD_MAX_CONNECTIONS = env.int("POLICYD_MAX_CONNECTIONS", default=1000)
# Only these client networks may ask (the mail servers); others are closed at once.
# The policy services the operations dashboard asks (host:port, comma-separated; empty:
# none checked). Their POLICYD_ALLOWED_NETWORKS must include the panel's address.
POLICYD_PROBE_ADDRESSES = env.list("POLICYD_PROBE_ADDRESSES", default=[])
# How often the policy service adds its answer counts and latencies to the metrics.
POLICYD_STATS_SECONDS = env.float("POLICYD_STATS_SECONDS", default=5.0)
POLICYD_ALLOWED_NETWORKS = env.list(
    "POLICYD_ALLOWED_NETWORKS",
    default=["127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"],
)

# Ingestion: Rspamd's metadata_exporter pushes with these basic-auth credentials.
INGEST_USERNAME = env.str("INGEST_USERNAME", default="rspamd")
INGEST_PASSWORD = env.str("INGEST_PASSWORD", default="")
INGEST_MAX_BYTES = env.int("INGEST_MAX_BYTES", default=50 * 1024 * 1024)
# The Celery queue this web process puts ingest events on (one per worker host, say).
INGEST_QUEUE = env.str("INGEST_QUEUE", default="celery")
# A drain under steady load waits this long between small batches, so that each batch's
# fixed cost (a dozen statements) is shared by more messages (ingest_events_drain).
INGEST_DRAIN_LINGER_MS = env.int("INGEST_DRAIN_LINGER_MS", default=100)
# The Redis stream (on REDIS_URL) Rspamd appends messages to when started with
# --var=LWSMAIL_INGEST_STREAM=<this>, and `manage.py ingest_stream` records (ingest/stream.py).
INGEST_STREAM = env.str("INGEST_STREAM", default="lwsmail:ingest:stream")
RSPAMD_URL = env.str("RSPAMD_URL", default="http://127.0.0.1:11333")
# What the receivers say (reputation/). The key Rspamd signs each message's X-LWS-Ref with
# (--var=LWSMAIL_REFERENCE_KEY): complaints are matched by it first. Empty: by Message-ID
# and queue id only.
MESSAGE_REFERENCE_KEY = env.str("MESSAGE_REFERENCE_KEY", default="")
# Largest feedback report taken (fbl_receive, POST /api/v1/complaints/).
FBL_MAX_BYTES = env.int("FBL_MAX_BYTES", default=10 * 1024 * 1024)
# The resolver the blocklist monitor asks ("ip" or "ip:port"; empty: the system's). Spamhaus
# refuses public resolvers (127.255.255.x answers, reported as errors): use your own.
DNSBL_RESOLVER = env.str("DNSBL_RESOLVER", default="")
DNSBL_TIMEOUT = env.float("DNSBL_TIMEOUT", default=5.0)
# Lookups in flight at once: no storm on the resolver however many addresses and zones.
DNSBL_CONCURRENCY = env.int("DNSBL_CONCURRENCY", default=8)
RSPAMD_TIMEOUT = env.float("RSPAMD_TIMEOUT", default=30.0)

# The provider's REST API (api/): token authentication, a scope per endpoint, cursor
# pagination, JSON only, and its OpenAPI document at /api/v1/schema/.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.auth.TokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["api.auth.HasScope"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "lwsmail API",
    "DESCRIPTION": "Hostings, blocks, unblocks and sent messages for the provider's systems.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    # /api/v1/docs/: Swagger UI from the panel's own static files, its script a file of its
    # own (the split view), so the Content-Security-Policy stays 'self'.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"tryItOutEnabled": False},
}

# Prometheus's /metrics: from these networks, or anywhere with "Authorization: Bearer
# <METRICS_TOKEN>" (empty: networks only). The address is the one TrustedProxyMiddleware checked.
METRICS_ALLOWED_NETWORKS = env.list("METRICS_ALLOWED_NETWORKS", default=["127.0.0.0/8", "::1/128"])
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

# Webhooks (webhooks/): how long a receiver may take to answer, how long a delivery is
# retried, and how long finished deliveries stay visible in the admin.
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)
WEBHOOK_RETRY_HOURS = env.float("WEBHOOK_RETRY_HOURS", default=24.0)
WEBHOOK_KEEP_DAYS = env.int("WEBHOOK_KEEP_DAYS", default=30)
# Webhooks go to public addresses only (webhooks/destinations.py): loopback, private,
# link-local, multicast and reserved ones are refused unless inside one of these networks.
WEBHOOK_ALLOWED_NETWORKS = env.list("WEBHOOK_ALLOWED_NETWORKS", default=[])

# Dovecot reads the mailbox passwords through a read-only role (mailaccess/passdb.py);
# `manage.py dovecot_role` gives it this password. Empty: the command refuses to run.
DOVECOT_DB_PASSWORD = env.str("DOVECOT_DB_PASSWORD", default="")
# Dovecot's auth policy (/api/authpolicy/) answers only "Authorization: Bearer <this>"
# (auth_policy_server_api_header); empty: the endpoint is off (404).
AUTHPOLICY_TOKEN = env.str("AUTHPOLICY_TOKEN", default="")
# Days every login attempt stays in the access log (whole weeks are dropped past it).
ACCESS_LOG_DAYS = env.int("ACCESS_LOG_DAYS", default=90)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
# Logging out returns to the panel's own login page (not the admin's "Logged out").
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("fr", "Français"), ("it", "Italiano")]
LOCALE_PATHS = [BASE_DIR / "locale"]
FORMAT_MODULE_PATH = ["lwsmail.formats"]
TIME_ZONE = env.str("TIME_ZONE", default="Europe/Paris")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Security: secure by default, relaxed only where DEBUG says we are on a laptop.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
# Container health checks call it over plain HTTP from inside.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
# The directive alone submits nothing: listing still needs a request at hstspreload.org.
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="127.0.0.1")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="lwsmail <no-reply@localhost>")
EMAIL_MESSAGE_ID_DOMAIN = env.str("EMAIL_MESSAGE_ID_DOMAIN", default="lwsmail.invalid")
# Days of message history kept (docs/rules.md "Retention"); `manage.py check` refuses fewer
# than the policy table's longest window plus 10 days.
MESSAGE_HISTORY_DAYS = env.int("MESSAGE_HISTORY_DAYS", default=400)
# Who is alerted of a compromise hold; empty: every active staff user with an e-mail.
STAFF_ALERT_EMAILS = env.list("STAFF_ALERT_EMAILS", default=[])

# Celery: JSON only, late acks so that a worker killed mid-task loses nothing.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    # The demo's broker (make run creates its folders); never used in production.
    _queue_dir = env.path("CELERY_FILESYSTEM_DIR", default=BASE_DIR / "var" / "broker")
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(Path(_queue_dir) / "out"),
        "data_folder_out": str(Path(_queue_dir) / "out"),
        "processed_folder": str(Path(_queue_dir) / "processed"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Redis re-delivers an unacknowledged task after this long: longer than any task runs.
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
        "socket_connect_timeout": 2,
        "socket_timeout": 5,
    }
# The ingest endpoint has stored the event before it queues the task: with the broker down
# it must answer quickly (the recovery sweep queues the task later), not retry for long.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = TIME_ZONE
# Each beat entry expires before its next run, so a backlog never piles up duplicates.
BEAT_LIFT_EXPIRED_SECONDS = env.int("BEAT_LIFT_EXPIRED_SECONDS", default=30)
BEAT_SWEEP_CONTENT_SECONDS = env.int("BEAT_SWEEP_CONTENT_SECONDS", default=600)
CELERY_BEAT_SCHEDULE = {
    "lift-expired-blocks": {
        "task": "abuse.tasks.lift_expired_blocks",
        "schedule": timedelta(seconds=BEAT_LIFT_EXPIRED_SECONDS),
        "options": {"expires": BEAT_LIFT_EXPIRED_SECONDS * 0.8},
    },
    "requeue-ingest-events": {
        "task": "ingest.tasks.requeue_ingest_events",
        "schedule": timedelta(seconds=60),
        "options": {"expires": 50},
    },
    # Heals any update Redis missed while it was down (PostgreSQL is the truth).
    "rebuild-block-state": {
        "task": "abuse.tasks.rebuild_block_state",
        "schedule": timedelta(seconds=300),
        "options": {"expires": 240},
    },
    # New mailboxes and uids, and anything Redis missed, reach the limits it holds.
    "rebuild-sending-limits": {
        "task": "limits.tasks.rebuild_limits",
        "schedule": timedelta(seconds=300),
        "options": {"expires": 240},
    },
    # Hard-bounce rates over 7 days: the customer warned and staff alerted (abuse/bounces.py).
    "issue-bounce-warnings": {
        "task": "abuse.tasks.issue_bounce_warnings",
        "schedule": timedelta(hours=1),
        "options": {"expires": 3000},
    },
    # Complaint rates over 30 days: the customer warned and staff alerted (reputation/).
    "issue-complaint-warnings": {
        "task": "reputation.tasks.issue_complaint_warnings",
        "schedule": timedelta(hours=1),
        "options": {"expires": 3000},
    },
    # Each outbound address in each DNS blocklist (reputation/blocklists.py).
    "check-blocklists": {
        "task": "reputation.tasks.check_blocklists",
        "schedule": timedelta(minutes=15),
        "options": {"expires": 600},
    },
    "expire-message-history": {
        "task": "abuse.tasks.expire_message_history",
        "schedule": timedelta(hours=1),
        "options": {"expires": 3000},
    },
    # Holds the policy service started whose record task was lost; holds Redis lost.
    "sync-compromise-holds": {
        "task": "limits.tasks.sync_holds",
        "schedule": timedelta(seconds=60),
        "options": {"expires": 50},
    },
    # The usual hourly volume of each mailbox, which compromise detection compares with.
    "compute-mailbox-baselines": {
        "task": "limits.tasks.compute_baselines",
        "schedule": timedelta(hours=6),
        "options": {"expires": 3600},
    },
    # Suspension e-mails whose task was lost or gave up (block_notify sends each once).
    "notify-pending-blocks": {
        "task": "abuse.tasks.notify_pending_blocks",
        "schedule": timedelta(seconds=600),
        "options": {"expires": 480},
    },
    # The coming weeks' and hours' partitions of the message store (tracking/partitions.py).
    "ensure-partitions": {
        "task": "tracking.tasks.ensure_partitions",
        "schedule": timedelta(hours=1),
        "options": {"expires": 3000},
    },
    "sweep-message-content": {
        "task": "tracking.tasks.sweep_message_content",
        "schedule": timedelta(seconds=BEAT_SWEEP_CONTENT_SECONDS),
        "options": {"expires": BEAT_SWEEP_CONTENT_SECONDS * 0.8},
    },
    # Webhook deliveries whose task was lost (each attempt queues the next itself).
    "retry-webhooks": {
        "task": "webhooks.tasks.retry_webhooks",
        "schedule": timedelta(seconds=60),
        "options": {"expires": 50},
    },
    # limit.reached from the refusals the policy service and Rspamd note in Redis.
    "emit-limits-reached": {
        "task": "limits.tasks.emit_limits_reached",
        "schedule": timedelta(seconds=60),
        "options": {"expires": 50},
    },
    "purge-webhook-deliveries": {
        "task": "webhooks.tasks.purge_webhook_deliveries",
        "schedule": timedelta(hours=6),
        "options": {"expires": 3600},
    },
    # The logins Dovecot reported that no worker recorded yet (each report queues one when
    # the queue was empty), and the access log's weekly partitions.
    "record-login-attempts": {
        "task": "mailaccess.tasks.record_attempts",
        "schedule": timedelta(seconds=5),
        "options": {"expires": 4},
    },
    "maintain-access-log": {
        "task": "mailaccess.tasks.maintain_access_log",
        "schedule": timedelta(hours=1),
        "options": {"expires": 3000},
    },
    # Mailboxes idle for 90 days: warned 7 days before, then suspended.
    "sweep-inactive-mailboxes": {
        "task": "mailaccess.tasks.sweep_inactive_mailboxes",
        "schedule": timedelta(hours=1),
        "options": {"expires": 3000},
    },
    # The brute-force defence's numbers, again (staff's edits publish at once).
    "publish-login-defence": {
        "task": "mailaccess.tasks.publish_login_defence",
        "schedule": timedelta(minutes=5),
        "options": {"expires": 240},
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
