"""Settings for the Console, read from the environment (and `.env` if present).

Every knob is an environment variable read through `env()`, so production,
the local cluster and the test cluster differ only in their environment.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from dotenv import load_dotenv

BASE_DIR = Path(__file__).resolve().parent.parent
# ENV_FILE lets tests (and unusual deployments) read another file, or none.
load_dotenv(os.environ.get("ENV_FILE", BASE_DIR / ".env"), override=False)

T = TypeVar("T")


def _as_bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env(name: str, default: T, cast: Callable[[str], T] | None = None) -> T:
    """The environment variable `name`, converted like `default`."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    if cast is None:
        cast = _as_bool if isinstance(default, bool) else type(default)  # type: ignore[assignment]
    try:
        return cast(raw)  # type: ignore[misc]
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}={raw!r} is not valid: {exc}") from exc


def _as_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


DEBUG = env("DEBUG", False)
SECRET_KEY = env("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set SECRET_KEY in the environment or in .env "
            "(or set DEBUG=1 for local development, which uses a throwaway key)."
        )
    SECRET_KEY = "insecure-development-key-do-not-use-in-production"

ALLOWED_HOSTS = env("ALLOWED_HOSTS", ["127.0.0.1", "localhost"], _as_list)
CSRF_TRUSTED_ORIGINS: list[str] = env("CSRF_TRUSTED_ORIGINS", [], _as_list)

INSTALLED_APPS = [
    # unfold's templates must win over the admin's, and the admin's default
    # site is the console's own (unfold's site plus the operations pages).
    "unfold.apps.BasicAppConfig",
    "unfold.contrib.filters",
    "unfold.contrib.import_export",
    "console.apps.ConsoleAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # Before whitenoise's runserver, which its own `runserver` wraps (a clear
    # message when the database is down), and whose `migrate` is the safe one.
    "dbops",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    # Makes OpClass usable in indexes (the catalog's trigram indexes).
    "django.contrib.postgres",
    "django_extensions",
    # Before import_export: its `import` and `export` commands are the
    # console's (console/bulk), which stream through PostgreSQL.
    "console.bulk",
    "import_export",
    "django_tasks",
    "django_tasks_db",
    "axes",
    "csp",
    "catalog",
    "notes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # A NUL byte in a parameter is a 400 before any query sees it.
    "console.parameters.NulBytesMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    # Counts every query of the request, the routing middleware's own too.
    "dbops.ops.metrics.QueryCountMiddleware",
    # Outermost of the database-aware middleware: it opens the per-request
    # routing state before the session is read and records the write
    # position after the session is saved.
    "dbops.routing.middleware.RoutingMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a refused login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "console.urls"
WSGI_APPLICATION = "console.wsgi.application"
ASGI_APPLICATION = "console.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "console" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
            "libraries": {"bigtables": "console.bigtables.templatetags"},
        },
    },
]

# --- Databases --------------------------------------------------------------

LOCAL_CLUSTER_HOST = "127.0.0.1"
LOCAL_CLUSTER_PORTS = (55432, 55433)
LOCAL_DATABASE = "console"

CONN_MAX_AGE = env("CONN_MAX_AGE", 60)
# "transaction" when a transaction-pooling PgBouncer stands in front of the
# servers: a server-side cursor or a session-level SET would then land on
# whichever server connection the pooler hands out (README: behind PgBouncer).
DATABASE_POOLER = env("DATABASE_POOLER", "")
if DATABASE_POOLER not in {"", "transaction", "session"}:
    raise ImproperlyConfigured(
        f"DATABASE_POOLER={DATABASE_POOLER!r}: use 'transaction' (PgBouncer's "
        "pool_mode = transaction), 'session', or leave it unset."
    )
# Unreachable hosts that drop packets rather than refuse must fail in
# seconds, not after the OS's TCP timeout: /readyz and the router wait on it.
DATABASE_CONNECT_TIMEOUT = env("DATABASE_CONNECT_TIMEOUT", 2)
REPLICA_CONNECT_TIMEOUT = env("REPLICA_CONNECT_TIMEOUT", 2)


def _local_url(port: int) -> str:
    return f"postgres://postgres@{LOCAL_CLUSTER_HOST}:{port}/{LOCAL_DATABASE}"


def replica_alias(index: int) -> str:
    """`replica`, `replica_2`, `replica_3`, ... for the 1st, 2nd, 3rd replica."""
    return "replica" if index == 1 else f"replica_{index}"


