"""Courrier's only settings file.

Every value is read from the environment with a safe default, so that `make run`
works on a bare machine (SQLite, sandbox mailbox) and production is configured
by environment variables alone (see README, "Going to production").
"""

import base64
import os
import re
import secrets
from pathlib import Path
from urllib.parse import unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("COURRIER_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool = False) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in ("1", "true", "yes", "on")


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def env_rate(name: str, default: str) -> str:
    """A "count/seconds" rate, checked when the site starts: a mistyped one would refuse every request."""
    rate = os.environ.get(name, default).strip()
    found = re.fullmatch(r"([0-9]{1,12})/([0-9]{1,12})", rate)  # ASCII digits: what int() reads
    if not found or int(found[2]) == 0:
        raise ImproperlyConfigured(f'{name} must be "count/seconds", for example "{default}"; it is "{rate}".')
    return rate


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_secret(name: str, default: str = "") -> str:
    """Read NAME, or the file named by NAME_FILE (Docker/systemd secrets)."""
    path = os.environ.get(f"{name}_FILE")
    if path:
        return Path(path).read_text().strip()
    return os.environ.get(name, default)


def embedded_secret_key() -> str:
    """A key generated once and kept in var/, so a bare install has a real secret."""
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


def embedded_data_keys() -> list[str]:
    """Outside production only: a data key generated once and kept in var/, beside the SQLite file."""
    key_file = VAR_DIR / "data_keys"
    if not key_file.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        key_file.write_text(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("="))
        key_file.chmod(0o600)
    return [key for key in key_file.read_text().replace("\n", ",").split(",") if key.strip()]


def database_from_url(url: str) -> dict:
    """postgres://user:password@host:port/name or sqlite:///relative/or//absolute.db"""
    parts = urlsplit(url)
    if parts.scheme in ("postgres", "postgresql"):
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parts.path.lstrip("/")),
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
            "CONN_MAX_AGE": env_int("DATABASE_CONN_MAX_AGE", 60),
            "CONN_HEALTH_CHECKS": True,
        }
    if parts.scheme == "sqlite":
        path = url[len("sqlite:///") :]
        return sqlite_database(Path(path) if path.startswith("/") else BASE_DIR / path)
    raise ValueError(f"Unsupported DATABASE_URL scheme: {parts.scheme!r}")


def sqlite_database(path: Path) -> dict:
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": path,
        "OPTIONS": {
            # WAL lets readers go on while one writer commits; IMMEDIATE takes the
            # write lock at BEGIN, which is what makes outbox claims safe on SQLite
            # (select_for_update is a no-op there).
            # A signature's INSERT writes about 9 pages to the WAL, and by SQLite's default every 1,000 pages
            # the commit that crosses the mark copies them back into the database (and waits on two fsyncs):
            # a dozen times a second while signing is busy. Every 20,000 pages (an 80 MB WAL at most,
            # shrunk back to 32 MB once checkpointed), signing with the worker running went from 0.34 to
            # 0.40-0.45 of the bare reference (`python -m bench --only signing`, 2 cores, 2026-12-08).
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                "PRAGMA wal_autocheckpoint=20000; PRAGMA journal_size_limit=33554432;"
            ),
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        },
        # Reopening the file on every request cost as much as the INSERT itself.
        "CONN_MAX_AGE": env_int("DATABASE_CONN_MAX_AGE", 60),
        "TEST": {"NAME": VAR_DIR / "test.sqlite3"},
    }


DEBUG = env_bool("DEBUG", False)
SITE_NAME = os.environ.get("SITE_NAME", "Courrier")
SITE_ROOT = os.environ.get("SITE_ROOT", f"http://127.0.0.1:{os.environ.get('PORT', '8000')}").rstrip("/")
# Production: a public site. Its secrets must come from the operator, never from files made up here.
PRODUCTION = env_bool("PRODUCTION", SITE_ROOT.startswith("https://"))

if PRODUCTION and not env_secret("SECRET_KEY"):
    raise ImproperlyConfigured("PRODUCTION is on but SECRET_KEY is not set: see README, Going to production.")
SECRET_KEY = env_secret("SECRET_KEY") or embedded_secret_key()

