"""Settings for BPO Ledger, read from the environment.

DJANGO_ENV selects the profile: ``development`` (the default, used by ``make run``),
``test`` (pytest) or ``production`` (docker-compose, gunicorn). Production refuses
to start without a secret key and field-encryption keys.
"""

from datetime import date, timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# The embedded default's files: SQLite database, filesystem broker, beat schedule, uploads.
VAR_DIR = Path(env("DJANGO_VAR_DIR", default=str(BASE_DIR / "var")))

ENVIRONMENT = env("DJANGO_ENV", default="development")
if ENVIRONMENT not in {"development", "test", "production"}:
    raise ImproperlyConfigured(
        f"DJANGO_ENV must be development, test or production, not {ENVIRONMENT!r}"
    )
PRODUCTION = ENVIRONMENT == "production"

DEBUG = env.bool("DJANGO_DEBUG", default=ENVIRONMENT == "development")
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DJANGO_DEBUG must be off when DJANGO_ENV=production")

SECRET_KEY = env("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set: production refuses to start without a secret key"
        )
    # Development and test only: never used when DJANGO_ENV=production.
    SECRET_KEY = f"insecure-{ENVIRONMENT}-key-not-for-production-use-4b1d0e7a9c2f"

# Fernet keys (urlsafe base64, 32 bytes) for bank account numbers at rest; the first encrypts,
# all decrypt, so a key can be rotated by putting the new one first.
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])
# Key of the HMAC that lets us find a customer by bank account without decrypting every row.
LOOKUP_HASH_KEY = env("LOOKUP_HASH_KEY", default="")
if PRODUCTION and not (FIELD_ENCRYPTION_KEYS and LOOKUP_HASH_KEY):
    raise ImproperlyConfigured(
        "FIELD_ENCRYPTION_KEYS and LOOKUP_HASH_KEY must be set when DJANGO_ENV=production"
    )

ALLOWED_HOSTS = env.list(
    "DJANGO_ALLOWED_HOSTS",
    default=[] if PRODUCTION else ["127.0.0.1", "localhost", "testserver"],
)
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    # Django's form templates, found by the project's engine (FORM_RENDERER below).
    "django.forms",
    "django_filters",
    "django_tables2",
    "axes",
    "csp",
    "bpo_ledger",
    "schedules",
    "discrepancies",
    "reconciliation",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Below WhiteNoise (static files stay cacheable), above everything that answers a request.
    "bpo_ledger.middleware.private_no_store",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    # Before the CSRF check, which reads the body: a body larger than its page takes is refused unread.
    "bpo_ledger.uploads.RequestBodyLimitMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: it turns a lockout raised by authenticate() into the page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"

# Forms render through TEMPLATES, so the project's templates/django/forms/ can replace a
# built-in widget template (the select writes its options inline).
FORM_RENDERER = "django.forms.renderers.TemplatesSetting"

# What each app adds to the shared pages (menus, customer page, demo data): config/registries.py.
from .registries import (  # noqa: E402, F401  (read by the core app as settings)
    CLIENT_MENU,
    CUSTOMER_PAGE_PANELS,
    DEMO_SEEDERS,
    PAYMENT_HELD_ELSEWHERE,
    PAYMENT_PAGE_URL,
    WORK_LINKS,
)

WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

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
                "bpo_ledger.context_processors.navigation",
                "bpo_ledger.context_processors.work_navigation",
            ],
        },
    },
]

# Database: SQLite under var/ unless DATABASE_URL says otherwise.
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'bpo_ledger.sqlite3'}")
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE takes the write lock at BEGIN, so two writers never both read the same
    # audit chain head and fork it.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "timeout": 20}
    )
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if ENVIRONMENT == "test":
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Failed logins: five wrong passwords for one username from one address lock it for a while.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_LOCKOUT_TEMPLATE = "registration/lockout.html"
AXES_RESET_ON_SUCCESS = True
# Behind reverse proxies, their number: each request's address is then read from X-Forwarded-For
# (bpo_ledger/client_ip.py). Without it every login comes from the proxy's address, and five
# wrong passwords from anyone lock a user out for everyone.
AXES_IPWARE_PROXY_COUNT = env.int("AXES_IPWARE_PROXY_COUNT", default=0)
AXES_CLIENT_IP_CALLABLE = "bpo_ledger.client_ip.client_ip_address"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# The admin's dates and times (in UTC) carry their zone: config/formats/en/formats.py.
FORMAT_MODULE_PATH = ["config.formats"]

STATIC_URL = "static/"
STATIC_ROOT = env("DJANGO_STATIC_ROOT", default=str(VAR_DIR / "static"))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
if not PRODUCTION:
    WHITENOISE_USE_FINDERS = True
    WHITENOISE_AUTOREFRESH = True