def _host_list(url: str) -> tuple[str, list[tuple[str, str]]]:
    """libpq's form for several hosts, `postgres://user@h1:5432,h2:5433/db`,
    which dj-database-url cannot parse: the URL with its first host alone,
    and every (host, port)."""
    scheme, _, rest = url.partition("://")
    netloc, slash, path = rest.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    pairs = [host.rpartition(":")[::2] if ":" in host else (host, "")
             for host in hosts.split(",")]  # fmt: skip
    first = f"{pairs[0][0]}:{pairs[0][1]}" if pairs[0][1] else pairs[0][0]
    return f"{scheme}://{userinfo}{at}{first}{slash}{path}", pairs


def _database(url: str, *, replica: bool) -> dict[str, Any]:
    variable = "DATABASE_REPLICA_URLS" if replica else "DATABASE_URL"
    scheme = url.partition("://")[0]
    if scheme not in {"postgres", "postgresql"}:
        # Only PostgreSQL has the WAL positions the routing reads.
        raise ImproperlyConfigured(
            f"{variable}: {url!r} is not a PostgreSQL URL; write it as "
            "postgres://user:password@host:port/database"
        )
    single, hosts = _host_list(url)
    config: dict[str, Any] = dict(
        dj_database_url.parse(
            single, conn_max_age=CONN_MAX_AGE, conn_health_checks=True
        )
    )
    if len(hosts) > 1:
        # libpq tries the hosts in turn; with target_session_attrs=read-write
        # it takes the one that accepts writes, the current primary after a
        # failover manager (Patroni, ...) promoted a replica.
        config["HOST"] = ",".join(host for host, _ in hosts)
        config["PORT"] = ",".join(port or "5432" for _, port in hosts)
        config.setdefault("OPTIONS", {}).setdefault(
            "target_session_attrs", "read-write"
        )
    # PostgreSQL with the routing machinery: read-your-writes on the primary,
    # time limits and failover on replicas (dbops/routing/backend.py).
    config["ENGINE"] = "dbops.routing.backend"
    options = config.setdefault("OPTIONS", {})
    options.setdefault("application_name", "console")
    # A dead replica must be noticed sooner than the primary: the router
    # falls back to the primary in the same request.
    timeout = REPLICA_CONNECT_TIMEOUT if replica else DATABASE_CONNECT_TIMEOUT
    options.setdefault("connect_timeout", timeout)
    # A host that vanishes (no FIN, no RST) is noticed by the kernel: idle
    # connections by keepalives, unacknowledged sends by tcp_user_timeout.
    options.setdefault("keepalives", 1)
    options.setdefault("keepalives_idle", 10)
    options.setdefault("keepalives_interval", 2)
    options.setdefault("keepalives_count", 3)
    options.setdefault("tcp_user_timeout", timeout * 1000)
    if replica or DATABASE_POOLER == "transaction":
        # Every replica round trip is bounded by REPLICA_READ_TIMEOUT, which
        # a server-side cursor's fetches would escape, and a transaction
        # pooler breaks them (the cursor lives on one server connection, the
        # next FETCH may go to another): results are fetched whole.
        config["DISABLE_SERVER_SIDE_CURSORS"] = True
    return config


DATABASES = {
    "default": _database(
        env("DATABASE_URL", _local_url(LOCAL_CLUSTER_PORTS[0])), replica=False
    )
}
_replica_urls = env(
    "DATABASE_REPLICA_URLS", [_local_url(LOCAL_CLUSTER_PORTS[1])], _as_list
)
for _index, _url in enumerate(_replica_urls, start=1):
    DATABASES[replica_alias(_index)] = _database(_url, replica=True)

DATABASE_ROUTERS = ["dbops.routing.router.PrimaryReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth, i18n, static -----------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"django.contrib.auth.password_validation.{name}"}
    for name in (
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    )
]
LOGIN_URL = "admin:login"
# Without a ?next=, a login lands on the dashboard, not on a 404.
LOGIN_REDIRECT_URL = "admin:index"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# One date format on every page (console/formats/en/formats.py).
FORMAT_MODULE_PATH = ["console.formats"]

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
MEDIA_ROOT = BASE_DIR / "var" / "media"

# --- Security ---------------------------------------------------------------

