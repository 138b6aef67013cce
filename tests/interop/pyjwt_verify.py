"""Verify a Writ access token the way a Django API does: PyJWT's PyJWKClient fetches the
JWKS over HTTP, the key is picked by kid, and iss/aud/exp are checked; then the permissions
claim is compared with the expected list.

usage: pyjwt_verify.py JWKS_URL ISSUER AUDIENCE ALG TOKEN EXPECTED_PERMISSIONS_JSON
Prints "ok <alg> <sub>" and exits 0 on success; raises otherwise.
"""
import json
import sys

import jwt
from jwt import PyJWKClient


def main() -> None:
    jwks_url, issuer, audience, alg, token, expected = sys.argv[1:7]
    client = PyJWKClient(jwks_url, cache_keys=False)
    key = client.get_signing_key_from_jwt(token)
    header = jwt.get_unverified_header(token)
    assert header["alg"] == alg, header
    assert header["typ"] == "at+jwt", header
    claims = jwt.decode(
        token,
        key.key,
        algorithms=[alg],
        audience=audience,
        issuer=issuer,
        options={"require": ["exp", "iat", "iss", "aud", "sub"]},
    )
    assert claims["permissions"] == json.loads(expected), claims
    # A tampered token must fail.
    head, body, sig = token.split(".")
    tampered = head + "." + body[:-4] + ("AAAA" if body[-4:] != "AAAA" else "BBBB") + "." + sig
    try:
        jwt.decode(tampered, key.key, algorithms=[alg], audience=audience, issuer=issuer)
    except jwt.InvalidTokenError:
        pass
    else:
        raise AssertionError("tampered token verified")
    print("ok", alg, claims["sub"])


if __name__ == "__main__":
    main()
