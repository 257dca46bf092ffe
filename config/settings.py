"""Settings, read from the environment with embedded defaults for local use.

Every variable is listed in the README and in .env.example. A malformed value stops startup.
"""

import os
from pathlib import Path

import dj_database_url
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from config.local_env import LOCAL_ENV_FILE

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("ROSTERSYNC_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if value not in ("", "true", "false", "1", "0"):
        raise ImproperlyConfigured(f"{name} must be 'true' or 'false', not {value!r}")
    return default if not value else value in ("true", "1")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}") from None


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def env_secret(name: str, default: str | None) -> str | None:
    """Return a secret from NAME, or from the file named by NAME_FILE (Docker secrets)."""
    path = os.environ.get(f"{name}_FILE")
    if path:
        return Path(path).read_text().strip()
    return os.environ.get(name, default)


# The checkout's development defaults, written by `make setup` (config/local_env.py): a file
# under var/, which no image and no deployment has (.dockerignore, .gitignore). It only fills in
# variables the environment leaves unset, and is not read at all when DJANGO_DEBUG=false, so a
# production deployment without DJANGO_SECRET_KEY still refuses to start (docs/security.md).
def _read_local_env(path: Path) -> dict[str, str]:
    if os.environ.get("DJANGO_DEBUG", "").strip().lower() in ("false", "0"):
        return {}
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return {}
    pairs = (line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))
    return {name.strip(): value.strip() for name, value in pairs}


for _name, _value in _read_local_env(LOCAL_ENV_FILE).items():
    os.environ.setdefault(_name, _value)

# ---------------------------------------------------------------------------------------------
# Core
# https://docs.djangoproject.com/en/5.2/ref/settings/
DEBUG = env_bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env_secret("DJANGO_SECRET_KEY", None)
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("Set DJANGO_SECRET_KEY (or DJANGO_DEBUG=true for local use).")
    SECRET_KEY = "insecure-local-development-key-do-not-use-in-production"
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
    "users",
    "importer",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Ends support's choice of a company once its time is up (with its audit event).
    "importer.acting.SupportActingMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "config.middleware.ContentSecurityPolicyMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its lockout response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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

# ---------------------------------------------------------------------------------------------
# Database: SQLite file by default, anything dj-database-url understands via DATABASE_URL.
# https://docs.djangoproject.com/en/5.2/ref/databases/
DATABASE_URL = os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'rostersync.sqlite3'}")
# Persistent connections: a web process and a worker keep theirs for DATABASE_CONN_MAX_AGE
# seconds (0: a connection per request or task; behind a transaction-mode PgBouncer, 0 or the
# pooler's own limit), checked before each request or task reuses them, so the first one after
# the database dropped its connections (a restart, a failover) does not fail.
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL,
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=env_bool("DATABASE_CONN_HEALTH_CHECKS", True),
    )
}
# Behind PgBouncer in transaction mode: the downloads' server-side cursors would outlive the
# transaction PgBouncer gives them, so they are turned off (README, Deployment).
DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = env_bool(
    "DATABASE_DISABLE_SERVER_SIDE_CURSORS", False
)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        # The web server and the worker write to one file: WAL lets readers go on while a
        # writer commits, IMMEDIATE takes the write lock up front instead of failing to upgrade.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
    # Tests use a file too, so that a worker process can open the same test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-rostersync.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# ---------------------------------------------------------------------------------------------
