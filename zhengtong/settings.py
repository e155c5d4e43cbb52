"""Django settings, all taken from the environment through zhengtong.config."""

import os
from pathlib import Path

import dj_database_url
from django.utils.translation import gettext_lazy as _

from zhengtong.config import PREFIX, load_config, read_or_create_secret_key

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent

CONFIG = load_config(os.environ, default_var_dir=PROJECT_DIR / "var")
VAR_DIR: Path = CONFIG[PREFIX + "VAR_DIR"]
VAR_DIR.mkdir(parents=True, exist_ok=True)

SECRET_KEY = CONFIG[PREFIX + "SECRET_KEY"] or read_or_create_secret_key(VAR_DIR)
DEBUG = CONFIG[PREFIX + "DEBUG"]
ALLOWED_HOSTS = CONFIG[PREFIX + "ALLOWED_HOSTS"]
CRYPTO_SUITE = CONFIG[PREFIX + "CRYPTO_SUITE"]
SESSION_IDLE_SECONDS = CONFIG[PREFIX + "SESSION_IDLE_MINUTES"] * 60
METRICS_ALLOWED_NETWORKS = CONFIG[PREFIX + "METRICS_ALLOWED_NETWORKS"]
SITE_NAME = CONFIG[PREFIX + "SITE_NAME"]
AUDIT_WITNESS = CONFIG[PREFIX + "AUDIT_WITNESS"] or str(VAR_DIR / "audit-witness.jsonl")
# Wraps the registries' data keys (envelope encryption); None means the key file under VAR_DIR/keys.
KEY_ENCRYPTION_KEY: bytes | None = CONFIG[PREFIX + "KEY_ENCRYPTION_KEY"]
# Anomaly rules (zhengtong.audit.anomalies): distinct people one staff member may read in an hour, and the
# working hours outside which reads of personal data raise an alert.
AUDIT_ALERT_SUBJECTS_PER_HOUR = 50
AUDIT_ALERT_WORKING_HOURS = (8, 20)
AUDIT_EXPORT_MAX_ROWS = 100_000
SITE_ID_CODE = CONFIG[PREFIX + "SITE_ID_CODE"]
# Information Mediator (X-Road) security servers: from these addresses the Information-Mediator-Client header
# alone identifies the calling system (zhengtong.exchange.callers).
IM_TRUSTED_NETWORKS = CONFIG[PREFIX + "IM_TRUSTED_NETWORKS"]
SITE_URL = CONFIG[PREFIX + "SITE_URL"]  # links in mail and text messages are made absolute with it
SMS_BACKEND = CONFIG[PREFIX + "SMS_BACKEND"]  # see zhengtong.services.sms
IM_INSTANCE = CONFIG[PREFIX + "IM_INSTANCE"]  # the instance id the directory API (exchange.directory) answers to
# Mail (deadline reminders to staff): SMTP when a server is configured, else one file per message in var/mail/.
if CONFIG[PREFIX + "SMTP_HOST"]:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST, EMAIL_PORT = CONFIG[PREFIX + "SMTP_HOST"]
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = str(VAR_DIR / "mail")
DEFAULT_FROM_EMAIL = CONFIG[PREFIX + "MAIL_FROM"]
# The gateway's baseline endpoint with no right check, masking or audit, for bench/gateway.py only.
BENCH_BASELINE = CONFIG[PREFIX + "BENCH_BASELINE"]
# The gateway's calls to departments' own APIs: timeouts (seconds), retries, circuit breaker, allowed addresses.
PROXY_CONNECT_TIMEOUT: float = CONFIG[PREFIX + "PROXY_CONNECT_TIMEOUT"]
PROXY_TIMEOUT: float = CONFIG[PREFIX + "PROXY_TIMEOUT"]
PROXY_RETRIES: int = CONFIG[PREFIX + "PROXY_RETRIES"]
PROXY_UPSTREAMS: dict[str, tuple[float, int | None]] = CONFIG[PREFIX + "PROXY_UPSTREAMS"]
PROXY_FAILURE_THRESHOLD: int = CONFIG[PREFIX + "PROXY_FAILURE_THRESHOLD"]
PROXY_COOLDOWN: float = CONFIG[PREFIX + "PROXY_COOLDOWN"]
PROXY_ALLOWED_NETWORKS: list[str] = CONFIG[PREFIX + "PROXY_ALLOWED_NETWORKS"]
# Where subscription webhooks may go besides public addresses; plain http to this machine only while debugging.
SUBSCRIPTION_WEBHOOK_NETWORKS: list[str] = CONFIG[PREFIX + "WEBHOOK_ALLOWED_NETWORKS"]
SUBSCRIPTION_LOCAL_WEBHOOKS: bool = DEBUG

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_tasks",
    "django_tasks_db",
    # Ninja as an app serves its API docs page from its own static files, not from a CDN.
    "ninja",
    "zhengtong.core",
    "zhengtong.audit",
    "zhengtong.identity",
    "zhengtong.registries",
    "zhengtong.catalog",
    "zhengtong.exchange",
    "zhengtong.privacy",
    "zhengtong.services",
    "zhengtong.portal",
    # After the project's apps, so that portal's base template is found first.
    "django.contrib.admin",
]

MIDDLEWARE = [
    "zhengtong.core.middleware.RequestIdMiddleware",
    "zhengtong.exchange.middleware.UsageMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "zhengtong.privacy.middleware.NoticeAcceptanceMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "zhengtong.identity.middleware.IdleTimeoutMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "zhengtong.urls"
WSGI_APPLICATION = "zhengtong.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "zhengtong.portal.context_processors.site",
            ],
        },
    },
]

DATABASE_URL = CONFIG["DATABASE_URL"] or f"sqlite:///{VAR_DIR / 'zhengtong.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets readers work while one writer commits; IMMEDIATE takes the write lock up front so two
        # writers queue on the busy timeout instead of failing with "database is locked".
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Uploaded files (registry file fields, import uploads) hold personal data: kept under var/, never served as
# static media.
MEDIA_ROOT = VAR_DIR / "files"

AUTH_USER_MODEL = "identity.User"
AUTHENTICATION_BACKENDS = ["zhengtong.identity.backends.ScopedPermissionBackend"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.Argon2PasswordHasher"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "zhengtong.identity.passwords.PasswordPolicyValidator"},
]
LOGIN_URL = "identity:login"
LOGIN_REDIRECT_URL = "portal:dashboard"
LOGOUT_REDIRECT_URL = "portal:home"
LOGIN_FAILURE_LIMIT = 5
LOGIN_LOCKOUT_SECONDS = 10 * 60
TRAINING_VALID_DAYS = 365

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = CONFIG[PREFIX + "SECURE_COOKIES"]
CSRF_COOKIE_SECURE = CONFIG[PREFIX + "SECURE_COOKIES"]
SESSION_COOKIE_AGE = 12 * 60 * 60
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [PACKAGE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
# Front-end libraries copied from node_modules by `npm run build` (see scripts/build-assets.mjs).
STATICFILES_DIRS = [PROJECT_DIR / "build" / "static"]
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

LOG_LEVEL = CONFIG[PREFIX + "LOG_LEVEL"]
# Structured JSON logs on stderr, each line carrying the request id (see zhengtong.core.logging).
LOGGING = {"level": LOG_LEVEL}
LOGGING_CONFIG = "zhengtong.core.logging.configure"

ADMIN_SITE_HEADER = _("Zhengtong platform administration")
