"""Settings, all from the environment (DESIGN.md §6); `.env.example` lists every variable."""

from __future__ import annotations

import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from infra.env import env_bool, env_float, env_int, env_list, env_str, redis_url_from_env
from infra.redis_target import RedisTarget, sentinel_from_env

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"
VAR_DIR.mkdir(exist_ok=True)

DEBUG = env_bool("DEBUG", False)


def _secret_key() -> str:
    key = env_str("SECRET_KEY")
    if key:
        if not DEBUG and (len(key) < 50 or len(set(key)) < 5 or key.startswith("django-insecure")):
            raise ImproperlyConfigured("SECRET_KEY is too weak: use at least 50 random characters.")
        return key
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY is required when DEBUG is off (50+ random characters).")
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS is required when DEBUG is off (comma-separated host names).")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
for _origin in CSRF_TRUSTED_ORIGINS:
    if not _origin.startswith(("http://", "https://")):
        raise ImproperlyConfigured(f"CSRF_TRUSTED_ORIGINS entry {_origin!r} must start with http:// or https://.")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "convonet_site",
    "teams",
    "voice",
    "notifications",
    "analytics",
    "django_rq",
    "assistant",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "convonet_site.urls"
ASGI_APPLICATION = "convonet_site.asgi.application"
WSGI_APPLICATION = None

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
                "convonet_site.context_processors.site",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'db.sqlite3'}",
        conn_max_age=0,
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC") or "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", "") or VAR_DIR / "static")
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# The voice page's voice activity detector, installed from the npm registry by scripts/install-vad (make vad).
VAD_ASSETS_DIR = VAR_DIR / "vad"
VAD_ASSETS_DIR.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [("vad", VAD_ASSETS_DIR)]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# -- Redis: one configuration for the cache, the channel layer and the manager ------------------

REDIS_URL = redis_url_from_env()
#: With `REDIS_SENTINELS`, every client asks the Sentinels for the master; REDIS_URL gives its password and db.
REDIS_TARGET = RedisTarget(REDIS_URL, sentinel_from_env())
REDIS_SOCKET_TIMEOUT = env_float("REDIS_SOCKET_TIMEOUT", 1.0, minimum=0.05, maximum=30)
REDIS_ASYNC_MAX_CONNECTIONS = env_int("REDIS_ASYNC_MAX_CONNECTIONS", 200, minimum=2)

CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_TARGET.cache_location(),
        "KEY_PREFIX": "django",
        "TIMEOUT": 300,
        "OPTIONS": {
            "SOCKET_CONNECT_TIMEOUT": REDIS_SOCKET_TIMEOUT,
            "SOCKET_TIMEOUT": REDIS_SOCKET_TIMEOUT,
            # The site keeps serving when Redis is down (DESIGN.md §5): a cache miss, not a 500.
            "IGNORE_EXCEPTIONS": True,
            **REDIS_TARGET.cache_options(REDIS_SOCKET_TIMEOUT),
        },
    }
}
DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True

CHANNEL_LAYER_SOCKET_TIMEOUT = 15

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "infra.channel_layer.ResilientRedisChannelLayer",
        "CONFIG": {
            # channels-redis blocks in BRPOP for up to 5 s; redis-py 8's default 5 s socket timeout would
            # end every idle wait with TimeoutError and kill the consumer, so reads may wait longer.
            "hosts": [REDIS_TARGET.channel_layer_host(CHANNEL_LAYER_SOCKET_TIMEOUT)],
            "prefix": "asgi",
            # Messages one channel may queue before channels-redis drops: far above what a socket receives between
            # two reads of its consumer, low enough that a stuck consumer cannot fill Redis.
            "capacity": 1500,
            "expiry": 60,
            "group_expiry": 86400,
        },
    }
}