# Users and login
AUTH_USER_MODEL = "users.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "importer:import"
LOGOUT_REDIRECT_URL = "login"
AUTHENTICATION_BACKENDS = [
    # Counts failed logins and refuses further attempts past the limit (password guessing).
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# https://django-axes.readthedocs.io/en/latest/4_configuration.html
AXES_FAILURE_LIMIT = env_int("ROSTERSYNC_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = env_int("ROSTERSYNC_LOGIN_COOLOFF_MINUTES", 15) / 60  # hours
# Lock the account being guessed from that address, so one office's typo does not lock out
# everyone behind the same NAT.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_USERNAME_FORM_FIELD = "username"
# Failures count against the address as login looks it up (trimmed, case-folded), so that
# "Admin@…" is the same account as "admin@…" for the lockout too.
AXES_USERNAME_CALLABLE = "users.login.lockout_username"
# The address a failure counts against (django-ipware). Behind the TLS proxy
# (DJANGO_BEHIND_PROXY=true) it is the last X-Forwarded-For entry: the one the proxy itself
# appended, whatever a client put before it. Without a proxy the header is ignored, so a forged
# one cannot give each guess a new address.
BEHIND_PROXY = env_bool("DJANGO_BEHIND_PROXY", False)
AXES_IPWARE_PROXY_ORDER = "right-most"
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR") if BEHIND_PROXY else ("REMOTE_ADDR",)
)
# The test run sets ROSTERSYNC_FAST_PASSWORD_HASHER=true (tests/environment.py), for itself and its
# Celery worker: a password stays hashed and checked, only without the deliberate slowness.
if env_bool("ROSTERSYNC_FAST_PASSWORD_HASHER", False):
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("DJANGO_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# ---------------------------------------------------------------------------------------------
# Files. Uploaded inputs live under MEDIA_ROOT with generated names and are never served
# from a public URL: only their organization's admins download them, through a view.
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
MEDIA_ROOT = Path(os.environ.get("ROSTERSYNC_MEDIA_ROOT", VAR_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": "importer.storage.InputStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# Largest upload or pasted text accepted, in bytes. Django refuses larger request bodies
# before reading them whole.
IMPORT_MAX_UPLOAD_BYTES = env_int("ROSTERSYNC_MAX_UPLOAD_BYTES", 20 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = IMPORT_MAX_UPLOAD_BYTES + 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
# The first handler stops reading an upload as soon as it is known to be over the limit, before
# the others keep it in memory or in a temporary file (importer/uploads.py).
FILE_UPLOAD_HANDLERS = [
    "importer.uploads.SizeLimitUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
# Most data rows one import may hold.
IMPORT_MAX_ROWS = env_int("ROSTERSYNC_MAX_ROWS", 250_000)
# Most bytes an .xlsx workbook may unpack to (its XML parts together), in MB: by default 1 KB for
# each row allowed, and at least 256 MB (a workbook's XML takes 300–600 bytes a row).
IMPORT_MAX_XLSX_EXPANDED_BYTES = (
    env_int("ROSTERSYNC_MAX_XLSX_EXPANDED_MB", max(256, IMPORT_MAX_ROWS // 1024)) * 1024 * 1024
)
# Per company, so that one cannot slow every other: runs waiting for (or in) their preview, and
# bytes of stored input files (0: no limit).
# Changes written by one UPDATE statement of an apply; its progress moves after each.
IMPORT_APPLY_BATCH = max(1, env_int("ROSTERSYNC_APPLY_BATCH", 10_000))
IMPORT_MAX_QUEUED_RUNS_PER_ORG = env_int("ROSTERSYNC_MAX_QUEUED_RUNS_PER_ORG", 5)
IMPORT_ORG_STORAGE_QUOTA_BYTES = env_int("ROSTERSYNC_ORG_STORAGE_QUOTA_BYTES", 2 * 1024**3)

# Minutes support staff may work in a company's screens after choosing it ("Open Import Users"
# in Django admin); then they choose it again (users.access).
SUPPORT_ACT_AS_MINUTES = env_int("ROSTERSYNC_ACT_AS_MINUTES", 60)
if SUPPORT_ACT_AS_MINUTES < 1:
    raise ImproperlyConfigured("ROSTERSYNC_ACT_AS_MINUTES must be 1 or more.")

# ---------------------------------------------------------------------------------------------
# Cache: progress of running imports is shared between the worker and the web through it.
CACHE_URL = os.environ.get("CACHE_URL", "")
if CACHE_URL.startswith(("redis://", "rediss://")):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CACHE_URL,
            # The cache only carries progress: a Redis that stalls must not stall an import.
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
elif CACHE_URL:
    raise ImproperlyConfigured(f"CACHE_URL must be a redis:// URL, not {CACHE_URL!r}")
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

# ---------------------------------------------------------------------------------------------
# Celery: a folder on disk by default (kombu's filesystem transport), Redis in production.
# https://docs.celeryq.dev/en/stable/userguide/configuration.html
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
CELERY_BROKER_DIR = Path(os.environ.get("CELERY_BROKER_DIR", VAR_DIR / "broker"))
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "processed_folder": str(CELERY_BROKER_DIR / "processed"),
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "store_processed": False,
    }
else:
    # A message unacknowledged this long is delivered again (Redis visibility timeout). It stays
    # longer than any task may run (CELERY_TASK_TIME_LIMIT): a shorter one would deliver a live
    # import to a second worker. A run whose worker died does not wait for it: its lease runs
    # out within a minute and recover_stuck_runs sends it again (IMPORT_LEASE_SECONDS); the old
    # message, when it comes back, finds the run finished and does nothing.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # kombu's Redis transport, with the fix that keeps a worker alive through a Redis outage.
    CELERY_BROKER_TRANSPORT = "config.broker:Transport"
# A worker whose broker went away keeps trying to reconnect, however long the outage.
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Three queues, so that one company's large files never hold up another's small paste:
# previews and imports of runs whose file is under ROSTERSYNC_LARGE_INPUT_BYTES go to "runs",
# larger ones to "runs-large", everything else (scheduled syncs, webhooks, beat's tasks) to
# "celery". Each queue needs a worker that consumes it (Procfile, docker-compose.yml, README).
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_ROUTES = ("importer.tasks.route_run_task",)
IMPORT_QUEUE = "runs"
IMPORT_LARGE_QUEUE = "runs-large"
IMPORT_LARGE_INPUT_BYTES = env_int("ROSTERSYNC_LARGE_INPUT_BYTES", 1024 * 1024)
# Every queue the app routes to: a worker started with -Q and all of them takes any task.
ALL_QUEUES = (IMPORT_QUEUE, IMPORT_LARGE_QUEUE, CELERY_TASK_DEFAULT_QUEUE)
# Celery's Django fix-up closes the database connection around every task; config/celery.py
# instead closes it only when Django would (past DATABASE_CONN_MAX_AGE, or broken), so a worker
# reuses its connection. The fix-up still closes it after this many tasks.
CELERY_DB_REUSE_MAX = 1000
CELERY_TASK_TIME_LIMIT = 30 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 25 * 60
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    # Stored inputs past the retention period are deleted once a day (every 24 hours).
    "delete-expired-inputs": {
        "task": "importer.delete_expired_inputs",
        "schedule": 24 * 60 * 60.0,
    },
    # A run left queued or running by a worker that died is taken up again or failed.
    "recover-stuck-runs": {
        "task": "importer.recover_stuck_runs",
        "schedule": 60.0,
    },
    # Start a sync of each remote source that is due (every 5 minutes, crontab.guru/#*/5_*_*_*_*).
    "enqueue-due-fetches": {
        "task": "importer.enqueue_due_fetches",
        "schedule": 300.0,
    },
    # Send the webhook deliveries that are due: the outbox's events and the retries (every minute).
    "deliver-due-webhooks": {
        "task": "importer.deliver_due_webhooks",
        "schedule": 60.0,
    },
}
# A worker holds a lease on the run it works on and renews it every third of this many seconds
# (the heartbeat). recover_stuck_runs (every minute) hands a run whose lease ran out, because its
# worker stopped, to a worker again: within about two minutes of the worker's death.
IMPORT_LEASE_SECONDS = env_int("ROSTERSYNC_LEASE_SECONDS", 60)
# Workers that may take up one step of a run (its preview, its import) before it fails: a file
# that kills its worker each time must not loop forever.
IMPORT_MAX_ATTEMPTS = env_int("ROSTERSYNC_MAX_ATTEMPTS", 3)
# A run no worker has taken up after this many seconds (its message was lost, or never sent
# because the broker was down) is sent again. A message still waiting in a busy queue is then
# sent twice, which is harmless: the second finds the run taken or finished.
IMPORT_RESEND_AFTER_SECONDS = env_int("ROSTERSYNC_RESEND_AFTER_SECONDS", 10 * 60)
# Retries of a preview or an import after a transient database error (connection lost, server
# shut down, serialization failure, deadlock, SQLite busy), after 2, 6, 18… seconds; then it fails.
IMPORT_DATABASE_RETRIES = env_int("ROSTERSYNC_DATABASE_RETRIES", 3)
# Days a run's stored input file is kept; then a daily task deletes it (the run and its changes
# stay). 0 keeps inputs forever.
INPUT_RETENTION_DAYS = env_int("ROSTERSYNC_INPUT_RETENTION_DAYS", 365)
if INPUT_RETENTION_DAYS < 0:
    raise ImproperlyConfigured("ROSTERSYNC_INPUT_RETENTION_DAYS must be 0 (keep forever) or more.")

# ---------------------------------------------------------------------------------------------
# Remote import: fetching the user file from a company's HR server (importer/remote/).
# Keys that encrypt the stored password, token or header value (Fernet keys, comma-separated:
# the first encrypts, all decrypt, so a new key goes first and an old one stays until every
# secret was saved again). Distinct from DJANGO_SECRET_KEY; required in production.
# https://cryptography.io/en/latest/fernet/#cryptography.fernet.MultiFernet
_fernet_keys = env_secret("ROSTERSYNC_FERNET_KEYS", "") or ""
REMOTE_FERNET_KEYS = [key.strip() for key in _fernet_keys.split(",") if key.strip()]
_NEW_FERNET_KEY = (
    "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
)
if not REMOTE_FERNET_KEYS and not DEBUG:
    raise ImproperlyConfigured(
        f"Set ROSTERSYNC_FERNET_KEYS (make one with: {_NEW_FERNET_KEY}), or DJANGO_DEBUG=true."
    )
for _key in REMOTE_FERNET_KEYS:
    try:
        Fernet(_key)
    except ValueError:
        raise ImproperlyConfigured(
            f"Each key in ROSTERSYNC_FERNET_KEYS must be a Fernet key ({_NEW_FERNET_KEY})."
        ) from None
# Hosts the fetch may reach although they resolve to loopback or private addresses (on-premise
# HR servers; 127.0.0.1 and localhost in tests). Every other private address is refused.
# Requests one API token may make in a minute (importer/api.py); 0 for no limit.
API_RATE_LIMIT_PER_MINUTE = env_int("ROSTERSYNC_API_RATE_LIMIT_PER_MINUTE", 120)
REMOTE_ALLOWED_HOSTS = [host.lower() for host in env_list("ROSTERSYNC_REMOTE_ALLOWED_HOSTS", [])]
# A CA bundle that replaces the system's for remote fetches (tests, an on-premise private CA).
REMOTE_CA_BUNDLE = os.environ.get("ROSTERSYNC_REMOTE_CA_BUNDLE", "")
REMOTE_MAX_BYTES = env_int("ROSTERSYNC_REMOTE_MAX_BYTES", IMPORT_MAX_UPLOAD_BYTES)
# Seconds: to connect, to wait for each read, and for the whole download.
REMOTE_CONNECT_TIMEOUT = env_int("ROSTERSYNC_REMOTE_CONNECT_TIMEOUT", 10)
REMOTE_READ_TIMEOUT = env_int("ROSTERSYNC_REMOTE_READ_TIMEOUT", 30)
REMOTE_TOTAL_TIMEOUT = env_int("ROSTERSYNC_REMOTE_TOTAL_TIMEOUT", 120)
# Seconds Test connection may take in all: it holds a web process while the admin waits.
REMOTE_TEST_TIMEOUT = env_int("ROSTERSYNC_REMOTE_TEST_TIMEOUT", 10)
# The organization's admins are emailed when this many scheduled syncs in a row failed.
REMOTE_FAILURE_EMAIL_AFTER = env_int("ROSTERSYNC_REMOTE_FAILURE_EMAIL_AFTER", 3)

# ---------------------------------------------------------------------------------------------
# Webhooks and Slack (importer/webhooks.py): sent with the remote fetch's guard (above).
# Attempts at one delivery before it is given up (the waits between them: webhooks.RETRY_DELAYS).
WEBHOOK_MAX_ATTEMPTS = env_int("ROSTERSYNC_WEBHOOK_MAX_ATTEMPTS", 7)
# Failed attempts in a row (any deliveries) before an endpoint is paused and the admins emailed.
WEBHOOK_PAUSE_AFTER_FAILURES = env_int("ROSTERSYNC_WEBHOOK_PAUSE_AFTER_FAILURES", 10)
# Seconds one attempt may take in all.
WEBHOOK_TIMEOUT_SECONDS = env_int("ROSTERSYNC_WEBHOOK_TIMEOUT_SECONDS", 10)

# ---------------------------------------------------------------------------------------------
# Email
EMAIL_BACKEND = os.environ.get(
    "DJANGO_EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
DEFAULT_FROM_EMAIL = os.environ.get("DJANGO_DEFAULT_FROM_EMAIL", "rostersync@localhost")
# Scheme and host that links in emails start with (emails are sent outside any request).
# Unset, it is the address the web process binds to (WEB_BIND, as the Procfile uses it).
WEB_BIND = os.environ.get("WEB_BIND", "") or "127.0.0.1:8000"


def base_url_of_bind(bind: str) -> str:
    """Return the address a browser on this machine reaches gunicorn's `--bind HOST:PORT` at."""
    bind = bind.strip()
    if bind.startswith("unix:") or bind.startswith("fd://"):
        raise ImproperlyConfigured(
            f"WEB_BIND is {bind!r}, which no link can point to: set ROSTERSYNC_BASE_URL."
        )
    host, colon, port = bind.rpartition(":")
    if not colon or not port.isdigit():
        host, port = bind, "8000"  # gunicorn's own default port
    if host in ("", "0.0.0.0", "[::]", "::"):
        host = "127.0.0.1"  # Every address: this machine's is one of them.
    return f"http://{host}:{port}"


ROSTERSYNC_BASE_URL = (
    os.environ.get("ROSTERSYNC_BASE_URL", "") or base_url_of_bind(WEB_BIND)
).rstrip("/")
if not ROSTERSYNC_BASE_URL.startswith(("http://", "https://")):
    raise ImproperlyConfigured(
        f"ROSTERSYNC_BASE_URL must start with http:// or https://, not {ROSTERSYNC_BASE_URL!r}"
    )

# ---------------------------------------------------------------------------------------------
# Security
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_PROXY else None
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "INFO")},
    # One line per failed login is enough; axes logs three.
    "loggers": {"axes": {"level": os.environ.get("ROSTERSYNC_AXES_LOG_LEVEL", "WARNING")}},
}
