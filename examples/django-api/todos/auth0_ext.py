"""Role- and group-based permissions the way djangorestframework-auth0 checks them with Auth0's
Authorization Extension: after the token is verified, the caller's user is fetched from the
Management API by the token's `sub` (`GET /api/v2/users/{sub}`) and the view's roles or groups
are looked up in `app_metadata.authorization.roles` / `.groups`.

Writ computes `app_metadata.authorization` live from its RBAC ({groups, roles, permissions})
when the Authorization Extension compatibility is on, for the tenant
(`WRIT_AUTHORIZATION_EXTENSION=true`) or for one API (its `token_claims.authorization_extension`).
Since the user is read on every request, a role added to the caller's group applies to the
next request, with the same token and no new login.

    class Reports(APIView):
        permission_classes = [HasWritPermission, HasAuth0Role]
        required_permissions = {"GET": []}
        required_roles = {"GET": ["reporter"]}

The Management API is called with a client-credentials token of a machine client that holds
`read:users` only (settings.WRIT_MGMT_CLIENT_ID / WRIT_MGMT_CLIENT_SECRET), cached until shortly
before it expires. If Writ cannot be reached the answer is 503, never a guess.
"""
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

from django.conf import settings
from rest_framework import exceptions
from rest_framework.permissions import BasePermission

from .writ import KeysUnavailable


class ManagementUnavailable(KeysUnavailable):
    """503: the Management API could not be asked, so roles and groups are unknown."""

    default_detail = "the user's roles and groups could not be read"


class MissingAuthorization(exceptions.PermissionDenied):
    """403 `access_denied`: the caller lacks a role or group this request needs."""

    def __init__(self, kind, needed):
        super().__init__(detail=f"this request needs the {kind} {' '.join(needed)}")
        self.error = "access_denied"


_token_lock = threading.Lock()
_token = {"value": None, "until": 0.0}


def _post_json(url, body):
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.load(r)


def management_token():
    """A Management API token of the configured machine client (cached)."""
    with _token_lock:
        if _token["value"] and time.monotonic() < _token["until"]:
            return _token["value"]
        answer = _post_json(
            f"{settings.WRIT_ISSUER}oauth/token",
            {
                "grant_type": "client_credentials",
                "client_id": settings.WRIT_MGMT_CLIENT_ID,
                "client_secret": settings.WRIT_MGMT_CLIENT_SECRET,
                "audience": f"{settings.WRIT_ISSUER}api/v2/",
            },
        )
        _token["value"] = answer["access_token"]
        _token["until"] = time.monotonic() + max(0, int(answer.get("expires_in", 60)) - 30)
        return _token["value"]


def authorization_of(sub):
    """`app_metadata.authorization` of the user `sub`, read now from the Management API."""
    if not settings.WRIT_MGMT_CLIENT_ID:
        raise ManagementUnavailable()
    try:
        token = management_token()
        url = f"{settings.WRIT_ISSUER}api/v2/users/{urllib.parse.quote(sub, safe='')}"
        req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(req, timeout=5) as r:
            user = json.load(r)
    except urllib.error.HTTPError as e:
        if e.code == 404:
            raise exceptions.PermissionDenied("unknown user")
        raise ManagementUnavailable()
    except (urllib.error.URLError, OSError, ValueError, KeyError):
        raise ManagementUnavailable()
    authorization = (user.get("app_metadata") or {}).get("authorization") or {}
    return {
        "groups": list(authorization.get("groups") or []),
        "roles": list(authorization.get("roles") or []),
        "permissions": list(authorization.get("permissions") or []),
    }


class _HasAuthorization(BasePermission):
    """Allows a request when the caller's `app_metadata.authorization[key]` holds every entry the
    view lists for the method in `attribute` (HEAD needs what GET needs; a method not listed
    needs nothing more). The object read is kept on the request for the view."""

    key = ""
    attribute = ""
    kind = ""

    def has_permission(self, request, view) -> bool:
        user = request.user
        if user is None or not getattr(user, "is_authenticated", False):
            raise exceptions.NotAuthenticated()
        required = getattr(view, self.attribute, None) or {}
        method = request.method.upper()
        needed = required.get(method, required.get("GET") if method == "HEAD" else None)
        if not needed:
            return True
        authorization = getattr(request, "auth0_authorization", None)
        if authorization is None:
            authorization = authorization_of(user.sub)
            request.auth0_authorization = authorization
        if not set(needed) <= set(authorization[self.key]):
            raise MissingAuthorization(self.kind, needed)
        return True


class HasAuth0Role(_HasAuthorization):
    """The view's `required_roles = {"GET": ["reporter"]}`, checked in
    `app_metadata.authorization.roles`."""

    key, attribute, kind = "roles", "required_roles", "role"


class HasAuth0Group(_HasAuthorization):
    """The view's `required_groups = {"GET": ["staff"]}`, checked in
    `app_metadata.authorization.groups`."""

    key, attribute, kind = "groups", "required_groups", "group"