MEDIA_ROOT = env("DJANGO_MEDIA_ROOT", default=str(VAR_DIR / "media"))
# Evidence attached to discrepancies: stored under MEDIA_ROOT/attachments/<client>/, served only
# through the app to members of that client (never as public media).
ATTACHMENT_MAX_BYTES = env.int("ATTACHMENT_MAX_BYTES", default=10 * 1024 * 1024)
# A request body larger than its page takes is refused (413) from its declared length before any
# of it is read (bpo_ledger.uploads): an upload page's own limit, this for every other form.
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
# An upload up to this size stays in memory; a larger one (below its page's limit) is spooled to
# a temporary file as it arrives.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FILES = 10

# Bounds on the work one input can ask for (README: Bounded work). Schedule dates (start, end,
# deferred-until, mandate) lie in this range, and a schedule has at most this many payments
# when created (its number of payments or installments, or all its dates up to the horizon).
def _env_date(name: str, default: str) -> date:
    text = env(name, default=default)
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a date such as {default}, not {text!r}") from None


SCHEDULE_DATE_MIN = _env_date("SCHEDULE_DATE_MIN", "1990-01-01")
SCHEDULE_DATE_MAX = _env_date("SCHEDULE_DATE_MAX", "2100-12-31")
SCHEDULE_MAX_PAYMENTS = env.int("SCHEDULE_MAX_PAYMENTS", default=600)
if not (date(1900, 1, 1) <= SCHEDULE_DATE_MIN < SCHEDULE_DATE_MAX <= date(9000, 12, 31)) or SCHEDULE_MAX_PAYMENTS < 1:
    raise ImproperlyConfigured(
        "SCHEDULE_DATE_MIN must come before SCHEDULE_DATE_MAX, both between 1900 and 9000, "
        "and SCHEDULE_MAX_PAYMENTS must be at least 1"
    )

# Bank statements (reconciliation): uploads up to STATEMENT_MAX_BYTES; from STATEMENT_ASYNC_BYTES
# a worker imports the file (the page shows its progress) instead of the request.
STATEMENT_MAX_BYTES = env.int("STATEMENT_MAX_BYTES", default=200 * 1024 * 1024)
STATEMENT_ASYNC_BYTES = env.int("STATEMENT_ASYNC_BYTES", default=5 * 1024 * 1024)
# Where uploads wait for the worker: under MEDIA_ROOT/statements/<client>/.
STATEMENT_UPLOAD_DIR = "statements"

# Email: console in development, in-memory in tests, SMTP (EMAIL_URL) in production.
_email = env.email_url(
    "EMAIL_URL",
    default="consolemail://" if ENVIRONMENT != "production" else "smtp://localhost:25",
)
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
EMAIL_HOST = _email.get("EMAIL_HOST", "")
EMAIL_PORT = _email.get("EMAIL_PORT") or 25
EMAIL_HOST_USER = _email.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = _email.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = _email.get("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = _email.get("EMAIL_USE_SSL", False)
# A hung mail server must not outlive the reminder sweep's stale-claim window (15 minutes).
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)
if ENVIRONMENT == "test":
    EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="BPO Ledger <noreply@bpo-ledger.local>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# SMS reminders: a dotted path to a backend class (see schedules/sms.py). The default writes
# each message to a file instead of sending it.
SMS_BACKEND = env(
    "SMS_BACKEND",
    default="schedules.sms.LocmemSMSBackend" if ENVIRONMENT == "test" else "schedules.sms.FileSMSBackend",
)
SMS_FILE_PATH = env("SMS_FILE_PATH", default=str(VAR_DIR / "sms.log"))
# A reminder sender refreshes its claim as it goes (every tenth of this); the hourly sweep takes
# back claims left unrefreshed this long, as those of a sender that died.
REMINDER_CLAIM_TIMEOUT = env.int("REMINDER_CLAIM_TIMEOUT_SECONDS", default=15 * 60)

# Celery: the embedded default is the filesystem transport under var/, so `make run`
# needs neither Redis nor RabbitMQ.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "celery-broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
# The progress of imports running in a worker (rows read, rows stored), read by the web process:
# Redis beside the broker, else files under var/ (the embedded default).
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "progress": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CELERY_BROKER_URL}
        if CELERY_BROKER_URL.startswith(("redis://", "rediss://"))
        else {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(VAR_DIR / "progress")}
    ),
}
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "reminders-hourly": {"task": "schedules.tasks.send_reminders", "schedule": crontab(minute=5)},
    "schedules-nightly": {"task": "schedules.tasks.run_nightly_where_due", "schedule": crontab(minute=0)},
    "discrepancies-sla-sweep": {"task": "discrepancies.tasks.sla_sweep", "schedule": crontab(minute="*/15")},
    # Each client once per local date, from 02:00 its time (reconciliation.tasks.NIGHTLY_LOCAL_TIME).
    "reconciliation-nightly": {"task": "reconciliation.tasks.reconcile_due_clients", "schedule": crontab(minute="*/15")},
}

# Content-Security-Policy: no inline script anywhere, our own files only.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    }
}

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=60 * 60 * 10)
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=True)
    # Behind a TLS-terminating proxy that sets X-Forwarded-Proto.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"axes": {"level": "WARNING"}},
}

DJANGO_TABLES2_TEMPLATE = "django_tables2/table.html"
