"""Production's settings pass `manage.py check --deploy`, all from the
environment, and the security switches follow HTTPS.

Each check runs in a fresh interpreter with exactly the environment given
(no `.env`), the way a deployment starts the console.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings

PROJECT = Path(__file__).resolve().parent.parent.parent
PRODUCTION_SECRET_KEY = "k7#Qv!m2Zr9@Lp4^Wt8&Xs1*Nd6(Hb3)Jf5_Gc0+Ye-Ua=Io~Ek;Ra"


def production_env(**overrides: str) -> dict[str, str]:
    """The documented production environment, pointed at the test pair.

    `check --deploy` itself needs no database; the URLs only have to parse.
    """
    primary = settings.DATABASES["default"]
    replica = settings.DATABASES["replica"]

    def url(config: dict) -> str:
        return (
            f"postgres://console:S3cretPw@{config['HOST']}:{config['PORT']}"
            f"/{config['NAME']}"
        )

    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/root"),
        "ENV_FILE": os.devnull,
        "DJANGO_SETTINGS_MODULE": "console.settings",
        "PROMETHEUS_MULTIPROC_DIR": os.environ["PROMETHEUS_MULTIPROC_DIR"],
        "DEBUG": "0",
        "SECRET_KEY": PRODUCTION_SECRET_KEY,
        "ALLOWED_HOSTS": "console.example.com",
        "CSRF_TRUSTED_ORIGINS": "https://console.example.com",
        "HTTPS": "1",
        "SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO",
        "DATABASE_URL": url(primary),
        "DATABASE_REPLICA_URLS": url(replica),
        "METRICS_TOKEN": "scraper-token-for-tests",
    }
    env.update(overrides)
    return env


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def loaded_settings(env: dict[str, str], *names: str) -> dict:
    """The named settings as console.settings computes them from `env`."""
    code = (
        "import json, django; django.setup(); from django.conf import settings;"
        f"print(json.dumps({{n: getattr(settings, n) for n in {list(names)!r}}},"
        " default=str))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_check_deploy_production_env_is_clean():
    """`check --deploy --fail-level WARNING` reports nothing in production."""
    result = manage(
        "check", "--deploy", "--fail-level", "WARNING", env=production_env()
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_https_default_follows_debug():
    """Without HTTPS set, DEBUG off alone turns every HTTPS switch on."""
    env = production_env()
    del env["HTTPS"]
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_deploy_plain_http_is_reported():
    """HTTPS=0 in production is named by the check, switch by switch."""
    result = manage(
        "check", "--deploy", "--fail-level", "WARNING", env=production_env(HTTPS="0")
    )
    assert result.returncode != 0
    for check_id in ("W004", "W008", "W012", "W016"):
        assert f"security.{check_id}" in result.stderr + result.stdout


def test_settings_https_turns_on_the_switches():
    """HTTPS on: redirect (health endpoints exempt), a year of HSTS, secure
    cookies; the proxy header only when named."""
    values = loaded_settings(
        production_env(),
        "SECURE_SSL_REDIRECT",
        "SECURE_REDIRECT_EXEMPT",
        "SECURE_HSTS_SECONDS",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SECURE_PROXY_SSL_HEADER",
        "X_FRAME_OPTIONS",
    )
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SECURE_HSTS_SECONDS"] == 31_536_000
    assert values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert values["SESSION_COOKIE_SECURE"] is True
    assert values["CSRF_COOKIE_SECURE"] is True
    assert values["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert values["X_FRAME_OPTIONS"] == "DENY"
    assert set(values["SECURE_REDIRECT_EXEMPT"]) == {
        r"^healthz$",
        r"^readyz$",
        r"^metrics$",
    }


def test_settings_debug_keeps_local_http_working():
    """`make run` (DEBUG=1, plain http): no redirect, HSTS or secure cookies,
    and no proxy header trusted."""
    env = production_env(DEBUG="1")
    for name in ("HTTPS", "SECURE_PROXY_SSL_HEADER"):
        del env[name]
    values = loaded_settings(
        env,
        "SECURE_SSL_REDIRECT",
        "SECURE_HSTS_SECONDS",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SECURE_PROXY_SSL_HEADER",
    )
    assert values == {
        "SECURE_SSL_REDIRECT": False,
        "SECURE_HSTS_SECONDS": 0,
        "SESSION_COOKIE_SECURE": False,
        "CSRF_COOKIE_SECURE": False,
        "SECURE_PROXY_SSL_HEADER": None,
    }


def test_settings_login_throttle_from_env():
    """LOGIN_FAILURE_LIMIT and LOGIN_COOLOFF_MINUTES set the throttle."""
    values = loaded_settings(
        production_env(LOGIN_FAILURE_LIMIT="7", LOGIN_COOLOFF_MINUTES="2.5"),
        "AXES_FAILURE_LIMIT",
        "AXES_COOLOFF_TIME",
    )
    assert values == {"AXES_FAILURE_LIMIT": 7, "AXES_COOLOFF_TIME": "0:02:30"}


def test_settings_csp_report_only_from_env():
    """CSP_REPORT_ONLY moves the policy to the report-only header, with the
    CSP_REPORT_URI."""
    values = loaded_settings(
        production_env(CSP_REPORT_ONLY="1", CSP_REPORT_URI="/csp-reports"),
        "CONTENT_SECURITY_POLICY_REPORT_ONLY",
    )
    directives = values["CONTENT_SECURITY_POLICY_REPORT_ONLY"]["DIRECTIVES"]
    assert directives["report-uri"] == "/csp-reports"
