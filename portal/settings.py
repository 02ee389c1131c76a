"""Portcullis settings: every value comes from the environment, read here and only here.

Development defaults are safe and need nothing installed (SQLite under ``var/``, console
email). With ``DEBUG=0`` the missing secrets fail loudly instead of falling back.
"""

from __future__ import annotations

import base64
import hashlib
import sys
from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from portal.logs import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()

DEBUG = env.bool("DEBUG", default=True)

if DEBUG:
    SECRET_KEY = env.str("SECRET_KEY", default="dev-only-insecure-key-change-me-0123456789abcdef")
else:
    SECRET_KEY = env.str("SECRET_KEY", default="")
    if len(SECRET_KEY) < 32:
        raise ImproperlyConfigured("SECRET_KEY must be set (at least 32 characters) when DEBUG=0.")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[SITE_URL])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_filters",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "csp",
    "governance",
    "myaccess",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # First, so every line logged while a request runs carries its id (portal/logs.py).
    "portal.logs.RequestIdMiddleware",
    # A database or broker outage raised by a view: 503 "try again", not a 500 (portal/faults.py).
    "portal.faults.UnavailableMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The browser's Accept-Language; a person's own setting wins (PersonPreferencesMiddleware).
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "governance.middleware.ViewerTimeZoneMiddleware",
    "governance.middleware.PersonPreferencesMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "governance.context_processors.navigation",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
VAR_DIR.mkdir(exist_ok=True)
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while a worker writes; the timeout rides out the
    # short write locks the worker and beat take.
    # IMMEDIATE transactions take the write lock when they begin, so the web, worker and
    # beat processes never read a row, then lose the race to write it.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # A file, not memory, so worker processes started by the tests share the test database;
    # `DATABASE_URL=sqlite://:memory:` (make test-fast: no worker processes) keeps it in memory.
    if DATABASES["default"]["NAME"] != ":memory:":
        DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}
else:
    # A persistent connection serves one request or task after another on the same thread:
    # gunicorn's sync workers and Celery's workers keep one each. The development server
    # (`make run`) starts a thread per request, and each thread's connection would stay open
    # until the garbage collector happens to free it: there, close it after every request.
    _runserver = sys.argv[1:2] == ["runserver"]
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=0 if _runserver else 60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "governance.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# --- Single sign-on (OpenID Connect) and directory sync: README "Sign-in and directory" --
# Without OIDC_ISSUER nothing about single sign-on shows or runs; local accounts always work.
OIDC_ISSUER = env.str("OIDC_ISSUER", default="").rstrip("/")
OIDC_RP_CLIENT_ID = env.str("OIDC_CLIENT_ID", default="")
OIDC_RP_CLIENT_SECRET = env.str("OIDC_CLIENT_SECRET", default="")
OIDC_PROVIDER_NAME = env.str("OIDC_PROVIDER_NAME", default="")
OIDC_RP_SCOPES = env.str("OIDC_SCOPES", default="openid email profile")
OIDC_USERNAME_CLAIM = env.str("OIDC_USERNAME_CLAIM", default="preferred_username")
OIDC_EMAIL_CLAIM = env.str("OIDC_EMAIL_CLAIM", default="email")
OIDC_GROUPS_CLAIM = env.str("OIDC_GROUPS_CLAIM", default="")
OIDC_MEMBER_DOMAINS = env.list("OIDC_MEMBER_DOMAINS", default=[])
# The tenant's own email domains besides the member domains: no connected organization may
# claim them or their subdomains. The demo's people (and DEFAULT_FROM_EMAIL) are at
# portcullis.example.
TENANT_DOMAINS = env.list("TENANT_DOMAINS", default=["portcullis.example"] if DEBUG else [])
OIDC_TIMEOUT = env.float("OIDC_TIMEOUT", default=5.0)
AUTHENTICATION_BACKENDS = [
    # First, so a locked-out username+address is refused before any backend checks a password.
    "portal.lockout.LockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
    *(["governance.identity.oidc.OIDCBackend"] if OIDC_ISSUER else []),
]
LDAP_SYNC = {
    "source": env.str("LDAP_SYNC_SOURCE", default="ldap"),
    "url": env.str("LDAP_SYNC_URL", default=""),
    "bind_dn": env.str("LDAP_SYNC_BIND_DN", default=""),
    "bind_password": env.str("LDAP_SYNC_BIND_PASSWORD", default=""),
    "start_tls": env.bool("LDAP_SYNC_START_TLS", default=False),
    "ca_file": env.str("LDAP_SYNC_CA_FILE", default=""),
    "timeout": env.int("LDAP_SYNC_TIMEOUT", default=10),
    "page_size": env.int("LDAP_SYNC_PAGE_SIZE", default=500),
    "user_base": env.str("LDAP_SYNC_USER_BASE", default=""),
    "user_filter": env.str("LDAP_SYNC_USER_FILTER", default="(objectClass=inetOrgPerson)"),
    "username_attribute": env.str("LDAP_SYNC_USERNAME_ATTRIBUTE", default="uid"),
    "email_attribute": env.str("LDAP_SYNC_EMAIL_ATTRIBUTE", default="mail"),
    "display_name_attribute": env.str("LDAP_SYNC_DISPLAY_NAME_ATTRIBUTE", default="displayName"),
    "manager_attribute": env.str("LDAP_SYNC_MANAGER_ATTRIBUTE", default="manager"),
    "disabled_filter": env.str("LDAP_SYNC_DISABLED_FILTER", default=""),
    "group_base": env.str("LDAP_SYNC_GROUP_BASE", default=""),
    "group_filter": env.str(
        "LDAP_SYNC_GROUP_FILTER", default="(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))"
    ),
    "full_sync_hours": env.int("LDAP_SYNC_FULL_SYNC_HOURS", default=24),
    "max_delete_percent": env.int("LDAP_SYNC_MAX_DELETE_PERCENT", default=50),
}
LDAP_SYNC_INTERVAL_MINUTES = env.int("LDAP_SYNC_INTERVAL_MINUTES", default=15)
# External users whose last assignment ended (per connected organization, these are the defaults).
EXTERNAL_USER_BLOCK_SIGN_IN = env.bool("EXTERNAL_USER_BLOCK_SIGN_IN", default=True)
EXTERNAL_USER_REMOVE_AFTER_DAYS = env.int("EXTERNAL_USER_REMOVE_AFTER_DAYS", default=30)

