"""mlgov settings. Every value comes from the environment; see docs/configuration.md."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), got {raw!r}")


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    try:
        return int(raw) if raw else default
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from exc


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    # A development key: fine for `make demo` and tests, flagged by `check --deploy`.
    SECRET_KEY = "django-insecure-dev-key-set-SECRET_KEY-in-production"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
CSRF_FAILURE_VIEW = "mlgov.views.csrf_failure"  # records a security audit event

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "mlgov.audit",
    "mlgov.accounts",
    "mlgov.inventory",
    "integrations",
    "assessments",
    "mlgov.governance",
]

MIDDLEWARE = [
    "mlgov.middleware.RequestGuardMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "mlgov.urls"
WSGI_APPLICATION = "mlgov.wsgi.application"
ASGI_APPLICATION = "mlgov.asgi.application"

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
        os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'var' / 'mlgov.sqlite3'}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE: a transaction takes SQLite's write lock when it begins. With the default (DEFERRED), two
    # processes that both read and then write (the audit chain reads its head, then appends) deadlock on the
    # lock upgrade and one fails at once with "database is locked" instead of waiting for `timeout`.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"timeout": 20, "transaction_mode": "IMMEDIATE"})
    # The lineage walk's covering indexes (INCLUDE columns) are a PostgreSQL feature; SQLite builds them as
    # plain indexes, which is what we want there, so its warning about it is noise on every command.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]
    (BASE_DIR / "var").mkdir(exist_ok=True)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "mlgov.accounts.backends.AdminsGroupBackend",  # the admins group may use the Django admin
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
STATICFILES_DIRS = [BASE_DIR / "mlgov" / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if not DEBUG and env_bool("MLGOV_MANIFEST_STATIC", False)
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "mlgov.finders.PlotlyJsFinder",  # plotly.js from the plotly package, served locally (never a CDN)
]
WHITENOISE_USE_FINDERS = True
with contextlib.suppress(OSError):  # whitenoise warns when STATIC_ROOT is missing
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)

# Request bodies: anything larger is refused with 413 before a view sees it.
MLGOV_MAX_BODY_BYTES = env_int("MLGOV_MAX_BODY_BYTES", 5 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = MLGOV_MAX_BODY_BYTES

# --- Security (production values when DEBUG is off) ---
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("USE_X_FORWARDED_PROTO", False) else None
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

# --- REST API ---
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "mlgov.accounts.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["mlgov.accounts.permissions.IsOrgUser"],
    "DEFAULT_PAGINATION_CLASS": "mlgov.api.StandardCursorPagination",
    "DEFAULT_FILTER_BACKENDS": [
        "mlgov.api.StrictQueryParamsBackend",
        "mlgov.api.FilterBackend",
        "rest_framework.filters.SearchFilter",
        "mlgov.api.StrictOrderingFilter",
    ],
    "DEFAULT_PARSER_CLASSES": ["mlgov.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "mlgov.api.exception_handler",
    "PAGE_SIZE": 50,
    "ORDERING_PARAM": "ordering",
    "SEARCH_PARAM": "q",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append("rest_framework.renderers.BrowsableAPIRenderer")

SPECTACULAR_SETTINGS = {
    "TITLE": "mlgov API",
    "DESCRIPTION": "Inventory, maturity assessment and model governance.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "ModelVersionStatusEnum": "mlgov.inventory.choices.ModelVersionStatus",
        "PipelineRunStatusEnum": "mlgov.inventory.choices.RunStatus",
        "SyncStatusEnum": "integrations.choices.SyncStatus",
        "WebhookDeliveryStatusEnum": "integrations.ci.choices.WebhookDeliveryStatus",
        "CiProviderEnum": "integrations.ci.choices.CiProvider",
    },
}

# --- Celery ---
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or os.environ.get("REDIS_URL") or ""
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND") or None
# Without a broker, tasks run eagerly in the calling process, so the default setup needs no Redis.
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    # Each connection has its own interval (MlflowConnection.sync_interval_minutes); this checks them.
    "dispatch-due-syncs": {"task": "integrations.dispatch_due_syncs", "schedule": 60.0},
    # Each CI source is polled every MLGOV_CI_POLL_INTERVAL_MINUTES; this checks which are due.
    "dispatch-due-ci-polls": {"task": "integrations.ci.dispatch_due_ci_polls", "schedule": 60.0},
    # Each Git repository has its own interval (GitRepository.sync_interval_minutes).
    "dispatch-due-git-syncs": {"task": "integrations.dispatch_due_git_syncs", "schedule": 60.0},
    # Pending promotion requests past their policy's age limit expire; abandoned applies fail.
    "expire-promotions": {"task": "governance.expire_promotions", "schedule": 300.0},
}

# --- mlgov ---
MLGOV_TOKEN_DEFAULT_DAYS = env_int("MLGOV_TOKEN_DEFAULT_DAYS", 90)
MLGOV_TOKEN_MAX_DAYS = env_int("MLGOV_TOKEN_MAX_DAYS", 365)

MLGOV_SYNC_STALE_MINUTES = env_int("MLGOV_SYNC_STALE_MINUTES", 60)
MLGOV_SYNC_MAX_RETRIES = env_int("MLGOV_SYNC_MAX_RETRIES", 3)
# mlflow.user values (or run sources) that mean "a CI job or service account ran this", as a regex.
MLGOV_SERVICE_USER_REGEX = os.environ.get(
    "MLGOV_SERVICE_USER_REGEX", r"(?i)(^svc[-_.]|[-_.]?bot$|^ci[-_.]|jenkins|github|gitlab|runner|airflow|^service)"
)
# Incremental run syncs re-read runs that started this long before the last watermark (clock skew).
MLGOV_SYNC_OVERLAP_MINUTES = env_int("MLGOV_SYNC_OVERLAP_MINUTES", 10)

# CI webhooks (/hooks/github/, /hooks/gitlab/, /hooks/jenkins/): a provider whose secret is unset refuses deliveries.
MLGOV_GITHUB_WEBHOOK_SECRET = os.environ.get("MLGOV_GITHUB_WEBHOOK_SECRET", "")
MLGOV_GITLAB_WEBHOOK_TOKEN = os.environ.get("MLGOV_GITLAB_WEBHOOK_TOKEN", "")
MLGOV_JENKINS_WEBHOOK_SECRET = os.environ.get("MLGOV_JENKINS_WEBHOOK_SECRET", "")
# Webhook bodies larger than this are refused (413, audited) before they are read.
MLGOV_WEBHOOK_MAX_BYTES = env_int("MLGOV_WEBHOOK_MAX_BYTES", 1024 * 1024)
# CI sources are polled for runs (backfill, missed webhooks) this often; each poll reads at most N pages.
MLGOV_CI_POLL_INTERVAL_MINUTES = env_int("MLGOV_CI_POLL_INTERVAL_MINUTES", 15)
MLGOV_CI_POLL_MAX_PAGES = env_int("MLGOV_CI_POLL_MAX_PAGES", 10)
MLGOV_CI_HTTP_TIMEOUT_SECONDS = env_int("MLGOV_CI_HTTP_TIMEOUT_SECONDS", 20)
# Git repositories are fetched into bare caches here (one per repository; safe to delete).
MLGOV_GIT_CACHE_DIR = Path(os.environ.get("MLGOV_GIT_CACHE_DIR") or BASE_DIR / "var" / "git-cache")
# A git fetch that takes longer than this is killed (and retried like an unreachable remote).
MLGOV_GIT_TIMEOUT_SECONDS = env_int("MLGOV_GIT_TIMEOUT_SECONDS", 600)
# Lineage (docs/lineage.md): a CI run "executed" a training run of its commit when the training run started
# within the CI run's span, give or take this many minutes.
MLGOV_LINEAGE_MATCH_SLACK_MINUTES = env_int("MLGOV_LINEAGE_MATCH_SLACK_MINUTES", 10)
# The aliases that mean "in production" on the impact page and in the impact API (comma-separated).
MLGOV_LINEAGE_PRODUCTION_ALIASES = [
    a.strip()
    for a in os.environ.get("MLGOV_LINEAGE_PRODUCTION_ALIASES", "production,prod,champion,live").split(",")
    if a.strip()
]
# OpenLineage events: at most this deep (objects and arrays nested) and this many JSON values.
MLGOV_LINEAGE_MAX_DEPTH = env_int("MLGOV_LINEAGE_MAX_DEPTH", 64)

# --- maturity assessment (docs/configuration.md "Maturity assessment") ---
# The rubric projects are scored against (a file assessments/rubrics/<id>.yaml).
MLGOV_RUBRIC = os.environ.get("MLGOV_RUBRIC", "azure-mlops")
# Attestations expire after this many days (a rubric criterion or an attestation rule may shorten it).
MLGOV_ATTESTATION_DAYS = env_int("MLGOV_ATTESTATION_DAYS", 180)
# A waiver may last at most this many days.
MLGOV_WAIVER_MAX_DAYS = env_int("MLGOV_WAIVER_MAX_DAYS", 365)
# Evidence observed longer ago than this no longer meets a criterion (it shows as stale), unless the
# criterion sets its own `fresh_days`.
MLGOV_EVIDENCE_FRESH_DAYS = env_int("MLGOV_EVIDENCE_FRESH_DAYS", 180)
# The nightly scoring of every project runs at this hour (UTC, Celery beat).
MLGOV_SCORING_NIGHTLY_HOUR = env_int("MLGOV_SCORING_NIGHTLY_HOUR", 2)
CELERY_BEAT_SCHEDULE["score-nightly"] = {
    "task": "assessments.score_nightly",
    "schedule": crontab(hour=MLGOV_SCORING_NIGHTLY_HOUR, minute=30),
}

# --- Governance (promotions, drift, notifications; see docs/governance.md) ---
# Retries of the apply task while MLflow is unreachable (exponential backoff with jitter), then the request fails.
MLGOV_PROMOTION_APPLY_MAX_RETRIES = env_int("MLGOV_PROMOTION_APPLY_MAX_RETRIES", 5)
# An apply that has been running this long without finishing (its worker died) is failed so it can be retried.
MLGOV_PROMOTION_APPLY_STALE_MINUTES = env_int("MLGOV_PROMOTION_APPLY_STALE_MINUTES", 30)
# Outbound webhooks: retries on network errors, 5xx, 408 and 429; the timeout of each POST.
MLGOV_NOTIFY_MAX_RETRIES = env_int("MLGOV_NOTIFY_MAX_RETRIES", 5)
MLGOV_NOTIFY_TIMEOUT_SECONDS = env_int("MLGOV_NOTIFY_TIMEOUT_SECONDS", 10)
# The address links in emails and webhook payloads start with.
MLGOV_BASE_URL = os.environ.get("MLGOV_BASE_URL", "http://127.0.0.1:8000")

# --- Email (notifications). Without EMAIL_HOST, messages are written as files under var/mail/. ---
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND") or (
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.filebased.EmailBackend"
)
EMAIL_FILE_PATH = os.environ.get("EMAIL_FILE_PATH") or str(BASE_DIR / "var" / "mail")
EMAIL_PORT = env_int("EMAIL_PORT", 587)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", bool(EMAIL_HOST))
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "mlgov <mlgov@localhost>")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.request": {"level": "ERROR"}},
}
