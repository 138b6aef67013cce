"""What both ways of authenticating share: the request's user (a Writ subject with its
permissions), the per-view permission check, and RFC 6750 challenges on 401 and 403.

Authentication is pluggable (settings.WRIT_AUTH_MODE):

- `todos.writ_gate.WritGateAuthentication` reads the identity that nginx copied from
  `writ gate`'s answer into `X-Writ-Sub` / `X-Writ-Permissions`;
- `todos.writ_jwt.WritJWTAuthentication` verifies the bearer token itself with PyJWT.

Either way, `HasWritPermission` checks the view's `required_permissions` again, so that a
missing or too broad gate rule does not open the API (defence in depth).
"""
from dataclasses import dataclass, field

from rest_framework import exceptions, status
from rest_framework.permissions import BasePermission

# The challenge sent with a 401 when the request carried no credentials (RFC 6750 §3).
REALM_CHALLENGE = 'Bearer realm="api"'


@dataclass(frozen=True)
class WritUser:
    """The caller: a Writ user (or machine client) identified by the token's `sub`."""

    sub: str
    permissions: frozenset = field(default_factory=frozenset)
    scope: str = ""
    client_id: str = ""

    # What DRF and Django ask of a user object.
    is_authenticated = True
    is_anonymous = False

    @property
    def pk(self) -> str:
        return self.sub

    def __str__(self) -> str:
        return self.sub


class InvalidToken(exceptions.AuthenticationFailed):
    """401 `invalid_token`: the token is malformed, expired, not for this API, or forged."""

    def __init__(self, description: str):
        super().__init__(detail=description)
        self.error = "invalid_token"
        self.www_authenticate = f'Bearer error="invalid_token", error_description="{description}"'


class InsufficientScope(exceptions.PermissionDenied):
    """403 `insufficient_scope`: a valid token without the permissions this request needs."""

    def __init__(self, needed):
        needed = " ".join(needed)
        super().__init__(detail=f"this request needs {needed or 'a permission nobody has'}")
        self.error = "insufficient_scope"
        self.www_authenticate = f'Bearer error="insufficient_scope", scope="{needed}"'


class KeysUnavailable(exceptions.APIException):
    """503: Writ's signing keys could not be fetched (jwt mode), so no token can be checked."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "the issuer's signing keys are unavailable"
    default_code = "temporarily_unavailable"

    def __init__(self):
        super().__init__()
        self.error = "temporarily_unavailable"


class HasWritPermission(BasePermission):
    """Allows a request when the caller holds every permission that the view lists for the
    request's method:

        class TodoList(generics.ListCreateAPIView):
            required_permissions = {"GET": ["read:todos"], "POST": ["write:todos"]}

    `[]` means "any authenticated caller". A method that the view handles but does not list
    is refused (fail closed); `HEAD` needs what `GET` needs; a method the view does not
    handle at all gets DRF's 405. Without a user the answer is 401, without a
    permission 403 with `WWW-Authenticate: Bearer error="insufficient_scope", scope="…"`.
    """

    def has_permission(self, request, view) -> bool:
        user = request.user
        if user is None or not getattr(user, "is_authenticated", False):
            raise exceptions.NotAuthenticated()
        method = request.method.upper()
        if method.lower() not in view.http_method_names or not hasattr(view, method.lower()):
            return True  # the view has no handler for this method: DRF answers 405
        required = getattr(view, "required_permissions", None) or {}
        needed = required.get(method)
        if needed is None and method == "HEAD":
            needed = required.get("GET")
        if needed is None:
            raise InsufficientScope([])
        if not set(needed) <= set(user.permissions):
            raise InsufficientScope(needed)
        return True


def exception_handler(exc, context):
    """DRF's handler, plus RFC 6750 bodies (`error`, `error_description`) and challenges."""
    # Imported here: rest_framework.views imports the authentication classes, which import
    # this module.
    from rest_framework.views import exception_handler as drf_exception_handler

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    error = getattr(exc, "error", None)
    if error is None and isinstance(exc, exceptions.NotAuthenticated):
        error = "unauthorized"
    if error is not None:
        response.data = {"error": error, "error_description": str(exc.detail)}
    challenge = getattr(exc, "www_authenticate", None)
    if challenge is not None:
        response["WWW-Authenticate"] = challenge
    return response
