"""Authentication without a gate (WRIT_AUTH_MODE=jwt): Django verifies Writ's access tokens
itself with PyJWT.

- The keys come from `{issuer}.well-known/jwks.json` (PyJWKClient caches them and fetches the
  set again when a token names an unknown `kid`, e.g. after a key rotation).
- The algorithm is pinned to the API's (settings.WRIT_JWT_ALGORITHMS, RS256 for the demo
  API), never taken from the token; `iss`, `aud` and `exp` are checked, `sub` required, and
  the header's `typ` must be `at+jwt` (RFC 9068), so an ID token is not accepted as an
  access token.
- The caller's permissions are the token's `permissions` claim.

Limit: a verified token stays valid until it expires (`exp`; one hour for the demo API), even
if an admin revokes the user's permissions meanwhile. `writ gate` (and writ-guard) follow
Writ's authz event feed and refuse such tokens within a second; without them, ask Writ with
token introspection (`POST {issuer}oauth/introspect`, answers `active: false` for a token
made before a permission change) where that matters, or keep token lifetimes short.
"""
import functools

import jwt
from django.conf import settings
from rest_framework.authentication import BaseAuthentication

from .writ import REALM_CHALLENGE, InvalidToken, KeysUnavailable, WritUser

ACCESS_TOKEN_TYPES = {"at+jwt", "application/at+jwt"}


@functools.lru_cache(maxsize=4)
def jwks_client(issuer: str) -> jwt.PyJWKClient:
    """One key cache per issuer for the whole process."""
    return jwt.PyJWKClient(f"{issuer}.well-known/jwks.json", cache_keys=True, lifespan=600, timeout=5)


def verify(token: str) -> dict:
    """The claims of a valid access token for this API; raises InvalidToken otherwise."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise InvalidToken("malformed token")
    if str(header.get("typ", "")).lower() not in ACCESS_TOKEN_TYPES:
        raise InvalidToken("not an access token")
    if header.get("alg") not in settings.WRIT_JWT_ALGORITHMS:
        raise InvalidToken("unexpected signing algorithm")
    try:
        key = jwks_client(settings.WRIT_ISSUER).get_signing_key_from_jwt(token)
    except jwt.PyJWKClientConnectionError:
        raise KeysUnavailable()
    except jwt.PyJWTError:
        raise InvalidToken("unknown signing key")
    try:
        claims = jwt.decode(
            token,
            key.key,
            algorithms=settings.WRIT_JWT_ALGORITHMS,
            audience=settings.WRIT_AUDIENCE,
            issuer=settings.WRIT_ISSUER,
            options={"require": ["exp", "iss", "aud", "sub"]},
        )
    except jwt.ExpiredSignatureError:
        raise InvalidToken("token expired")
    except jwt.PyJWTError:
        raise InvalidToken("invalid token")
    permissions = claims.get("permissions", [])
    if not isinstance(permissions, list) or not all(isinstance(p, str) for p in permissions):
        raise InvalidToken("invalid permissions claim")
    return claims


class WritJWTAuthentication(BaseAuthentication):
    """`Authorization: Bearer <Writ access token>`, verified locally."""

    def authenticate(self, request):
        authorization = request.META.get("HTTP_AUTHORIZATION", "")
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer":
            return None  # another scheme: no bearer credentials (401 with the realm challenge)
        token = token.strip()
        if not token:
            raise InvalidToken("empty bearer token")
        claims = verify(token)
        user = WritUser(
            sub=claims["sub"],
            permissions=frozenset(claims.get("permissions", [])),
            scope=str(claims.get("scope", "")),
            client_id=str(claims.get("client_id") or claims.get("azp") or ""),
        )
        return (user, claims)

    def authenticate_header(self, request) -> str:
        return REALM_CHALLENGE