# Seconds a SIGTERM'd daphne waits for its WebSockets to finish and close (1012) and requests to end (serve.py).
DAPHNE_DRAIN_TIMEOUT = env_float("DAPHNE_DRAIN_TIMEOUT", 30.0, minimum=0, maximum=600)

# Bearer token of /metrics (Prometheus); unset: /metrics is 404.
METRICS_TOKEN = env_str("METRICS_TOKEN")

# -- Voice sessions (voice app) -----------------------------------------------------------------

VOICE_SESSION_TTL = env_int("VOICE_SESSION_TTL", 3600, minimum=10)
VOICE_MAX_AUDIO_BYTES = env_int("VOICE_MAX_AUDIO_BYTES", 10 * 1024 * 1024, minimum=1024)
VOICE_MAX_FRAME_BYTES = env_int("VOICE_MAX_FRAME_BYTES", 1024 * 1024, minimum=1024)
# What one voice socket may send before it is closed (infra/receive_budget.py): frames and bytes per second,
# with bursts of a few seconds' worth (infra.receive_budget.BURST_SECONDS).
VOICE_RECEIVE_FRAMES_PER_SECOND = env_int("VOICE_RECEIVE_FRAMES_PER_SECOND", 100, minimum=1)
VOICE_RECEIVE_BYTES_PER_SECOND = env_int("VOICE_RECEIVE_BYTES_PER_SECOND", 1024 * 1024, minimum=1024)
# Caps over all of a user's voice sockets, and on sockets not yet authenticated per client address
# (infra/socket_caps.py).
VOICE_MAX_SOCKETS_PER_USER = env_int("VOICE_MAX_SOCKETS_PER_USER", 5, minimum=1)
VOICE_MAX_AUDIO_BYTES_PER_USER = env_int("VOICE_MAX_AUDIO_BYTES_PER_USER", 2 * VOICE_MAX_AUDIO_BYTES, minimum=1024)
VOICE_MAX_ANONYMOUS_SOCKETS_PER_ADDRESS = env_int("VOICE_MAX_ANONYMOUS_SOCKETS_PER_ADDRESS", 20, minimum=1)
# Seconds a voice socket may listen hands-free without starting a command before it is closed (idle_listen_timeout).
VOICE_IDLE_LISTEN_SECONDS = env_int("VOICE_IDLE_LISTEN_SECONDS", 300, minimum=1, maximum=86400)
# Seconds after a hands-free page's tentative recording (its speculative end of turn) within which the page must commit
# or retract it (`end_turn`); past them the turn is dropped (`turn_expired`), never acted on. Longer than the page's
# longest hangover (3 s).
VOICE_TENTATIVE_VERDICT_SECONDS = env_float("VOICE_TENTATIVE_VERDICT_SECONDS", 6.0, minimum=0.5, maximum=60)

# -- The voice assistant (assistant app): speech to text, jobs, history -------------------------

#: `whisper` (faster-whisper in the worker) or `openai` (an OpenAI-compatible /v1/audio/transcriptions server).
VOICE_STT_BACKEND = env_str("VOICE_STT_BACKEND", "whisper") or "whisper"
if VOICE_STT_BACKEND not in {"whisper", "openai"}:
    raise ImproperlyConfigured(f"VOICE_STT_BACKEND={VOICE_STT_BACKEND!r}: use whisper or openai.")
