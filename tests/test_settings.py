"""Settings are read once per process, so each case starts a fresh interpreter with its environment."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from infra import env

PRINT = (
    "import json, django; from django.conf import settings as s; "
    "print(json.dumps({'redis': s.REDIS_URL, 'cache': s.CACHES['default']['LOCATION'], "
    "'layer': s.CHANNEL_LAYERS['default']['CONFIG']['hosts'][0]['address'], 'db': s.DATABASES['default']['ENGINE'], "
    "'debug': s.DEBUG, 'hosts': s.ALLOWED_HOSTS, 'csrf': s.CSRF_TRUSTED_ORIGINS, 'sentry_env': s.SENTRY_ENVIRONMENT, "
    "'traces': s.SENTRY_TRACES_SAMPLE_RATE}))"
)
STRONG_KEY = "k" * 20 + "0123456789abcdefghijklmnopqrstuvwxyz"
BASE_DIR = Path(__file__).resolve().parent.parent
BASE_ENV = {"PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "convonet_site.settings", "DEBUG": "1"}


def load(**variables: str) -> subprocess.CompletedProcess:
    environment = {**BASE_ENV, **variables}
    return subprocess.run([sys.executable, "-c", PRINT], env=environment, capture_output=True, text=True, timeout=60)


def settings_with(**variables: str) -> dict:
    result = load(**variables)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def error_of(**variables: str) -> str:
    result = load(**variables)
    assert result.returncode != 0
    return result.stderr.strip().splitlines()[-1]


def test_it_defaults_to_local_redis_and_sqlite():
    s = settings_with()
    assert s["redis"] == "redis://127.0.0.1:6379/0"
    assert s["redis"] == s["cache"] == s["layer"]
    assert s["db"] == "django.db.backends.sqlite3"


def test_it_builds_the_url_from_the_seed_variables():
    s = settings_with(REDIS_HOST="cache.internal", REDIS_PORT="6380", REDIS_PASSWORD="p@ss/word", REDIS_DB="3")
    assert s["redis"] == "redis://:p%40ss%2Fword@cache.internal:6380/3"
    assert s["cache"] == s["layer"] == s["redis"]


def test_redis_url_wins_and_redis_db_selects_the_database():
    assert settings_with(REDIS_URL="rediss://:secret@redis.example.com:6390/2")["redis"] == (
        "rediss://:secret@redis.example.com:6390/2"
    )
    assert settings_with(REDIS_URL="redis://h:6379/2", REDIS_DB="7")["redis"] == "redis://h:6379/7"


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"REDIS_PORT": "abc"}, "REDIS_PORT='abc' is not a whole number"),
        ({"REDIS_PORT": "70000"}, "REDIS_PORT=70000 is above the maximum"),
        ({"REDIS_DB": "16"}, "REDIS_DB=16 is above the maximum"),
        ({"REDIS_URL": "http://x"}, "REDIS_URL='http://x' must start with redis://"),
        ({"REDIS_URL": "redis://h:port/0"}, "has an invalid port"),
        ({"REDIS_URL": "redis://h:6379/x"}, "database path that is not a number"),
        ({"DEBUG": "maybe"}, "DEBUG='maybe' is not a boolean"),
        ({"DEBUG": "0"}, "SECRET_KEY is required when DEBUG is off"),
        ({"DEBUG": "0", "SECRET_KEY": "short"}, "SECRET_KEY is too weak"),
        ({"DEBUG": "0", "SECRET_KEY": STRONG_KEY}, "ALLOWED_HOSTS is required"),
        ({"CSRF_TRUSTED_ORIGINS": "example.com"}, "must start with http:// or https://"),
        ({"SENTRY_TRACES_SAMPLE_RATE": "2"}, "SENTRY_TRACES_SAMPLE_RATE=2.0 must be between 0.0 and 1.0"),
        ({"SENTRY_TRACES_SAMPLE_RATE": "lots"}, "SENTRY_TRACES_SAMPLE_RATE='lots' is not a number"),
    ],
)
def test_a_bad_value_stops_start_up_naming_the_variable(variables, message):
    assert message in error_of(**variables)


def test_production_values_are_read():
    s = settings_with(
        DEBUG="0",
        SECRET_KEY=STRONG_KEY,
        ALLOWED_HOSTS="convonet.example.com, www.convonet.example.com",
        CSRF_TRUSTED_ORIGINS="https://convonet.example.com",
        SENTRY_ENVIRONMENT="staging",
        SENTRY_TRACES_SAMPLE_RATE="0.25",
    )
    assert s["debug"] is False
    assert s["hosts"] == ["convonet.example.com", "www.convonet.example.com"]
    assert s["csrf"] == ["https://convonet.example.com"]
    assert s["sentry_env"] == "staging"
    assert s["traces"] == 0.25


def test_database_url_selects_postgresql():
    assert settings_with(DATABASE_URL="postgres://u:p@db:5432/convonet")["db"] == "django.db.backends.postgresql"


def test_check_deploy_is_clean_with_production_settings():
    environment = {
        **BASE_ENV,
        "DEBUG": "0",
        "SECRET_KEY": STRONG_KEY,
        "ALLOWED_HOSTS": "convonet.example.com",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_env_readers_directly(monkeypatch):
    monkeypatch.setenv("X_BOOL", "Yes")
    monkeypatch.setenv("X_LIST", " a, ,b ")
    assert env.env_bool("X_BOOL") is True
    assert env.env_list("X_LIST") == ["a", "b"]
    assert env.env_int("X_MISSING", 5) == 5
    monkeypatch.setenv("X_INT", "-1")
    with pytest.raises(ImproperlyConfigured, match="X_INT=-1 is below the minimum of 0"):
        env.env_int("X_INT", 1, minimum=0)
    assert env.redact_url("redis://:secret@h:1/0") == "redis://:***@h:1/0"


#: Loads the settings with `os.environ` replaced by a mapping that notes every name asked for.
READ_NAMES = """
import json, os
asked = set()
class Noting(dict):
    def get(self, key, default=None):
        asked.add(key)
        return super().get(key, default)
    def __getitem__(self, key):
        asked.add(key)
        return super().__getitem__(key)
    def __contains__(self, key):
        asked.add(key)
        return super().__contains__(key)