# --- Sign-in lockout (django-axes): README "Locked accounts" -------------------------------
# Failed password sign-ins are counted per username and client address; at the limit that
# pair is refused for the cool-off time, correct password or not. API tokens never touch this.
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "portal.lockout.locked_out"
AXES_WHITELIST_CALLABLE = "portal.lockout.not_a_password_sign_in"
# Successful sign-ins are not logged by axes (one row per sign-in, nobody reads them).
AXES_DISABLE_ACCESS_LOG = True
AXES_VERBOSE = False

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

LANGUAGE_CODE = "en-us"
# The end-user side (My Access, approvals, emails) ships in these; README "Production".
LANGUAGES = [("en", "English"), ("de", "Deutsch"), ("fr", "Français")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Where collectstatic writes (whitenoise serves it); production: a directory of its own.
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "static")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- Email ----------------------------------------------------------------------------
_email = env.email_url("EMAIL_URL", default="consolemail://" if DEBUG else "smtp://127.0.0.1:25")
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
EMAIL_HOST = _email.get("EMAIL_HOST", "")
EMAIL_PORT = _email.get("EMAIL_PORT") or 25
EMAIL_HOST_USER = _email.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = _email.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = _email.get("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = _email.get("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Portcullis <portcullis@portcullis.example>")

# --- Production hardening (checked by `manage.py check --deploy`) ---------------------
# Over plain http (`make run`, DEBUG on) cookies must travel without TLS; in production
# only over https.
if not DEBUG:
    # "Header=value" of the TLS-terminating proxy (e.g. X-Forwarded-Proto=https); empty when
    # gunicorn faces clients itself, because then anyone could send the header.
    _proxy_ssl_header = env.str("SECURE_PROXY_SSL_HEADER", default="X-Forwarded-Proto=https")
    if _proxy_ssl_header:
        _name, _, _value = _proxy_ssl_header.partition("=")
        if not _value:
            raise ImproperlyConfigured("SECURE_PROXY_SSL_HEADER must look like X-Forwarded-Proto=https.")
        SECURE_PROXY_SSL_HEADER = ("HTTP_" + _name.strip().upper().replace("-", "_"), _value.strip())
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# Pages read the token from the template (hx-headers), never from the cookie.
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

# Content Security Policy (django-csp): scripts and styles only from our own static files,
# no inline code, no eval. htmx is told not to inject its indicator style (base.html).
# The API reference (/api/docs/) relaxes styles and workers on that view only (portal/urls.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# --- Connector secrets and outbound calls: README "Connector secrets and outbound calls" ----
# Fernet keys, comma-separated: the first encrypts, every one decrypts (rotation). With
# DEBUG on and none given, a development key is derived from SECRET_KEY so `make run` needs
# nothing; `check --deploy` fails without them when DEBUG=0 (governance/checks.py).
CONNECTOR_SECRET_KEYS = env.list("CONNECTOR_SECRET_KEYS", default=[])
if DEBUG and not CONNECTOR_SECRET_KEYS:
    CONNECTOR_SECRET_KEYS = [
        base64.urlsafe_b64encode(
            hashlib.sha256(b"portcullis connector secrets:" + SECRET_KEY.encode()).digest()
        ).decode()
    ]
# Outbound calls (connectors, OIDC, directory sync) never reach link-local or cloud-metadata
# addresses; loopback only when allowed (tests and a target on this host); private ranges
# (10/8, 172.16/12, 192.168/16, fc00::/7, 100.64/10) by default, since directories live there.
OUTBOUND_ALLOW_LOOPBACK = env.bool("OUTBOUND_ALLOW_LOOPBACK", default=False)
OUTBOUND_ALLOW_PRIVATE = env.bool("OUTBOUND_ALLOW_PRIVATE", default=True)
OUTBOUND_MAX_RESPONSE_BYTES = env.int("OUTBOUND_MAX_RESPONSE_BYTES", default=5 * 1024 * 1024)
OUTBOUND_MAX_TIMEOUT_SECONDS = env.float("OUTBOUND_MAX_TIMEOUT_SECONDS", default=30.0)

# Seconds a caller is asked to wait (Retry-After) while the database or broker is away.
UNAVAILABLE_RETRY_AFTER = env.int("UNAVAILABLE_RETRY_AFTER", default=5)

# --- Domain rules ---------------------------------------------------------------------
REPROCESS_WINDOW_DAYS = env.int("REPROCESS_WINDOW_DAYS", default=14)
# Expiry reminders go out this many days before the end (rule 6).
EXPIRY_REMINDER_DAYS = (14, 1)
# Delivery: transient errors retry with exponential backoff up to this many attempts.
DELIVERY_MAX_ATTEMPTS = env.int("DELIVERY_MAX_ATTEMPTS", default=6)
DELIVERY_RETRY_BASE_SECONDS = env.float("DELIVERY_RETRY_BASE_SECONDS", default=10.0)
DELIVERY_BATCH_SIZE = env.int("DELIVERY_BATCH_SIZE", default=500)
# "Reprocess all matching": ids per batch, each batch its own transaction.
BULK_REPROCESS_BATCH_SIZE = env.int("BULK_REPROCESS_BATCH_SIZE", default=1000)

# --- Emailed approval links (DESIGN §6) -----------------------------------------------
# On: the signed link also asks the approver to sign in as themselves. Off: the signed,
# single-use link alone authorizes that approver's one decision on that stage.
APPROVAL_LINK_REQUIRES_LOGIN = env.bool("APPROVAL_LINK_REQUIRES_LOGIN", default=True)
# Access reviews recommend "Deny" for people who have not signed in for this many days.
REVIEW_INACTIVE_DAYS = env.int("REVIEW_INACTIVE_DAYS", default=30)

# --- Celery ---------------------------------------------------------------------------
# `/metrics` (Prometheus) answers only these addresses or networks; everyone else gets 404.
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=["127.0.0.1", "::1"])

REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="portcullis")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Publishing only wakes a worker; the database holds the work. A broker outage must not
# block or fail a request, so give up quickly and let the sweeper pick the work up later.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_PUBLISH_RETRY = True
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.5}
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
    "socket_connect_timeout": 2,
    "socket_timeout": 5,
    "visibility_timeout": 3600,
}
if CELERY_BROKER_URL.startswith("filesystem://"):
    # The embedded broker of `make run` without Redis: development only.
    _broker_dir = Path(env.str("CELERY_FILESYSTEM_BROKER_DIR", default=str(VAR_DIR / "broker")))
    (_broker_dir / "queue").mkdir(parents=True, exist_ok=True)
    (_broker_dir / "processed").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
    }

CELERY_BEAT_SCHEDULE = {
    "sweep-deliveries": {"task": "governance.tasks.sweep_deliveries", "schedule": timedelta(minutes=1)},
    "start-scheduled": {"task": "governance.tasks.start_scheduled", "schedule": timedelta(minutes=1)},
    # Every minute: an ended assignment must not show Active for long (issue 14). The job
    # reads only due rows, through the (state, end_at) index, so an idle minute costs one query.
    "expire-assignments": {"task": "governance.tasks.expire_assignments", "schedule": timedelta(minutes=1)},
    "send-expiry-reminders": {"task": "governance.tasks.send_expiry_reminders", "schedule": timedelta(hours=1)},
    "time-out-approvals": {"task": "governance.tasks.time_out_approvals", "schedule": timedelta(minutes=15)},
    "remind-approvers": {"task": "governance.tasks.remind_approvers", "schedule": timedelta(minutes=15)},
    "extension-calls": {"task": "governance.tasks.extension_calls_sweep", "schedule": timedelta(minutes=1)},
    "access-reviews": {"task": "governance.tasks.run_access_reviews", "schedule": timedelta(minutes=5)},
    "check-drift": {"task": "governance.tasks.check_drift", "schedule": crontab(minute=17)},
    "sync-directory": {
        "task": "governance.tasks.sync_directory",
        "schedule": timedelta(minutes=max(LDAP_SYNC_INTERVAL_MINUTES, 1)),
    },
    "external-user-lifecycle": {"task": "governance.tasks.external_user_lifecycle", "schedule": timedelta(hours=1)},
    "purge-form-submissions": {"task": "governance.tasks.purge_form_submissions", "schedule": timedelta(hours=1)},
}
# System health (governance/services/health.py): workers and beat write a heartbeat this
# often and count as dead after three missed; grants due this long, or email unsent this
# long, turn the page red.
HEARTBEAT_SECONDS = env.float("HEARTBEAT_SECONDS", default=15.0)
HEALTH_GRANT_MINUTES = env.int("HEALTH_GRANT_MINUTES", default=15)
HEALTH_OUTBOX_MINUTES = env.int("HEALTH_OUTBOX_MINUTES", default=30)
# /healthz's broker check: a broker that refuses is asked once more after this many seconds
# (so an answer of "down" takes about this long). The tests take the broker down on purpose
# many times and shorten it.
HEALTH_BROKER_TIMEOUT_SECONDS = env.float("HEALTH_BROKER_TIMEOUT_SECONDS", default=2.0)
# Beat's own bookkeeping (last run of each entry); production: /var/lib/portcullis/.
CELERY_BEAT_SCHEDULE_FILENAME = env.str("CELERY_BEAT_SCHEDULE_FILENAME", default=str(VAR_DIR / "celerybeat-schedule"))

