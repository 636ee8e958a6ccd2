"""hwadmin settings: every value comes from the environment, with defaults that
run on a laptop (SQLite and an embedded, file-based Celery broker under var/).

Production sets DATABASE_URL (PostgreSQL), CELERY_BROKER_URL (Redis),
SECRET_KEY and ALLOWED_HOSTS; DEBUG is off unless DEBUG=1, and with it off the
HTTPS protections below are on. The README lists every variable.
"""

import os
import warnings
from datetime import timedelta
from pathlib import Path

import dj_database_url

# Models and tokenizers load from local directories only: never reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("HWADMIN_VAR_DIR", BASE_DIR / "var"))


def env_bool(name, default):
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name, default):
    value = os.environ.get(name)
    return default if value in (None, "") else int(value)


def env_float(name, default):
    value = os.environ.get(name)
    return default if value in (None, "") else float(value)


def env_list(name, default):
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def env_rate(name, default):
    """A DRF throttle rate such as 60/min (periods: s, sec, m, min, h, hour, d, day)."""
    value = os.environ.get(name, "").strip() or default
    count, _, period = value.partition("/")
    if not (count.isascii() and count.isdigit() and int(count) > 0) or period not in {
        "s",
        "sec",
        "second",
        "m",
        "min",
        "minute",
        "h",
        "hour",
        "d",
        "day",
    }:
        raise RuntimeError(f"{name}={value!r}: give a rate such as 60/min (requests per s, min, hour or day)")
    return value


# Off unless asked for: a debug page shows settings and request data to anyone (scripts/demo sets DEBUG=1).
DEBUG = env_bool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise RuntimeError("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# --- HTTPS and browser protections --------------------------------------------
# With DEBUG off every one is on (`manage.py check --deploy` gives no warning); each
# has an environment variable of the same name (README, "Configuration").
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 365 * 24 * 3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = env_bool("SECURE_CONTENT_TYPE_NOSNIFF", True)
SECURE_REFERRER_POLICY = os.environ.get("SECURE_REFERRER_POLICY", "same-origin")
X_FRAME_OPTIONS = os.environ.get("X_FRAME_OPTIONS", "DENY")
# Behind a TLS-terminating proxy: the header it sets on HTTPS requests, "X-Forwarded-Proto"
# (value https) or "Header-Name=value". Only set it when the proxy always sets or strips it.
SECURE_PROXY_SSL_HEADER = None
if os.environ.get("SECURE_PROXY_SSL_HEADER", "").strip():
    _header, _, _value = (part.strip() for part in os.environ["SECURE_PROXY_SSL_HEADER"].partition("="))
    if not _header.replace("-", "").replace("_", "").isalnum():
        raise RuntimeError(
            f"SECURE_PROXY_SSL_HEADER={os.environ['SECURE_PROXY_SSL_HEADER']!r}: give a header name such as "
            "X-Forwarded-Proto, optionally with =value (default https)"
        )
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _header.upper().replace("-", "_"), _value or "https")
# Content-Security-Policy of every response (hwadmin.csp.ContentSecurityPolicyMiddleware): no inline
# script anywhere; inline style attributes only (style-src-attr), never <style> blocks.
CONTENT_SECURITY_POLICY = os.environ.get(
    "CONTENT_SECURITY_POLICY",
    "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "style-src-attr 'unsafe-inline'",
            "img-src 'self' data:",
            "object-src 'none'",
            "base-uri 'self'",
            "frame-ancestors 'none'",
            "form-action 'self'",
        ]
    ),
)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "axes",
    "moderation",
    "plm",
    "attributes",
]

