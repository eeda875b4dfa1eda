"""dciserver settings, read from the environment.

Every knob an operator may turn is an environment variable with a typed helper;
the defaults suit a developer's machine.
"""

import os
from pathlib import Path

import dj_database_url
import orjson
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name, default=""):
    return os.environ.get(name, default)


def env_bool(name, default=False):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def env_int(name, default):
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def env_float(name, default):
    value = os.environ.get(name)
    return float(value) if value not in (None, "") else default


def env_list(name, default=""):
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
# A developer's machine (`make run`, `make test`): a public secret key and demo users are allowed.
DCI_DEV = env_bool("DCI_DEV", False)

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    # DEBUG is no licence for the public key: a production host with DEBUG on by mistake must not
    # sign its sessions and CSRF tokens with a key anyone can read in this file.
    if not DCI_DEV:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set (DCI_DEV=1 allows a development key on a developer's machine)."
        )
    SECRET_KEY = "dciserver-development-only-secret-key-do-not-use-in-production"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1],testserver")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "axes",
    # Swagger UI's scripts and styles, served from here: /api/docs/ works without the internet.
    "drf_spectacular_sidecar",
    "dciserver",
    "teams",
    "jobs",
    "files",
    "events",
    "dashboard",
    # The tasks framework (Django 6's, backported) and its database backend: events' deliveries.
    "django_tasks",
    "django_tasks_db",
]

MIDDLEWARE = [
    # Outermost: every request counted, with its latency, whatever answers it (SPEC §16).
    "dciserver.metrics.MetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # The admin's and the browsable API's CSS and the bundled Swagger UI, from STATIC_ROOT
    # (filled by collectstatic), without a web server in front.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "dciserver.api.middleware.APIErrorMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "dciserver.api.middleware.CrossSiteWriteMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as axes asks: it turns a locked-out admin login into the page that says so.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "dciserver.urls"
WSGI_APPLICATION = "dciserver.wsgi.application"
# The DCI routes answer with and without a trailing slash; no redirects.
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

if not env_str("DATABASE_URL"):
    raise ImproperlyConfigured(
        "DATABASE_URL is not set. Run through `make run` / `make test` / `make manage ARGS=...`, or "
        "`python -m dciserver.devdb manage <command>` to start an embedded PostgreSQL."
    )
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL"),
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = env_int("DB_CONNECT_TIMEOUT", 5)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "teams.User"
# User names are unique among live users (a partial unique constraint), so an
# archived user's name can be taken again; the name backend reads live users only.
SILENCED_SYSTEM_CHECKS = ["auth.W004"]
# Axes first: a login locked out by failures is refused before the password hasher runs.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "teams.backends.NameBackend"]
PASSWORD_HASHERS = env_list(
    "PASSWORD_HASHERS",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
)

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "dciserver",
        "OPTIONS": {"MAX_ENTRIES": 10000},
    }
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "var" / "static")))

# Request bodies: uploads stream past Django's in-memory limit; JSON bodies do not.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 10 * 1024 * 1024)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "dciserver.api.authentication.SignatureAuthentication",
        "dciserver.api.authentication.CachedBasicAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": [
        # The same JSON as DRF's renderer, encoded by orjson (a list page's encoding cost, a tenth).
        "drf_orjson_renderer.renderers.ORJSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    # A JSON body must say so (dciserver.api.parsers.JSONContentNegotiation); the upload routes,
    # whose bodies are raw bytes or JSON whatever they claim, use their own parser.
    "DEFAULT_PARSER_CLASSES": ["dciserver.api.parsers.JSONObjectParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "dciserver.api.parsers.JSONContentNegotiation",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "EXCEPTION_HANDLER": "dciserver.api.exceptions.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "dciserver.api.schema.DCIAutoSchema",
    "UNAUTHENTICATED_USER": None,
    "DATETIME_FORMAT": "%Y-%m-%dT%H:%M:%S.%f",
    # Validation errors of list items are keyed by index (int keys), as DRF's renderer writes them.
    "ORJSON_RENDERER_OPTIONS": (orjson.OPT_NON_STR_KEYS,),
}

SPECTACULAR_SETTINGS = {
    "TITLE": "dciserver",
    "DESCRIPTION": "Distributed CI control server, DCI REST API v1.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "PREPROCESSING_HOOKS": ["dciserver.api.schema.without_optional_slashes"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "dciserver.api.schema.unsupported_media_type",
    ],
    "SCHEMA_PATH_PREFIX": "/api/v1",
    # Two choice sets named ``status``: a job's and a job event's (the final ones).
    "ENUM_NAME_OVERRIDES": {
        "JobStatusEnum": "jobs.models.Status",
        "JobEventStatusEnum": "jobs.models.EVENT_STATUSES",
        "StateEnum": "dciserver.models.BaseModel.State",
        "TestCaseStateEnum": "files.models.TestCase.State",
        "TestResultEnum": "files.models.TestCase.Result",
    },
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
}