# --- REST API -------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "governance.api.schema.GraphAutoSchema",
    # Calls per API token (all web processes together: the counters live in Redis).
    "DEFAULT_THROTTLE_RATES": {"api_token": env.str("API_RATE_LIMIT", default="600/minute")},
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["governance.api.parsers.GraphJSONParser"],
    "EXCEPTION_HANDLER": "governance.api.errors.graph_exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Portcullis entitlement management API",
    "DESCRIPTION": (
        "A subset of Microsoft Graph v1.0's entitlement-management API: same paths and JSON shapes, "
        "so Graph clients work by changing the base URL and the token. "
        "Authenticate with `Authorization: Bearer <token>` (`manage.py create_api_client`)."
    ),
    "VERSION": "1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SCHEMA_PATH_PREFIX": "/v1.0",
    # Graph's /$count segments, described as what they are (governance/api/schema.py).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "governance.api.schema.count_segments",
    ],
    "COMPONENT_NO_READ_ONLY_REQUIRED": True,
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
}

# --- Logs: README "Production" (portal/logs.py) -----------------------------------------
# JSON lines with a request id on each (web request → the tasks it enqueued); text for
# `make run` (bin/run sets LOG_FORMAT=text). The workers log through this too.
LOG_FORMAT = env.str("LOG_FORMAT", default="text" if DEBUG else "json")
if LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured("LOG_FORMAT is json or text.")
LOGGING = logging_config(LOG_FORMAT, env.str("LOG_LEVEL", default="INFO"))
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