MIDDLEWARE = [
    # First: times every request for /metrics (hwadmin_http_request_duration_seconds, by view).
    "moderation.metrics.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "hwadmin.csp.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # Django's LocaleMiddleware (language cookie, Accept-Language, LANGUAGE_CODE), except that /api/
    # answers in English unless the request's Accept-Language asks otherwise (hwadmin/i18n.py).
    "hwadmin.i18n.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: turns a locked-out login into the lockout page (429).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "hwadmin.urls"
WSGI_APPLICATION = "hwadmin.wsgi.application"

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
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'hwadmin.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # (its folder is made when the app starts, by moderation.apps.make_working_folders, not here)
    # Several processes (web, worker) share the file: wait for locks, don't fail.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 30
    DATABASES["default"]["CONN_MAX_AGE"] = 0

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

# Reviewer pages default to Korean; English is one click away (the header's switch, remembered in the
# language cookie). Translations: locale/ko/LC_MESSAGES/django.po (README, "The reviewer queue").
LANGUAGE_CODE = os.environ.get("LANGUAGE_CODE", "ko")
LANGUAGES = [("ko", "한국어"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = os.environ.get("TIME_ZONE", "Asia/Seoul")
USE_I18N = True
# Numbers with the locale's thousands separator (12,345); dates and times in the locale's formats.
USE_THOUSAND_SEPARATOR = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
# The web process serves /static/ itself (WhiteNoise), from STATIC_ROOT when `collectstatic` has filled it,
# and from the apps' static folders in any case (the queue's script and the pages' CSS live there).
WHITENOISE_USE_FINDERS = True
if not DEBUG:
    # `collectstatic` (make serve runs it) also writes gzip and Brotli copies, which WhiteNoise serves.
    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
    }
# STATIC_ROOT exists only after an optional `collectstatic`; its absence is not worth a warning.
warnings.filterwarnings("ignore", message=r"No directory at: .*static", category=UserWarning)
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/queue/"
LOGOUT_REDIRECT_URL = "login"

# --- Logins: lockout after repeated failures (django-axes) --------------------
# Every login form (/login/, /admin/login/) goes through moderation.logins.LoginLockoutBackend
# first: after HWADMIN_LOGIN_FAILURE_LIMIT failures a client is refused, right password or not,
# for HWADMIN_LOGIN_COOLOFF_MINUTES (the lockout page, HTTP 429). `manage.py axes_reset` unlocks.
AUTHENTICATION_BACKENDS = [
    "moderation.logins.LoginLockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Attempts live in the database (axes' AccessAttempt rows, visible in the admin): a lockout
# survives a restart and holds across every web process, whatever cache is configured.
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = env_int("HWADMIN_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_float("HWADMIN_LOGIN_COOLOFF_MINUTES", 15))
if AXES_FAILURE_LIMIT < 1 or AXES_COOLOFF_TIME <= timedelta(0):
    raise RuntimeError("HWADMIN_LOGIN_FAILURE_LIMIT and HWADMIN_LOGIN_COOLOFF_MINUTES must be above 0")


def _lockout_parameters(name, default):
    """ "username+ip_address,ip_address": lock a user name from one address, and an address."""
    groups = []
    for group in env_list(name, default):
        parts = [part.strip() for part in group.split("+")]
        if not parts or not set(parts) <= {"username", "ip_address", "user_agent"}:
            raise RuntimeError(
                f"{name}: {group!r} is not a lockout parameter; use username, ip_address or user_agent, "
                "joined with + for a combination, e.g. username+ip_address,ip_address"
            )
        groups.append(parts[0] if len(parts) == 1 else parts)
    if not groups:
        raise RuntimeError(f"{name} is empty; e.g. username+ip_address,ip_address")
    return groups


AXES_LOCKOUT_PARAMETERS = _lockout_parameters("HWADMIN_LOGIN_LOCKOUT_PARAMETERS", ["username+ip_address", "ip_address"])
AXES_RESET_ON_SUCCESS = True
# The lockout page (templates/registration/locked_out.html), 429 with Retry-After.
AXES_LOCKOUT_CALLABLE = "moderation.logins.lockout_response"
AXES_HTTP_RESPONSE_CODE = 429
# The client address, as the API throttles see it (HWADMIN_TRUSTED_PROXIES).
AXES_CLIENT_IP_CALLABLE = "moderation.logins.client_ip"
# axes' own log lines mask user names and addresses; moderation.logins logs failed logins with
# both on the hwadmin.logins logger. No start-up banner on every manage.py command.
AXES_VERBOSE = False

# --- Cache: API throttle counters --------------------------------------------
# Production: CACHE_URL (or REDIS_CACHE_URL) = redis://host:6379/1, shared by every web process.
# Default: files under var/cache, shared by every process on this machine.
CACHE_URL = os.environ.get("CACHE_URL", "").strip() or os.environ.get("REDIS_CACHE_URL", "").strip()
if CACHE_URL:
    if not CACHE_URL.startswith(("redis://", "rediss://", "unix://")):
        raise RuntimeError(f"CACHE_URL={CACHE_URL!r}: give a Redis URL such as redis://host:6379/1")
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CACHE_URL,
            "KEY_PREFIX": "hwadmin",
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
            "OPTIONS": {"MAX_ENTRIES": 10000},
        }
    }

# Request size: the ingest API refuses bodies above this with a 413.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("HWADMIN_MAX_REQUEST_BYTES", 10 * 1024 * 1024)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [
        "moderation.api.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "moderation.api.errors.exception_handler",
    "DEFAULT_PAGINATION_CLASS": None,
    "UNICODE_JSON": True,
    # Rate limits (moderation/api/throttling.py), counted in CACHES["default"]; a 429 says when to retry.
    # Anonymous callers per address, users and tokens per user, the public read path per address.
    "DEFAULT_THROTTLE_CLASSES": ["moderation.api.throttling.AnonThrottle", "moderation.api.throttling.UserThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env_rate("HWADMIN_THROTTLE_ANON", "60/min"),
        "user": env_rate("HWADMIN_THROTTLE_USER", "1200/min"),
        "public_read": env_rate("HWADMIN_THROTTLE_PUBLIC_READ", "120/min"),
    },
    # Proxies in front of the web process that append to X-Forwarded-For. 0: the client address is
    # REMOTE_ADDR and the header is ignored (DRF's default would trust a client's own header).
    "NUM_PROXIES": env_int("HWADMIN_TRUSTED_PROXIES", 0),
}

SPECTACULAR_SETTINGS = {
    "TITLE": "hwadmin API",
    "DESCRIPTION": "Review ingestion, public reads, and the moderation queue.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # POST /api/v1/actions documents one body per action; each names its `action` values.
    "ENUM_NAME_OVERRIDES": {
        "BlindActionEnum": "moderation.api.serializers.BLIND_ACTIONS",
        "KeepActionEnum": "moderation.api.serializers.KEEP_ACTIONS",
        "UnblindActionEnum": "moderation.api.serializers.UNBLIND_ACTIONS",
        "UndoActionEnum": "moderation.api.serializers.UNDO_ACTIONS",
        "ThresholdActionEnum": "moderation.api.serializers.THRESHOLD_ACTIONS",
        "ResultActionEnum": "moderation.api.serializers.RESULT_ACTIONS",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "moderation.api.schema.require_request_bodies",
    ],
}

# --- Celery -----------------------------------------------------------------
# Default: kombu's filesystem transport under var/broker, so a laptop needs no
# Redis. Production: CELERY_BROKER_URL=redis://host:6379/0. (The transport ignores the
# host; naming one keeps kombu from warning "No hostname was supplied" at every connection.)
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://localhost/")
BROKER_DIR = VAR_DIR / "broker"
if CELERY_BROKER_URL.startswith("filesystem"):
    # (the folders are made when the app starts, by moderation.apps.make_working_folders, not here)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "out"),
        "data_folder_out": str(BROKER_DIR / "out"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
else:
    # How long an unacknowledged task waits before the broker hands it to
    # another worker (a worker killed mid-task loses nothing).
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env_int("HWADMIN_BROKER_VISIBILITY_TIMEOUT", 3600),
        # How often a worker looks for such abandoned tasks (seconds).
        "unacked_restore_interval": env_int("HWADMIN_BROKER_RESTORE_INTERVAL", 60),
        "unacked_restore_throttle": 1,
    }
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("HWADMIN_TASK_QUEUE", "hwadmin")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ALWAYS_EAGER = env_bool("HWADMIN_TASKS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Task events (received, started, succeeded, failed, sent) and worker heartbeats, for Flower or
# `celery -A hwadmin events`; the heartbeats also feed /healthz (moderation/health.py).
CELERY_WORKER_SEND_TASK_EVENTS = env_bool("HWADMIN_TASK_EVENTS", True)
CELERY_TASK_SEND_SENT_EVENT = env_bool("HWADMIN_TASK_EVENTS", True)
CELERY_BEAT_SCHEDULE = {
    "sweep-unscored-reviews": {
        "task": "moderation.tasks.sweep_unscored",
        "schedule": env_float("HWADMIN_SWEEP_SECONDS", 300.0),
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# --- Scoring ----------------------------------------------------------------
HWADMIN = {
    # Reviews per model forward pass (sorted by length, padded per batch). 16 pads less than 32 and,
    # measured with benchmarks/scoring.py on 2 cores, ran int8 and fp32 alike at least as fast.
    "SCORE_BATCH_SIZE": env_int("HWADMIN_SCORE_BATCH_SIZE", 16),
    # Reviews per Celery task: more reviews sort into tighter batches and share one task's database
    # round trips (512 measured 10-15 % faster end to end than 256); a lost task redoes at most this many.
    "SCORE_TASK_SIZE": env_int("HWADMIN_SCORE_TASK_SIZE", 512),
    # torch intra-op threads in a worker process (0: torch's default).
    "TORCH_THREADS": env_int("HWADMIN_TORCH_THREADS", 0),
    # The scoring runtimes' threads spin while waiting: auto (not in a worker of several pool processes), on, off.
    "THREAD_SPINNING": os.environ.get("HWADMIN_THREAD_SPINNING", "auto"),
    # Worker runtime: torch, onnx (the int8 model.int8.onnx, ONNX Runtime) or auto (onnx when verified).
    "SCORING_RUNTIME": os.environ.get("HWADMIN_SCORING_RUNTIME", "auto"),
    # Tokens per scored text (capped by the model's max_position_embeddings).
    "MAX_SEQ_LENGTH": env_int("HWADMIN_MAX_SEQ_LENGTH", 128),
    # Ingestion limits.
    "MAX_ITEMS_PER_REQUEST": env_int("HWADMIN_MAX_ITEMS_PER_REQUEST", 1000),
    "MAX_TEXT_CHARS": env_int("HWADMIN_MAX_TEXT_CHARS", 5000),
    # Where registered classifiers live by default.
    "MODEL_DIR": os.environ.get("HWADMIN_MODEL_DIR", str(VAR_DIR / "models")),
    # Blind/unblind webhook for the client app (empty: no webhook).
    "WEBHOOK_URL": os.environ.get("HWADMIN_WEBHOOK_URL", ""),
    "WEBHOOK_SECRET": os.environ.get("HWADMIN_WEBHOOK_SECRET", ""),
    # Hosts the webhook may reach over plain http:// (everything else needs https://).
    "WEBHOOK_HTTP_HOSTS": env_list("HWADMIN_WEBHOOK_HTTP_HOSTS", []),
    # POSTs per delivery before it is dead (re-queue with `manage.py redeliver_webhooks`).
    "WEBHOOK_MAX_ATTEMPTS": env_int("HWADMIN_WEBHOOK_MAX_ATTEMPTS", 8),
    # Minutes a reviewer holds the queue rows they opened.
    "HOLD_MINUTES": env_int("HWADMIN_HOLD_MINUTES", 5),
    # Audit CSV export bounds: the widest date range (days; also the default range, ending today)
    # and the most rows one export may hold.
    "AUDIT_EXPORT_MAX_DAYS": env_int("HWADMIN_AUDIT_EXPORT_MAX_DAYS", 366),
    "AUDIT_EXPORT_MAX_ROWS": env_int("HWADMIN_AUDIT_EXPORT_MAX_ROWS", 1_000_000),
}

# --- Health and metrics (moderation/health.py, moderation/metrics.py) -------------------------
HWADMIN_OPS = {
    # /metrics: with a token, every request needs "Authorization: Bearer <token>"; without one,
    # only direct requests from loopback are served. LOOPBACK_ONLY refuses other addresses even with it.
    "METRICS_TOKEN": os.environ.get("HWADMIN_METRICS_TOKEN", "").strip(),
    "METRICS_LOOPBACK_ONLY": env_bool("HWADMIN_METRICS_LOOPBACK_ONLY", False),
    # /healthz: a worker heartbeat older than this many seconds is a failure (0: reported, not required).
    "HEALTH_WORKER_MAX_AGE": env_float("HWADMIN_HEALTH_WORKER_MAX_AGE", 60.0),
    # Seconds /healthz waits for the broker.
    "HEALTH_BROKER_TIMEOUT": env_float("HWADMIN_HEALTH_BROKER_TIMEOUT", 2.0),
    # Whether /healthz also checks that each active classifier's directory exists on this machine.
    "HEALTH_CHECK_MODEL_DIRS": env_bool("HWADMIN_HEALTH_CHECK_MODEL_DIRS", True),
}
if HWADMIN_OPS["METRICS_TOKEN"] and len(HWADMIN_OPS["METRICS_TOKEN"]) < 24:
    raise RuntimeError(
        "HWADMIN_METRICS_TOKEN must be at least 24 characters (python -c 'import secrets; "
        "print(secrets.token_urlsafe(32))'), or unset to serve /metrics to loopback only"
    )
# A load balancer probes /healthz, and Prometheus scrapes /metrics, over plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]

LOG_FORMAT = os.environ.get("HWADMIN_LOG_FORMAT", "").strip().lower() or "text"
if LOG_FORMAT not in {"text", "json"}:
    raise RuntimeError(f"HWADMIN_LOG_FORMAT={LOG_FORMAT!r}: give text (the default) or json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Every line carries time and level; HWADMIN_LOG_FORMAT=json: one JSON object per line.
    "formatters": {
        "text": {
            "format": "%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s",
            "datefmt": "%Y-%m-%dT%H:%M:%S%z",
        },
        "json": {"()": "hwadmin.logformat.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # axes logs every login at INFO; its failures and lockouts are warnings.
        "axes": {"level": "WARNING"},
    },
}