# DCI settings (SPEC §8).
DCI_FILES_ROOT = Path(env_str("DCI_FILES_ROOT", str(BASE_DIR / "var" / "files")))
DCI_MAX_UPLOAD_SIZE = env_int("DCI_MAX_UPLOAD_SIZE", 1024 * 1024 * 1024)
DCI_INLINE_CONTENT_MAX = env_int("DCI_INLINE_CONTENT_MAX", 64 * 1024)
DCI_SCHEDULE_KILLS_UNFINISHED = env_bool("DCI_SCHEDULE_KILLS_UNFINISHED", True)
# The dashboard (SPEC §16): its sign-in page, where signing in and out lead, and how long a
# running job may stay silent before its remoteci is flagged stale.
LOGIN_URL = "dashboard-login"
LOGIN_REDIRECT_URL = "dashboard-jobs"
LOGOUT_REDIRECT_URL = "dashboard-login"
DCI_STALE_AFTER = env_int("DCI_STALE_AFTER", 3600)
# The matrix shows the lines that ran in the last DCI_MATRIX_DAYS days.
DCI_MATRIX_DAYS = env_int("DCI_MATRIX_DAYS", 30)
# /metrics (Prometheus): open, or for ``Authorization: Bearer <DCI_METRICS_TOKEN>`` only when set.
DCI_METRICS_TOKEN = env_str("DCI_METRICS_TOKEN", "")
# Flaky tests (SPEC §15): a test whose outcome changed DCI_FLAKY_FLIPS times in the last
# DCI_FLAKY_RUNS runs of its line (K and N), or that both passed and failed on one component set
# within them.
DCI_FLAKY_FLIPS = env_int("DCI_FLAKY_FLIPS", 3)
DCI_FLAKY_RUNS = env_int("DCI_FLAKY_RUNS", 20)
if not (1 <= DCI_FLAKY_FLIPS < DCI_FLAKY_RUNS <= 255):
    raise ImproperlyConfigured("DCI_FLAKY_FLIPS and DCI_FLAKY_RUNS need 1 <= flips < runs <= 255.")


# Events out (SPEC §17). Deliveries are tasks of Django's tasks framework, kept in PostgreSQL
# (django-tasks-db) and run by `manage.py events_worker`, as many as wanted, on any machine.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
# A failed attempt is tried again after DCI_EVENTS_RETRY_BASE * 2^(n-1) seconds (at most
# DCI_EVENTS_RETRY_CAP), jittered between half and all of it; after DCI_EVENTS_MAX_ATTEMPTS
# attempts the delivery is failed (a manual redelivery gives it as many again).
DCI_EVENTS_RETRY_BASE = env_float("DCI_EVENTS_RETRY_BASE", 10.0)
DCI_EVENTS_RETRY_CAP = env_float("DCI_EVENTS_RETRY_CAP", 3600.0)
DCI_EVENTS_MAX_ATTEMPTS = env_int("DCI_EVENTS_MAX_ATTEMPTS", 10)
# A webhook's answer is awaited this long (seconds).
DCI_WEBHOOK_TIMEOUT = env_float("DCI_WEBHOOK_TIMEOUT", 10.0)
# How often a worker looks for the work of workers that died with it (seconds), and how long
# a task may have been claimed without its row being held before its worker is taken for dead.
DCI_EVENTS_RECOVER_EVERY = env_float("DCI_EVENTS_RECOVER_EVERY", 30.0)
DCI_EVENTS_CLAIM_GRACE = env_float("DCI_EVENTS_CLAIM_GRACE", 10.0)
# Job events also published to this AMQP broker's topic exchange, when set.
DCI_AMQP_URL = env_str("DCI_AMQP_URL")
DCI_AMQP_EXCHANGE = env_str("DCI_AMQP_EXCHANGE", "dci")
# Links in the mails and payloads point here (the dashboard's address as people reach it).
DCI_PUBLIC_URL = env_str("DCI_PUBLIC_URL", "http://127.0.0.1:5000").rstrip("/")

# Mail to the people following a job (SPEC §17): SMTP in production, the console on a
# developer's machine (`make run`).
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend" if DCI_DEV else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "dci@localhost")

# Where the bytes of uploaded files go (SPEC §6, docs/files.md): the local filesystem under
# DCI_FILES_ROOT, or an S3-compatible object store. Credentials come the boto3 way
# (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY in the environment, or an instance role).
DCI_FILES_STORAGE = env_str("DCI_FILES_STORAGE", "filesystem")
if DCI_FILES_STORAGE == "filesystem":
    _DCI_FILES_BACKEND = {"BACKEND": "files.storage.FilesRootStorage"}
elif DCI_FILES_STORAGE == "s3":
    if not env_str("DCI_S3_BUCKET"):
        raise ImproperlyConfigured("DCI_FILES_STORAGE=s3 needs DCI_S3_BUCKET.")
    _DCI_FILES_BACKEND = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env_str("DCI_S3_BUCKET"),
            "endpoint_url": env_str("DCI_S3_ENDPOINT_URL") or None,
            "region_name": env_str("DCI_S3_REGION") or None,
            "location": env_str("DCI_S3_PREFIX"),
            # "path" for MinIO and other stores without virtual-host buckets.
            "addressing_style": env_str("DCI_S3_ADDRESSING_STYLE") or None,
            # Reads spool to disk past this size; django-storages' default (0) keeps a whole object in memory.
            "max_memory_size": 1024 * 1024,
        },
    }