#: faster-whisper model directory; `manage.py assistant_model` installs Whisper base here.
VOICE_STT_MODEL = env_str("VOICE_STT_MODEL") or str(VAR_DIR / "models" / "whisper-base")
VOICE_STT_BEAM_SIZE = env_int("VOICE_STT_BEAM_SIZE", 5, minimum=1, maximum=10)
#: A new title with a word the model gives less than this probability is read back before it is written ("Add
#: 'Restock the socks'?"); 0 never reads back. How much to ask against how much to risk is the operator's call;
#: 0.5 was chosen on the development split spoken (README, "Doubt, measured").
VOICE_STT_DOUBT_PROBABILITY = env_float("VOICE_STT_DOUBT_PROBABILITY", 0.5, minimum=0.0, maximum=1.0)
VOICE_STT_URL = env_str("VOICE_STT_URL")
VOICE_STT_API_KEY = env_str("VOICE_STT_API_KEY")
VOICE_STT_MODEL_NAME = env_str("VOICE_STT_MODEL_NAME", "whisper-1") or "whisper-1"
VOICE_STT_TIMEOUT = env_float("VOICE_STT_TIMEOUT", 20.0, minimum=0.1, maximum=600)
if VOICE_STT_BACKEND == "openai" and not VOICE_STT_URL:
    raise ImproperlyConfigured("VOICE_STT_BACKEND=openai needs VOICE_STT_URL (the server's base URL).")
#: Longest command the assistant transcribes, in seconds of decoded audio.
VOICE_MAX_COMMAND_SECONDS = env_float("VOICE_MAX_COMMAND_SECONDS", 30.0, minimum=1, maximum=600)
# Longest typed command (`say` on the voice socket), in characters after spaces are collapsed (`command_too_long`).
VOICE_MAX_TYPED_CHARS = env_int("VOICE_MAX_TYPED_CHARS", 500, minimum=10, maximum=10000)
#: Keep each request's audio in its VoiceRequest (history, admin player); off by default.
VOICE_KEEP_AUDIO = env_bool("VOICE_KEEP_AUDIO", False)
#: Kept audio per user, over all their requests: past it the oldest requests' audio is dropped (the rows stay).
VOICE_KEPT_AUDIO_BYTES_PER_USER = env_int("VOICE_KEPT_AUDIO_BYTES_PER_USER", 50 * 1024 * 1024, minimum=0)
#: Commands one user may have queued or running at once (assistant/fairness.py); one more: `assistant_busy`.
VOICE_ASSISTANT_MAX_QUEUED_PER_USER = env_int("VOICE_ASSISTANT_MAX_QUEUED_PER_USER", 2, minimum=1)
#: A job still queued after this many seconds is answered with `assistant_timeout` instead of run late.
VOICE_ASSISTANT_MAX_WAIT = env_float("VOICE_ASSISTANT_MAX_WAIT", 20.0, minimum=0.1, maximum=3600)
VOICE_ASSISTANT_QUEUE = "assistant"
RQ_QUEUES = {VOICE_ASSISTANT_QUEUE: {**REDIS_TARGET.rq_connection(REDIS_SOCKET_TIMEOUT), "DEFAULT_TIMEOUT": 120}}
#: A worker that loads the speech model once and runs jobs without forking (assistant/worker.py).
RQ = {"WORKER_CLASS": "assistant.worker.AssistantWorker"}

# -- Teams, user cache and notifications (teams, notifications apps) ----------------------------

# Notifications: history kept per audience (whichever limit is reached first), frame sizes.
NOTIFICATIONS_HISTORY_MAX = env_int("NOTIFICATIONS_HISTORY_MAX", 200, minimum=1)
NOTIFICATIONS_HISTORY_MAX_AGE = env_int("NOTIFICATIONS_HISTORY_MAX_AGE", 7 * 86400, minimum=60)
NOTIFICATIONS_MAX_BYTES = env_int("NOTIFICATIONS_MAX_BYTES", 8192, minimum=256)
# Open /ws/notifications/ sockets per user, over all processes (infra/socket_caps.py; one page holds one).
NOTIFICATIONS_MAX_SOCKETS_PER_USER = env_int("NOTIFICATIONS_MAX_SOCKETS_PER_USER", 10, minimum=1)
# What one notification socket may send before it is closed (infra/receive_budget.py): clients only ever ping.
NOTIFICATIONS_RECEIVE_FRAMES_PER_SECOND = env_int("NOTIFICATIONS_RECEIVE_FRAMES_PER_SECOND", 5, minimum=1)
NOTIFICATIONS_RECEIVE_BYTES_PER_SECOND = env_int("NOTIFICATIONS_RECEIVE_BYTES_PER_SECOND", 4096, minimum=1024)