# Keys that encrypt supporters' personal data at rest (courrier/lib/crypto.py), newest first.
DATA_KEYS = env_list("DATA_KEYS", env_secret("DATA_KEYS").replace("\n", ","))
if not DATA_KEYS:
    if PRODUCTION:
        # Refuse rather than store names and addresses in clear.
        raise ImproperlyConfigured(
            "PRODUCTION is on but DATA_KEYS is not set: Courrier will not store supporters' data unencrypted. "
            "Generate a key with `manage.py newdatakey` (see README, Going to production)."
        )
    DATA_KEYS = embedded_data_keys()
ALLOWED_HOSTS = [*env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]"), urlsplit(SITE_ROOT).hostname]
CSRF_TRUSTED_ORIGINS = [SITE_ROOT]

INSTALLED_APPS = [
    "courrier.backoffice.admin_app.OperatorsAdminConfig",  # django.contrib.admin, for superusers only
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "courrier.campaigns",
    "courrier.signatures",
    "courrier.delivery",
    "courrier.news",
    "courrier.accounts",
    "courrier.web",
    "courrier.backoffice",
    "courrier.studio",
    "courrier.ops",
]

MIDDLEWARE = [
    # First, so that every response gets the CSP, redirects and error pages included.
    "courrier.http.csp.SecurityHeadersMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # An organiser's saves reach the kept public pages at once (courrier/backoffice/middleware.py).
    "courrier.backoffice.middleware.OrganiserChangesMiddleware",
    # Sessions, users and messages serve the back office only (courrier/backoffice/middleware.py).
    "courrier.backoffice.middleware.BackOfficeSessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "courrier.backoffice.middleware.BackOfficeAuthenticationMiddleware",
    "courrier.backoffice.middleware.BackOfficeMessageMiddleware",
    # Staff type a code from their authenticator app before any /admin/ page (courrier/backoffice/middleware.py).
    "courrier.backoffice.middleware.SecondFactorMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "courrier.urls"
WSGI_APPLICATION = "courrier.wsgi.application"

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
                "courrier.http.context.site",
                "courrier.http.csp.nonce_context",
            ],
        },
    },
]

if os.environ.get("DATABASE_URL"):
    DATABASES = {"default": database_from_url(os.environ["DATABASE_URL"])}
else:
    DATABASES = {"default": sqlite_database(VAR_DIR / "courrier.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# One cache per process by default. "default" holds rate-limit counters, so a shared cache (REDIS_URL) makes
# the limit exact across gunicorn workers; "pages" holds the rendered public pages (http/shared_cache.py), apart
# so that a spike's many counters never push a page out.
if os.environ.get("REDIS_URL"):
    CACHES = {
        alias: {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ["REDIS_URL"],
            "KEY_PREFIX": alias,
        }
        for alias in ("default", "pages")
    }
else:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "default"},
        "pages": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "pages",
            "OPTIONS": {"MAX_ENTRIES": 2000},
        },
    }
# How long a public page is kept, here and by a shared cache in front (http/shared_cache.py); 0 keeps none.
PUBLIC_PAGE_SECONDS = env_int("PUBLIC_PAGE_SECONDS", 60)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "fr"
LANGUAGES = [
    ("fr", "Français"),
    ("en", "English"),
    ("ru", "Русский"),
    ("kk", "Қазақша"),
]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = os.environ.get("TIME_ZONE", "Europe/Paris")
USE_TZ = True

