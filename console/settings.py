"""Settings for the Console, read from the environment (and `.env` if present).

Every knob is an environment variable read through `env()`, so production,
the local cluster and the test cluster differ only in their environment.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

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
CSRF_TRUSTED_ORIGINS = env("CSRF_TRUSTED_ORIGINS", [], _as_list)

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
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    # Makes OpClass usable in indexes (the catalog's trigram indexes).
    "django.contrib.postgres",
    "django_extensions",
    "import_export",
    "dbops",
    "catalog",
    "notes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Counts every query of the request, the routing middleware's own too.
    "dbops.metrics.QueryCountMiddleware",
    # Outermost of the database-aware middleware: it opens the per-request
    # routing state before the session is read and records the write
    # position after the session is saved.
    "dbops.middleware.RoutingMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
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
        },
    },
]

# --- Databases --------------------------------------------------------------

LOCAL_CLUSTER_HOST = "127.0.0.1"
LOCAL_CLUSTER_PORTS = (55432, 55433)
LOCAL_DATABASE = "console"

CONN_MAX_AGE = env("CONN_MAX_AGE", 60)
# Unreachable hosts that drop packets rather than refuse must fail in
# seconds, not after the OS's TCP timeout: /readyz and the router wait on it.
DATABASE_CONNECT_TIMEOUT = env("DATABASE_CONNECT_TIMEOUT", 5)
REPLICA_CONNECT_TIMEOUT = env("REPLICA_CONNECT_TIMEOUT", 2)


def _local_url(port: int) -> str:
    return f"postgres://postgres@{LOCAL_CLUSTER_HOST}:{port}/{LOCAL_DATABASE}"


def replica_alias(index: int) -> str:
    """`replica`, `replica_2`, `replica_3`, ... for the 1st, 2nd, 3rd replica."""
    return "replica" if index == 1 else f"replica_{index}"


def _database(url: str, *, replica: bool) -> dict:
    config = dj_database_url.parse(
        url, conn_max_age=CONN_MAX_AGE, conn_health_checks=True
    )
    options = config.setdefault("OPTIONS", {})
    options.setdefault("application_name", "console")
    # A dead replica must be noticed sooner than the primary: the router
    # falls back to the primary in the same request.
    timeout = REPLICA_CONNECT_TIMEOUT if replica else DATABASE_CONNECT_TIMEOUT
    options.setdefault("connect_timeout", timeout)
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

DATABASE_ROUTERS = ["dbops.router.PrimaryReplicaRouter"]
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
    },
}

# --- Replica routing (see dbops/conf.py) --------------------------------------

REPLICA_MAX_LAG_SECONDS = env("REPLICA_MAX_LAG_SECONDS", 5.0)
REPLICA_MAX_LAG_BYTES = env("REPLICA_MAX_LAG_BYTES", 16 * 1024 * 1024)
REPLICA_RETRY_SECONDS = env("REPLICA_RETRY_SECONDS", 30.0)
READ_YOUR_WRITES_MAX_AGE = env("READ_YOUR_WRITES_MAX_AGE", 60.0)
METRICS_TOKEN = env("METRICS_TOKEN", "")
# Query counters are shared by all server processes through files here
# (prometheus_client's multiprocess mode). It must be set before
# prometheus_client is first imported, hence here.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(BASE_DIR / "var" / "metrics"))
Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)

# --- CSV import and export (catalog/importing.py) -----------------------------

# One cache for every worker: the database (table made by `createcachetable`).
# It holds an upload between the import preview and its confirm, which
# another worker may serve.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "console_cache",
        "OPTIONS": {"MAX_ENTRIES": 1000},
    }
}
IMPORT_EXPORT_TMP_STORAGE_CLASS = "catalog.importing.UploadStorage"
IMPORT_EXPORT_USE_TRANSACTIONS = True
IMPORT_EXPORT_CHUNK_SIZE = 2000
# The resources escape formulae themselves (all of = + - @ tab CR, with a
# leading apostrophe); the library's switch only strips a leading "=".
IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT = False
IMPORT_MAX_UPLOAD_BYTES = env("IMPORT_MAX_UPLOAD_BYTES", 25 * 1024 * 1024)
# XLSX and JSON exports are built in memory; CSV streams and has no limit.
EXPORT_MAX_IN_MEMORY_ROWS = env("EXPORT_MAX_IN_MEMORY_ROWS", 100_000)

# --- Admin theme --------------------------------------------------------------

from console.unfold import UNFOLD  # noqa: E402,F401