# HTTPS defaults to the opposite of DEBUG: a deployment (DEBUG off) gets the
# redirect, HSTS and secure cookies without remembering any variable, and
# `make run` (DEBUG=1, plain http on 127.0.0.1) keeps working. A DEBUG-off
# server that really is plain http (the test suite, the benchmarks) says so
# with HTTPS=0; `manage.py check --deploy` then names what is off.
HTTPS = env("HTTPS", not DEBUG)
# Behind a proxy that ends TLS, Django sees http; the header the proxy sets
# (HTTP_X_FORWARDED_PROTO) tells it the client used https. Opt-in only: the
# header is trustworthy only if the proxy always overwrites it.
_PROXY_SSL_HEADER = env("SECURE_PROXY_SSL_HEADER", "")
SECURE_PROXY_SSL_HEADER = (_PROXY_SSL_HEADER, "https") if _PROXY_SSL_HEADER else None
SECURE_SSL_REDIRECT = env("SECURE_SSL_REDIRECT", HTTPS)
# Probes and scrapers call these on the server's own plain-http port; a
# redirect would fail them, and a token already sent is not saved by one.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env("SECURE_HSTS_SECONDS", 31_536_000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env("SECURE_HSTS_INCLUDE_SUBDOMAINS", HTTPS)
# The preload flag does nothing until someone submits the registrable domain
# to the browsers' list, a separate deliberate step.
SECURE_HSTS_PRELOAD = env("SECURE_HSTS_PRELOAD", HTTPS)
SESSION_COOKIE_SECURE = env("SESSION_COOKIE_SECURE", HTTPS)
CSRF_COOKIE_SECURE = env("CSRF_COOKIE_SECURE", HTTPS)
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy on every response (django-csp). No inline
# <script> anywhere in unfold, the admin or the console's templates, so
# scripts come only from this origin; but unfold's Alpine.js is the standard
# build, which compiles its x-data/x-init expressions with the Function
# constructor ('unsafe-eval'; the CSP build cannot run unfold's
# expressions). Styles need 'unsafe-inline': unfold writes style attributes,
# a <style> with the theme colours, and htmx adds its indicator <style>.
# Fonts, icons and images are unfold's own static files; nothing is loaded
# from another origin. tests/security/test_browser_csp.py holds it to that.
_CSP = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'", "'unsafe-eval'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "report-uri": env("CSP_REPORT_URI", "") or None,
    }
}
# Report-only lets a changed policy (an unfold upgrade) be watched first.
if env("CSP_REPORT_ONLY", False):
    CONTENT_SECURITY_POLICY_REPORT_ONLY = _CSP
else:
    CONTENT_SECURITY_POLICY = _CSP

# Login throttle (django-axes): LOGIN_FAILURE_LIMIT failed logins for one
# username from one address lock that pair out for LOGIN_COOLOFF_MINUTES,
# even with the right password; other users and addresses are unaffected.
# Attempts are counted in the database, shared by all workers. They are
# written to the primary and, because the login is a POST, read back from it
# too (dbops routes every read of a non-GET request to the primary), so a
# lagging replica cannot undercount them.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env("LOGIN_COOLOFF_MINUTES", 15.0))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "console.security.lockout_response"
AXES_CLIENT_IP_CALLABLE = "console.security.client_ip"
# The META key of the client address set by the trusted proxy, e.g.
# HTTP_X_REAL_IP or HTTP_X_FORWARDED_FOR; empty means REMOTE_ADDR.
LOGIN_CLIENT_IP_HEADER = env("LOGIN_CLIENT_IP_HEADER", "")
# Only failures are kept: a row per successful login would grow forever.
# Locks are lifted with `manage.py axes_reset_username <name>`; axes's own
# admin pages are off because they do not follow unfold's look.
AXES_DISABLE_ACCESS_LOG = True
AXES_ENABLE_ADMIN = False
# No start-up banner on every command; failures are still logged (warning),
# with the username and address masked.
AXES_VERBOSE = False

# --- Logging ----------------------------------------------------------------

# Request and routing events are JSON lines (one per request, one per
# replica going down or up), for log pipelines; the rest is plain text.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {
                "asctime": "time",
                "levelname": "level",
                "name": "logger",
            },
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler"},
        "json": {"class": "logging.StreamHandler", "formatter": "json"},
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {
        "dbops.requests": {"handlers": ["json"], "level": "INFO", "propagate": False},
        "dbops.routing": {"handlers": ["json"], "level": "INFO", "propagate": False},
        # runserver's own line per request would repeat dbops.requests' (which
        # also says where the reads went); its errors still show.
        "django.server": {
            "handlers": ["console"],
            "level": "ERROR",
            "propagate": False,
        },
    },
}

# --- Migrations (dbops/ops/lock_retries.py) ------------------------------------

# Each atomic migration waits at most this long (seconds) for each lock,
# doubling on each of the attempts (up to 5 s), before it gives up.
MIGRATION_LOCK_TIMEOUT = env("MIGRATION_LOCK_TIMEOUT", 0.1)
MIGRATION_LOCK_ATTEMPTS = env("MIGRATION_LOCK_ATTEMPTS", 8)

# --- Replica routing (see dbops/routing/conf.py) ------------------------------