os.environ = Noting(os.environ)
from django.conf import settings
settings.DEBUG
print(json.dumps(sorted(asked)))
"""


def test_env_example_lists_exactly_what_the_settings_read():
    """An operator reads `.env.example` for what they decide: a variable it lists that nothing reads would be a dead
    knob, and one the settings read that it omits (an internal timing made a setting again) a knob nobody can find."""
    listed = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", (BASE_DIR / ".env.example").read_text(), re.MULTILINE))
    environment = {**BASE_ENV, "PYTHONPATH": str(BASE_DIR), "REDIS_SENTINELS": "10.0.0.1:26379"}
    result = subprocess.run(
        [sys.executable, "-c", READ_NAMES], env=environment, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    read = set(json.loads(result.stdout)) - {"DJANGO_SETTINGS_MODULE"}
    assert read == listed


SENTINEL_PRINT = (
    "import json, django; from django.conf import settings as s; "
    "print(json.dumps({'cache': s.CACHES['default'], 'layer': s.CHANNEL_LAYERS['default']['CONFIG']['hosts'][0], "
    "'target': s.REDIS_TARGET.describe(), 'rq': s.RQ_QUEUES['assistant']}))"
)


def test_sentinels_configure_the_cache_and_the_channel_layer_the_same_way():
    environment = {
        **BASE_ENV,
        "REDIS_SENTINELS": "10.0.0.1:26379, 10.0.0.2:26380",
        "REDIS_SENTINEL_MASTER": "main",
        "REDIS_SENTINEL_PASSWORD": "sentinel-pw",
        "REDIS_PASSWORD": "master-pw",
        "REDIS_DB": "3",
    }
    result = subprocess.run(
        [sys.executable, "-c", SENTINEL_PRINT], env=environment, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    sentinels = [["10.0.0.1", 26379], ["10.0.0.2", 26380]]
    assert loaded["target"] == "sentinel://10.0.0.1:26379,10.0.0.2:26380/main"
    assert loaded["cache"]["LOCATION"] == "redis://:master-pw@main/3"
    assert loaded["cache"]["OPTIONS"]["CLIENT_CLASS"] == "django_redis.client.SentinelClient"
    assert loaded["cache"]["OPTIONS"]["SENTINELS"] == sentinels
    assert loaded["cache"]["OPTIONS"]["SENTINEL_KWARGS"]["password"] == "sentinel-pw"
    layer = loaded["layer"]
    assert (layer["sentinels"], layer["master_name"], layer["password"], layer["db"]) == (
        sentinels,
        "main",
        "master-pw",
        3,
    )
    assert layer["sentinel_kwargs"]["password"] == "sentinel-pw"
    rq = loaded["rq"]
    assert (rq["SENTINELS"], rq["MASTER_NAME"], rq["PASSWORD"], rq["DB"]) == (sentinels, "main", "master-pw", 3)
    assert rq["SENTINEL_KWARGS"]["password"] == "sentinel-pw"


@pytest.mark.parametrize("entry", ["10.0.0.1", "10.0.0.1:port", ":26379", "10.0.0.1:70000"])
def test_a_sentinel_that_is_not_host_port_stops_start_up(entry):
    assert error_of(REDIS_SENTINELS=entry) == (
        f"django.core.exceptions.ImproperlyConfigured: REDIS_SENTINELS entry {entry!r} is not host:port."
    )