# -- Voice assistant: understanding and actions (assistant.dialogue) ---------------------------

#: `parser`: the rule parser only (offline, deterministic). `openai`: an OpenAI-compatible chat-completions
#: model with tool calls first, the parser whenever it fails, times out or calls no tool.
VOICE_AGENT_BACKEND = env_str("VOICE_AGENT_BACKEND", "parser").lower()
if VOICE_AGENT_BACKEND not in ("parser", "openai"):
    raise ImproperlyConfigured(f"VOICE_AGENT_BACKEND={VOICE_AGENT_BACKEND!r} must be 'parser' or 'openai'.")
VOICE_AGENT_URL = env_str("VOICE_AGENT_URL", "https://api.openai.com/v1").rstrip("/")
VOICE_AGENT_API_KEY = env_str("VOICE_AGENT_API_KEY")
VOICE_AGENT_MODEL = env_str("VOICE_AGENT_MODEL", "gpt-4o-mini")
VOICE_AGENT_TIMEOUT = env_float("VOICE_AGENT_TIMEOUT", 5.0, minimum=0.1, maximum=120.0)

# -- Rate limits and activity (analytics app) ---------------------------------------------------

from analytics.conf import lockout_steps_from_env, rate_limits_from_env  # noqa: E402 - reads only the environment

#: action -> (limit, window seconds); `RATE_LIMIT_<ACTION>=LIMIT/SECONDS` overrides one (analytics/conf.py).
RATE_LIMITS = rate_limits_from_env()
#: Escalating lockouts after a full `pin_attempts` count: 15 min, 1 h, then 24 h (analytics/lockout.py).
LOCKOUT_STEPS = lockout_steps_from_env()
#: How long an `activity:{user_id}:{timestamp}` event lives in Redis (the seed's 24 h).
ACTIVITY_TTL = env_int("ACTIVITY_TTL", 86400, minimum=60)


# -- Calls: presence and WebRTC signaling (voice app) -------------------------------------------

# Presence (who is online) is a heartbeat lease: timings in voice/presence.py.
CALLS_RING_TIMEOUT = env_float("CALLS_RING_TIMEOUT", 45.0, minimum=1, maximum=600)
CALLS_MAX_DURATION = env_int("CALLS_MAX_DURATION", 4 * 3600, minimum=60)
CALLS_SIGNAL_MAX_BYTES = env_int("CALLS_SIGNAL_MAX_BYTES", 16384, minimum=1024, maximum=262144)
# ICE servers sent to the browser; none by default (host candidates work on one host and on a LAN).
CALLS_STUN_URLS = env_list("CALLS_STUN_URLS")
CALLS_TURN_URLS = env_list("CALLS_TURN_URLS")
CALLS_TURN_USERNAME = env_str("CALLS_TURN_USERNAME")
CALLS_TURN_CREDENTIAL = env_str("CALLS_TURN_CREDENTIAL")


# -- Security (production defaults; `manage.py check --deploy` is clean with DEBUG off) ----------

SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
if env_bool("SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# -- Sentry -------------------------------------------------------------------------------------

SENTRY_DSN = env_str("SENTRY_DSN")
SENTRY_ENVIRONMENT = env_str("SENTRY_ENVIRONMENT", "development" if DEBUG else "production")
SENTRY_TRACES_SAMPLE_RATE = env_float("SENTRY_TRACES_SAMPLE_RATE", 0.0)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO") or "INFO"},
    "loggers": {"django.channels.server": {"level": "INFO"}},
}

if SENTRY_DSN:
    from .sentry import init_sentry

    init_sentry(SENTRY_DSN, environment=SENTRY_ENVIRONMENT, traces_sample_rate=SENTRY_TRACES_SAMPLE_RATE)