REPLICA_MAX_LAG_SECONDS = env("REPLICA_MAX_LAG_SECONDS", 5.0)
REPLICA_MAX_LAG_BYTES = env("REPLICA_MAX_LAG_BYTES", 16 * 1024 * 1024)
REPLICA_RETRY_SECONDS = env("REPLICA_RETRY_SECONDS", 30.0)
# A replica that does not answer one round trip within this many seconds is
# given up for that read (the primary serves it) and marked down.
REPLICA_READ_TIMEOUT = env("REPLICA_READ_TIMEOUT", 2.0)
# How old the process's shared replica state may be: at most one check of
# the primary and of each replica per process per interval.
REPLICA_CHECK_INTERVAL = env("REPLICA_CHECK_INTERVAL", 1.0)
READ_YOUR_WRITES_MAX_AGE = env("READ_YOUR_WRITES_MAX_AGE", 60.0)
METRICS_TOKEN = env("METRICS_TOKEN", "")
# Query counters are shared by all server processes through files here
# (prometheus_client's multiprocess mode). It must be set before
# prometheus_client is first imported, hence here.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(BASE_DIR / "var" / "metrics"))
Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)

# --- CSV import and export (console/bulk) ----------------------------------------

# One cache for every worker: the database (table made by `createcachetable`).
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "console_cache",
        "OPTIONS": {"MAX_ENTRIES": 1000},
    }
}
IMPORT_EXPORT_USE_TRANSACTIONS = True
IMPORT_EXPORT_CHUNK_SIZE = 2000
# The resources escape formulae themselves (all of = + - @ tab CR, with a
# leading apostrophe); the library's switch only strips a leading "=".
IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT = False
IMPORT_MAX_UPLOAD_BYTES = env("IMPORT_MAX_UPLOAD_BYTES", 200 * 1024 * 1024)
# Confirmed imports of more rows than this run as background jobs
# (console/bulk/jobs.py); smaller ones are merged within the request.
IMPORT_JOB_ROWS = env("IMPORT_JOB_ROWS", 20_000)
# Each job worker records a heartbeat this often (console/bulk/workers.py);
# one silent for JOB_WORKER_STALE_SECONDS is gone, and the jobs it ran are
# marked failed by the other workers (or by itself once it is back).
JOB_WORKER_HEARTBEAT_SECONDS = env("JOB_WORKER_HEARTBEAT_SECONDS", 5.0)
JOB_WORKER_STALE_SECONDS = env("JOB_WORKER_STALE_SECONDS", 30.0)
# A job merges this many rows per statement; between two it writes its
# progress, acts on a cancel and waits while a replica is over the lag limit
# (polling every IMPORT_THROTTLE_POLL seconds, for IMPORT_THROTTLE_MAX_WAIT
# at most, after which it goes on).
IMPORT_BATCH_ROWS = env("IMPORT_BATCH_ROWS", 10_000)
IMPORT_THROTTLE_POLL = env("IMPORT_THROTTLE_POLL", 0.5)
IMPORT_THROTTLE_MAX_WAIT = env("IMPORT_THROTTLE_MAX_WAIT", 600.0)
# The job engine: django-tasks with its database backend, on the primary.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
# XLSX and JSON exports are built in memory; CSV streams and has no limit.
EXPORT_MAX_IN_MEMORY_ROWS = env("EXPORT_MAX_IN_MEMORY_ROWS", 100_000)

# --- Admin theme --------------------------------------------------------------

from console.unfold import UNFOLD  # noqa: E402,F401

# --- Development: django-debug-toolbar, with the Routing panel ---------------

# Installed with requirements-dev.txt; on with DEBUG (DEBUG_TOOLBAR=0: off).
# Its Routing panel (dbops/routing/toolbar.py) shows, for each query of the
# page, the alias that served it and why.
DEBUG_TOOLBAR = bool(
    env("DEBUG_TOOLBAR", DEBUG) and importlib.util.find_spec("debug_toolbar")
)
if DEBUG_TOOLBAR:
    from debug_toolbar.settings import PANELS_DEFAULTS

    INSTALLED_APPS.append("debug_toolbar")
    # Inside the query counting, outside the routing: it sees every query.
    MIDDLEWARE.insert(
        MIDDLEWARE.index("dbops.ops.metrics.QueryCountMiddleware") + 1,
        "debug_toolbar.middleware.DebugToolbarMiddleware",
    )
    INTERNAL_IPS = ["127.0.0.1"]
    DEBUG_TOOLBAR_PANELS = [
        *PANELS_DEFAULTS[:3],
        "dbops.routing.toolbar.RoutingPanel",
        *PANELS_DEFAULTS[3:],
    ]