STATIC_URL = "/static/"
# `collectstatic` (run by `manage.py serve`) writes every file there under a name with its hash, compressed
# with gzip and Brotli beside it; WhiteNoise serves those with a year's caching and the right encoding.
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "static"))
STATICFILES_DIRS = [BASE_DIR / "courrier" / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
WHITENOISE_USE_FINDERS = DEBUG  # with `runserver`, straight from the app's static/, without collectstatic
WHITENOISE_ROOT = BASE_DIR / "courrier" / "public_root"  # files browsers ask for at the root: /favicon.ico

# Back-office logins: this many failures for one username within the window lock it for LOGIN_LOCKOUT_SECONDS.
LOGIN_LOCKOUT_FAILURES = env_int("LOGIN_LOCKOUT_FAILURES", 5)
LOGIN_LOCKOUT_WINDOW_SECONDS = env_int("LOGIN_LOCKOUT_WINDOW_SECONDS", 15 * 60)
LOGIN_LOCKOUT_SECONDS = env_int("LOGIN_LOCKOUT_SECONDS", 15 * 60)

# HTTPS. Production runs behind a TLS proxy (README, Going to production); the embedded default is plain
# http on 127.0.0.1, where none of this may apply. HSTS is only ever sent on an https request.
HTTPS = SITE_ROOT.startswith("https://")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", PRODUCTION)
# Only when the operator says so: the proxy must set X-Forwarded-Proto itself, overwriting the client's.
# Otherwise anyone could claim https, and behind a proxy that does not set it every request would redirect.
if env_bool("TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 365 * 24 * 3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
# Preloading is a promise to browsers that is slow to take back: the operator opts in.
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
if not SECURE_HSTS_PRELOAD:
    SILENCED_SYSTEM_CHECKS = ["security.W021"]  # "not preloaded": a choice, not an oversight

# Cookies: never readable by scripts, never sent over http once the site is https, not sent along with
# other sites' requests (Lax keeps a link from an e-mail logging the organiser in). The __Host- prefix
# makes the browser refuse a cookie set by a sibling subdomain or over http.
SESSION_COOKIE_HTTPONLY = CSRF_COOKIE_HTTPONLY = LANGUAGE_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = LANGUAGE_COOKIE_SECURE = HTTPS
SESSION_COOKIE_SAMESITE = CSRF_COOKIE_SAMESITE = LANGUAGE_COOKIE_SAMESITE = "Lax"
if HTTPS:
    SESSION_COOKIE_NAME = "__Host-sessionid"
    CSRF_COOKIE_NAME = "__Host-csrftoken"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Error reports (the mail to ADMINS, the DEBUG page) show no POST value, cookie, query, token or local variable.
DEFAULT_EXCEPTION_REPORTER = "courrier.http.error_reports.PrivateExceptionReporter"
DEFAULT_EXCEPTION_REPORTER_FILTER = "courrier.http.error_reports.PrivateExceptionReporterFilter"
CSRF_FAILURE_VIEW = "courrier.http.error_pages.csrf_failure"
X_FRAME_OPTIONS = "DENY"  # every page but the embeddable form (courrier/web/embed.py)
# Content-Security-Policy and Permissions-Policy: courrier/http/csp.py.

# Mail. The platform's sender address is the From of every message (DMARC
# alignment); letters to targets may use their own address so that a block on
# one does not stop supporter mail.
SENDER_EMAIL = os.environ.get("SENDER_EMAIL", "courrier@localhost")
LETTERS_SENDER_EMAIL = os.environ.get("LETTERS_SENDER_EMAIL", SENDER_EMAIL)
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")  # empty: sandbox only, nothing leaves the machine
EMAIL_PORT = env_int("EMAIL_PORT", 587)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_secret("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", EMAIL_PORT == 587)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", EMAIL_PORT == 465)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 30)  # Django's default (None) lets a hung server hang the worker
# A private CA for the relay's certificate (PEM): the certificate is always verified, against this or the system's.
EMAIL_SSL_CAFILE = os.environ.get("EMAIL_SSL_CAFILE", "")
# The name the worker gives in EHLO: the site's own host name when it has one, else the machine's.
_SITE_HOST = urlsplit(SITE_ROOT).hostname or ""
EMAIL_EHLO_NAME = os.environ.get("EMAIL_EHLO_NAME", "") or (
    _SITE_HOST if "." in _SITE_HOST and not _SITE_HOST.replace(".", "").isdigit() else ""
)
# An idle connection to the relay is kept this long, so that letters spread out by pacing share one session.
EMAIL_IDLE_SECONDS = env_int("EMAIL_IDLE_SECONDS", 60)
SANDBOX_MAILDIR = Path(os.environ.get("SANDBOX_MAILDIR", VAR_DIR / "mail"))
# Staff errors go to the log; this address is for humans, never a supporter.
SERVER_EMAIL = SENDER_EMAIL

# Hot-path shortcuts around Django (each next to its plain twin, which a test proves writes the same): the
# benchmark measures them by running the plain twins instead, e.g. COURRIER_PLAIN_PATHS=insert,marks.
# Names: insert (a signature's INSERT), form (the signing form's shared fields and cleaning), rows (the worker's
# rows adapted before their write), marks (letters marked sent).
PLAIN_PATHS = set(env_list("COURRIER_PLAIN_PATHS"))

# Delivery worker.
DELIVERY_LEASE_SECONDS = env_int("DELIVERY_LEASE_SECONDS", 120)
DELIVERY_BATCH_SIZE = env_int("DELIVERY_BATCH_SIZE", 200)
DELIVERY_MAX_AGE_DAYS = env_int("DELIVERY_MAX_AGE_DAYS", 5)
DELIVERY_RETRY_BASE_SECONDS = float(os.environ.get("DELIVERY_RETRY_BASE_SECONDS", 60))
DELIVERY_RETRY_MAX_SECONDS = float(os.environ.get("DELIVERY_RETRY_MAX_SECONDS", 3600))
# Staff are told once mail has waited this long for a relay that keeps deferring it.
DELIVERY_DEFERRED_ALERT_SECONDS = env_int("DELIVERY_DEFERRED_ALERT_SECONDS", 3600)

# Bounces come back to BOUNCE_EMAIL with the letter's id in the local part
# (bounces+123-signature@domain), so the MTA must deliver plus-addresses to it.
BOUNCE_EMAIL = os.environ.get("BOUNCE_EMAIL", "") or LETTERS_SENDER_EMAIL
# A letter's Reply-To, unless its supporter agreed to give the targets their own address: this address's
# local part + r<signature id>-<signature> (bounces+r123-k3j9x2qa7m@domain by default). The MTA delivers its
# plus-addresses to `manage.py ingestbounces`, which brings the targets' answers back to the campaign.
REPLY_EMAIL = os.environ.get("REPLY_EMAIL", "") or BOUNCE_EMAIL
# The files that come with a target's answer are kept, encrypted, up to this many bytes per answer.
ANSWER_ATTACHMENTS_MAX_BYTES = env_int("ANSWER_ATTACHMENTS_MAX_BYTES", 5_000_000)
# The authserv-id your inbound MTA writes in Authentication-Results (RFC 8601; OpenDMARC, rspamd): an answer it
# found forged (DMARC fail, or DKIM and SPF failing with nothing passing) is held as a stranger's, never passed
# on. Empty: From is taken as written. Such headers from any other server are ignored, since anyone can write them.
INBOUND_AUTHSERV_ID = os.environ.get("INBOUND_AUTHSERV_ID", "")
# This many policy rejections (5.7.x) from one target domain in a day pause its targets.
BLOCK_PAUSE_THRESHOLD = env_int("BLOCK_PAUSE_THRESHOLD", 3)
# Where failures and automatic pauses are reported (none: the admin only).
STAFF_ALERT_EMAIL = os.environ.get("STAFF_ALERT_EMAIL", "")

# DKIM signing by Courrier itself, when the relay does not sign.
DKIM_PRIVATE_KEY_FILE = os.environ.get("DKIM_PRIVATE_KEY_FILE", "")
DKIM_SELECTOR = os.environ.get("DKIM_SELECTOR", "courrier")
DKIM_DOMAIN = os.environ.get("DKIM_DOMAIN", "")

# Signing.
# The last resort, per IP address: beyond it signing is refused ("slow down"). Above the burst allowances
# below, so that a meeting signing on one wifi is quarantined (kept) rather than refused.
SIGNING_RATE_LIMIT = env_rate("SIGNING_RATE_LIMIT", "200/3600")  # per IP: count/seconds
# Bursts from one network (IPv4 /24, IPv6 /48), "count/seconds": beyond them a signature is kept but
# quarantined until a moderator releases it (courrier/lib/bursts.py). With the proof of work, 30 in
# 10 minutes: a family or an office signs well within it, and a meeting beyond it loses no letter.
# Without it (no JavaScript: a few real browsers, most scripts), 5 in 10 minutes.
SIGNING_BURST = env_rate("SIGNING_BURST", "30/600")
SIGNING_BURST_UNPROVEN = env_rate("SIGNING_BURST_UNPROVEN", "5/600")
# The proof of work (courrier/lib/proof_of_work.py): the browser tries on average half of
# PROOF_OF_WORK_MAX_NUMBER SHA-256 hashes. See the README for the default's cost on a phone.
PROOF_OF_WORK_MAX_NUMBER = env_int("PROOF_OF_WORK_MAX_NUMBER", 100_000)
PROOF_OF_WORK_EXPIRY_SECONDS = env_int("PROOF_OF_WORK_EXPIRY_SECONDS", 20 * 60)
# Mails one address may receive a day among confirmations, "already signed" notices and links to
# one's data, so nobody can use the platform to fill someone else's inbox. News and letter copies
# are not counted: the supporter asked for them.
SUPPORTER_MAILS_PER_DAY = env_int("SUPPORTER_MAILS_PER_DAY", 3)
# A personal sentence longer than this is held for an organiser's review (the form takes up to 600).
MODERATION_MAX_SENTENCE = env_int("MODERATION_MAX_SENTENCE", 400)
# Past this share of the letters being the model letter word for word (and at least 20 letters), the progress
# page tells the organisers: targets increasingly file identical mail as bulk.
IDENTICAL_LETTERS_SHARE = float(os.environ.get("IDENTICAL_LETTERS_SHARE", 0.8))
CONFIRMATION_MAX_AGE_DAYS = env_int("CONFIRMATION_MAX_AGE_DAYS", 7)

# Retention (courrier/delivery/retention.py, run by the delivery worker). Unconfirmed signatures go after
# CONFIRMATION_MAX_AGE_DAYS; the personal parts of sent mail (bodies, supporters' addresses) after this grace,
# long enough to answer a bounce or a supporter's question, short enough that the outbox is no archive.
OUTBOX_ERASE_AFTER_DAYS = env_int("OUTBOX_ERASE_AFTER_DAYS", 7)
# Links to see and erase one's data: anyone can ask for a fresh one at /<lang>/my-data/, so an old mail
# (or an old mailbox) does not open the data for ever.
MY_DATA_LINK_MAX_AGE_DAYS = env_int("MY_DATA_LINK_MAX_AGE_DAYS", 30)
# One-click unsubscribe links: they only stop news and show nothing, and a mail provider may use them
# long after the mail came, so they last a year (a newer news mail carries a newer one).
UNSUBSCRIBE_LINK_MAX_AGE_DAYS = env_int("UNSUBSCRIBE_LINK_MAX_AGE_DAYS", 365)
# Links that send a follow-up letter in a supporter's name: a follow-up answers news, so it is sent within
# weeks or not at all; each works once.
FOLLOW_UP_LINK_MAX_AGE_DAYS = env_int("FOLLOW_UP_LINK_MAX_AGE_DAYS", 30)
# The public "send me my link" form, per IP: count/seconds. The worker also sends one address at most one
# round of links per DATA_LINK_INTERVAL_MINUTES, so the form cannot fill an inbox.
MY_DATA_RATE_LIMIT = env_rate("MY_DATA_RATE_LIMIT", "10/3600")
DATA_LINK_INTERVAL_MINUTES = env_int("DATA_LINK_INTERVAL_MINUTES", 60)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Every line without link tokens or query strings (courrier/lib/redact.py): Django logs failed requests' paths.
    "formatters": {
        "plain": {
            "()": "courrier.lib.redact.RedactingFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
        }
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        # Django's own handlers (console with DEBUG, runserver's request lines) would print unredacted lines:
        # its records go to the root's handler instead. No ADMINS: errors are in the log, not in mail.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.server": {"handlers": [], "propagate": True},
        "django.request": {"level": "ERROR"},
        # SQL with its parameters (logged at DEBUG when DEBUG is on) would put personal values in the log.
        "django.db.backends": {"level": "INFO"},
        # The PDF library's font subsetter logs a dozen lines per PDF at INFO, the glyphs used among them.
        "fontTools": {"level": "WARNING"},
    },
}

# Behind a reverse proxy that sets X-Forwarded-For, the client is its last hop.
TRUST_X_FORWARDED_FOR = env_bool("TRUST_X_FORWARDED_FOR", False)
