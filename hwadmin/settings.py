"""hwadmin settings: every value comes from the environment, with defaults that
run on a laptop (SQLite and an embedded, file-based Celery broker under var/).

Production sets DATABASE_URL (PostgreSQL), CELERY_BROKER_URL (Redis),
SECRET_KEY, ALLOWED_HOSTS and DEBUG=0. The README lists every variable.
"""

import os
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


DEBUG = env_bool("DEBUG", True)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise RuntimeError("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

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
    "moderation",
    "plm",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
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
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # Several processes (web, worker) share the file: wait for locks, don't fail.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 30
    DATABASES["default"]["CONN_MAX_AGE"] = 0

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = os.environ.get("LANGUAGE_CODE", "en-us")
TIME_ZONE = os.environ.get("TIME_ZONE", "Asia/Seoul")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/queue/"
LOGOUT_REDIRECT_URL = "login"

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
}

SPECTACULAR_SETTINGS = {
    "TITLE": "hwadmin API",
    "DESCRIPTION": "Review ingestion, public reads, and the moderation queue.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
}

# --- Celery -----------------------------------------------------------------
# Default: kombu's filesystem transport under var/broker, so a laptop needs no
# Redis. Production: CELERY_BROKER_URL=redis://host:6379/0
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
BROKER_DIR = VAR_DIR / "broker"
if CELERY_BROKER_URL.startswith("filesystem"):
    for folder in ("out", "processed", "control"):
        (BROKER_DIR / folder).mkdir(parents=True, exist_ok=True)
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
CELERY_BEAT_SCHEDULE = {
    "sweep-unscored-reviews": {
        "task": "moderation.tasks.sweep_unscored",
        "schedule": env_float("HWADMIN_SWEEP_SECONDS", 300.0),
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# --- Scoring ----------------------------------------------------------------
HWADMIN = {
    # Reviews per model forward pass (sorted by length, padded per batch).
    "SCORE_BATCH_SIZE": env_int("HWADMIN_SCORE_BATCH_SIZE", 32),
    # Reviews per Celery task.
    "SCORE_TASK_SIZE": env_int("HWADMIN_SCORE_TASK_SIZE", 256),
    # torch intra-op threads in a worker process (0: torch's default).
    "TORCH_THREADS": env_int("HWADMIN_TORCH_THREADS", 0),
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
    # Minutes a reviewer holds the queue rows they opened.
    "HOLD_MINUTES": env_int("HWADMIN_HOLD_MINUTES", 5),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
