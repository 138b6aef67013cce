"""Authentication behind nginx + `writ gate` (WRIT_AUTH_MODE=gate, the default).

nginx asks `writ gate` about each request (`auth_request`); the gate verifies the bearer
token, follows Writ's authz event feed (so a token made before a permission change is refused
within a second) and answers with the caller's identity, which nginx copies into the request
it passes to Django:

    X-Writ-Sub: usr_…                      the token's subject
    X-Writ-Permissions: read:todos write:todos
    X-Writ-Scope, X-Writ-Client-Id

These headers are trusted only because nginx *replaces* whatever the client sent under these
names, and Django (gunicorn) listens on 127.0.0.1 only, so nothing but nginx reaches it.
Never expose this server on another interface in gate mode: anyone who can reach it could
claim any identity. Where that cannot be guaranteed, use WRIT_AUTH_MODE=jwt.
"""
from rest_framework.authentication import BaseAuthentication

from .writ import REALM_CHALLENGE, WritUser


def _header(request, name: str) -> str:
    # WSGI spelling: X-Writ-Sub → HTTP_X_WRIT_SUB. (nginx and gunicorn both drop headers
    # spelt with underscores, such as X_Writ_Sub, which would map to the same key.)
    return request.META.get("HTTP_" + name.upper().replace("-", "_"), "").strip()


class WritGateAuthentication(BaseAuthentication):
    """The user is the `X-Writ-Sub` that nginx set from the gate's answer; no header, no user
    (then `HasWritPermission` answers 401)."""

    def authenticate(self, request):
        sub = _header(request, "X-Writ-Sub")
        if not sub:
            return None
        user = WritUser(
            sub=sub,
            permissions=frozenset(_header(request, "X-Writ-Permissions").split()),
            scope=_header(request, "X-Writ-Scope"),
            client_id=_header(request, "X-Writ-Client-Id"),
        )
        return (user, None)

    def authenticate_header(self, request) -> str:
        return REALM_CHALLENGE
