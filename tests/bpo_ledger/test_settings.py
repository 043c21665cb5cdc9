"""The production profile refuses to start without its secrets and passes Django's deploy checks."""

import os
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]


def run_django(args, **env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "FIELD_", "LOOKUP_"))}
    clean.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120
    )


PRODUCTION_ENV = {
    "DJANGO_ENV": "production",
    "DJANGO_SECRET_KEY": "x7#" + "k" * 60 + "q!9Z",
    "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    "LOOKUP_HASH_KEY": "lookup-" + "z" * 40,
    "DJANGO_ALLOWED_HOSTS": "ledger.example.com",
}


def test_production_refuses_to_start_without_a_secret_key():
    env = dict(PRODUCTION_ENV)
    del env["DJANGO_SECRET_KEY"]
    result = run_django(["check"], **env)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set: production refuses to start without a secret key" in result.stderr


def test_production_refuses_to_start_without_encryption_keys():
    env = dict(PRODUCTION_ENV)
    del env["FIELD_ENCRYPTION_KEYS"]
    result = run_django(["check"], **env)
    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEYS and LOOKUP_HASH_KEY must be set" in result.stderr


def test_production_refuses_debug():
    result = run_django(["check"], **PRODUCTION_ENV, DJANGO_DEBUG="1")
    assert result.returncode != 0
    assert "DJANGO_DEBUG must be off" in result.stderr


def test_check_deploy_is_clean_in_production():
    result = run_django(["check", "--deploy", "--fail-level", "WARNING"], **PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_development_starts_without_any_secret():
    result = run_django(["check"], DJANGO_ENV="development")
    assert result.returncode == 0, result.stderr


def test_the_bounds_on_schedules_come_from_the_environment():
    show = "from django.conf import settings as s; print(s.SCHEDULE_DATE_MIN, s.SCHEDULE_DATE_MAX, s.SCHEDULE_MAX_PAYMENTS)"
    result = run_django(["shell", "-c", show], DJANGO_ENV="development")
    assert result.stdout.splitlines()[-1].split() == ["1990-01-01", "2100-12-31", "600"], result.stderr
    result = run_django(
        ["shell", "-c", show], DJANGO_ENV="development",
        SCHEDULE_DATE_MIN="2000-01-01", SCHEDULE_DATE_MAX="2060-12-31", SCHEDULE_MAX_PAYMENTS="360",
    )
    assert result.stdout.splitlines()[-1].split() == ["2000-01-01", "2060-12-31", "360"], result.stderr


def test_bounds_that_make_no_sense_stop_the_start():
    result = run_django(["check"], DJANGO_ENV="development", SCHEDULE_DATE_MIN="1990-13-01")
    assert result.returncode != 0
    assert "SCHEDULE_DATE_MIN must be a date such as 1990-01-01, not '1990-13-01'" in result.stderr
    result = run_django(["check"], DJANGO_ENV="development", SCHEDULE_DATE_MIN="2101-01-01")
    assert result.returncode != 0
    assert "SCHEDULE_DATE_MIN must come before SCHEDULE_DATE_MAX" in result.stderr
