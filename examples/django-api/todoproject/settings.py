"""Settings of the todos example, read from environment variables.

| variable | default | meaning |
|---|---|---|
| `WRIT_AUTH_MODE` | `gate` | `gate`: trust `X-Writ-Sub` / `X-Writ-Permissions`, set by nginx from `writ gate`'s answer; `jwt`: verify the bearer token here with PyJWT |
| `WRIT_ISSUER` | `http://127.0.0.1:3000/` | Writ's issuer URL, ending in `/` (jwt mode) |
| `WRIT_AUDIENCE` | `https://todos.example/api` | the API identifier, the tokens' `aud` (jwt mode) |
| `WRIT_JWT_ALGORITHMS` | `RS256` | the API's signing algorithm(s), comma-separated: pinned, never taken from the token (jwt mode) |
| `WRIT_MGMT_CLIENT_ID` / `WRIT_MGMT_CLIENT_SECRET` | empty | a machine client holding `read:users` on Writ's Management API: `/api/reports` and `/api/team` read the caller's `app_metadata.authorization` with it (Authorization Extension compatibility); without it they answer 503 |
| `DJANGO_DB_PATH` | `db.sqlite3` beside `manage.py` | the SQLite database |
| `DJANGO_SECRET_KEY` | an insecure placeholder | Django's signing key (this API sets no cookies, but Django wants one) |
| `DJANGO_DEBUG` | `0` | `1` for Django's debug pages; never in production |
| `DJANGO_ALLOWED_HOSTS` | `127.0.0.1,localhost` | comma-separated `Host` values to answer |
"""
import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "django-insecure-writ-example-change-me")
DEBUG = os.environ.get("DJANGO_DEBUG", "0") == "1"
ALLOWED_HOSTS = [
    h.strip()
    for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",")
    if h.strip()
]

# No django.contrib.auth, sessions or admin: the users live in Writ, and a request's user is
# the token's subject (see todos/writ.py).
INSTALLED_APPS = ["rest_framework", "todos"]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]

ROOT_URLCONF = "todoproject.urls"
WSGI_APPLICATION = "todoproject.wsgi.application"
APPEND_SLASH = False

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DJANGO_DB_PATH", str(BASE_DIR / "db.sqlite3")),
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

# --- Writ ---------------------------------------------------------------------------------
WRIT_AUTH_MODE = os.environ.get("WRIT_AUTH_MODE", "gate")
WRIT_ISSUER = os.environ.get("WRIT_ISSUER", "http://127.0.0.1:3000/")
WRIT_AUDIENCE = os.environ.get("WRIT_AUDIENCE", "https://todos.example/api")
WRIT_MGMT_CLIENT_ID = os.environ.get("WRIT_MGMT_CLIENT_ID", "")
WRIT_MGMT_CLIENT_SECRET = os.environ.get("WRIT_MGMT_CLIENT_SECRET", "")
WRIT_JWT_ALGORITHMS = [
    a.strip() for a in os.environ.get("WRIT_JWT_ALGORITHMS", "RS256").split(",") if a.strip()
]

_AUTHENTICATION = {
    "gate": "todos.writ_gate.WritGateAuthentication",
    "jwt": "todos.writ_jwt.WritJWTAuthentication",
}
if WRIT_AUTH_MODE not in _AUTHENTICATION:
    raise ImproperlyConfigured(f"WRIT_AUTH_MODE must be gate or jwt, not {WRIT_AUTH_MODE!r}")
if not WRIT_ISSUER.endswith("/"):
    raise ImproperlyConfigured("WRIT_ISSUER must end in /")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [_AUTHENTICATION[WRIT_AUTH_MODE]],
    # Every view needs the permissions it lists in `required_permissions`, per method.
    "DEFAULT_PERMISSION_CLASSES": ["todos.writ.HasWritPermission"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "todos.writ.exception_handler",
    # Without django.contrib.auth there is no AnonymousUser: an unauthenticated request's
    # user is None.
    "UNAUTHENTICATED_USER": None,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "INFO"},
}