else:
    raise ImproperlyConfigured(f"DCI_FILES_STORAGE must be 'filesystem' or 's3', not {DCI_FILES_STORAGE!r}.")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "dcifiles": _DCI_FILES_BACKEND,
}

# How long verified Basic credentials are remembered, in seconds.
DCI_AUTH_CACHE_SECONDS = env_int("DCI_AUTH_CACHE_SECONDS", 300)
# The wire of requests that say nothing of their client (SPEC §9): "seed" (curl, the seed's
# examples) or "modern" (as the 2025 server answers).
DCI_DEFAULT_WIRE = os.environ.get("DCI_DEFAULT_WIRE", "seed")
if DCI_DEFAULT_WIRE not in ("seed", "modern"):
    raise ImproperlyConfigured(f"DCI_DEFAULT_WIRE must be seed or modern, not {DCI_DEFAULT_WIRE!r}")
# Finds the agent a signature names: (client type, id) → the principal, or None (SPEC §10).
DCI_SIGNING_AGENT = "teams.models.signing_agent"
# Brute force (django-axes, dciserver/api/throttling.py): failed logins allowed per (name, client
# address) and per client address within the window (seconds), for Basic and the admin's login.
DCI_LOGIN_FAILURE_LIMIT = env_int("DCI_LOGIN_FAILURE_LIMIT", 10)
DCI_LOGIN_ADDRESS_FAILURE_LIMIT = env_int("DCI_LOGIN_ADDRESS_FAILURE_LIMIT", 50)
DCI_LOGIN_FAILURE_WINDOW = env_int("DCI_LOGIN_FAILURE_WINDOW", 300)
# How many reverse proxies stand in front of gunicorn, each appending to X-Forwarded-For: the
# client's address is the Nth hop from the right. 0: the header is ignored (the peer is the client).
DCI_TRUSTED_PROXIES = env_int("DCI_TRUSTED_PROXIES", 0)
if env_bool("DCI_TRUST_X_FORWARDED_FOR", False):
    raise ImproperlyConfigured(
        "DCI_TRUST_X_FORWARDED_FOR is gone: set DCI_TRUSTED_PROXIES to the number of proxies in front of dciserver."
    )
AXES_HANDLER = "dciserver.api.throttling.LoginFailureHandler"
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]
AXES_FAILURE_LIMIT = "dciserver.api.throttling.failure_limit"
AXES_COOLOFF_TIME = "dciserver.api.throttling.cool_off"
AXES_CLIENT_IP_CALLABLE = "dciserver.api.throttling.client_address"
AXES_USERNAME_FORM_FIELD = "username"
AXES_USERNAME_CALLABLE = "dciserver.api.throttling.login_name"
AXES_LOCKOUT_CALLABLE = "dciserver.api.throttling.lockout_response"
# A refused attempt during a lock-out is not counted: the lock lifts a window after the last real failure.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# The attempts stay out of the admin (the admin lists DCI's own tables); `manage.py axes_list_attempts`
# shows them and `manage.py axes_reset_ip` / `axes_reset_username` lift a lock-out.
AXES_ENABLE_ADMIN = False
AXES_VERBOSE = False

# CORS for the DCI web UI: it reads the ETag header and sends If-Match.
CORS_URLS_REGEX = r"^/api/.*$"
CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS")
CORS_ALLOW_ALL_ORIGINS = env_bool("CORS_ALLOW_ALL_ORIGINS", False)
# Off unless configured: the UI sends its Authorization header itself, and credentials the browser
# holds (cookies, cached Basic passwords) must not ride along on another site's requests.
CORS_ALLOW_CREDENTIALS = env_bool("CORS_ALLOW_CREDENTIALS", False)
CORS_EXPOSE_HEADERS = ["ETag", "Content-Disposition", "Retry-After"]
CORS_ALLOW_HEADERS = [
    "accept",
    "authorization",
    "content-type",
    "user-agent",
    "x-csrftoken",
    "x-requested-with",
    "if-match",
    "if-none-match",
    "etag",
    "client-version",
    "dci-name",
    "dci-mime",
    "dci-job-id",
    "dci-jobstate-id",
    "dci-md5",
]

# Production hardening: on unless DEBUG or a development setup; each can be turned off.
_PRODUCTION = not DEBUG and not DCI_DEV
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", _PRODUCTION)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", _PRODUCTION)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", _PRODUCTION)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if _PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", _PRODUCTION)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", _PRODUCTION)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
if env_bool("DCI_BEHIND_TLS_PROXY", _PRODUCTION):
    # The TLS-terminating proxy in front of gunicorn says so in this header.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# The health check is for load balancers talking plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
