"""Drive Writ's Management API with Auth0's own Python SDK (auth0-python 6), as an Auth0 user's
scripts would: a client-credentials token from GetToken (JSON body), then resource servers,
roles, permissions, users, paging, metadata, errors and signing keys (rotation's `{cert, kid}`,
the certificate checked with `cryptography`), each response parsed by the SDK's models.

usage: auth0_python.py ISSUER CLIENT_ID CLIENT_SECRET
Prints "ok" and exits 0 on success; raises otherwise.
"""
import hashlib
import json
import sys
import time
import urllib.request
import uuid

from auth0.authentication import GetToken
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from jwt.utils import base64url_decode
from auth0.management import Auth0


def main() -> None:
    issuer, client_id, secret = sys.argv[1:4]
    domain = issuer.removeprefix("http://").rstrip("/")
    token = GetToken(domain, client_id, client_secret=secret, protocol="http").client_credentials(audience=f"{issuer}api/v2/")
    assert token["token_type"] == "Bearer", token
    mgmt = Auth0(base_url=f"{issuer}api/v2", token=token["access_token"])

    api_id = f"https://sdk-{uuid.uuid4().hex[:8]}.example/api"
    rs = mgmt.resource_servers.create(
        identifier=api_id,
        name="SDK API",
        scopes=[{"value": "read:things", "description": "Read"}, {"value": "write:things", "description": "Write"}],
        enforce_policies=True,
        token_dialect="access_token_authz",
        signing_alg="RS256",
    )
    assert rs.identifier == api_id and rs.enforce_policies is True, rs
    assert mgmt.resource_servers.get(rs.id).name == "SDK API"

    role = mgmt.roles.create(name=f"sdk-editor-{uuid.uuid4().hex[:6]}", description="edits things")
    mgmt.roles.permissions.add(
        role.id,
        permissions=[{"resource_server_identifier": api_id, "permission_name": "write:things"}],
    )
    perms = list(mgmt.roles.permissions.list(role.id))
    assert [p.permission_name for p in perms] == ["write:things"], perms

    emails = [f"sdk{i}-{uuid.uuid4().hex[:6]}@example.com" for i in range(7)]
    users = [
        mgmt.users.create(connection="Username-Password-Authentication", email=e, password="sdk-password-1", app_metadata={"n": i})
        for i, e in enumerate(emails)
    ]
    # The SDK's pager asks page by page (include_totals=true) until a page is empty.
    seen = [u.email for u in mgmt.users.list(per_page=3, q="sdk")]
    assert sorted(seen) == sorted(emails), seen

    uid = users[0].user_id
    mgmt.users.roles.assign(uid, roles=[role.id])
    assert [r.name for r in mgmt.users.roles.list(uid)] == [role.name]
    updated = mgmt.users.update(uid, app_metadata={"n": None, "plan": "pro"}, name="SDK User")
    assert updated.app_metadata == {"plan": "pro"} and updated.name == "SDK User", updated
    found = mgmt.users.list_users_by_email(email=emails[0].upper())
    assert [u.user_id for u in found] == [uid], found

    try:
        mgmt.users.create(connection="Username-Password-Authentication", email=emails[1], password="sdk-password-1")
    except Exception as e:  # the SDK raises its typed 409 error
        assert getattr(e, "status_code", None) == 409, e
    else:
        raise AssertionError("duplicate user was accepted")

    mgmt.users.delete(uid)
    mgmt.roles.delete(role.id)
    mgmt.resource_servers.delete(rs.id)

    # The audit log, through the SDK's logs pager (entries are appended in the background).
    # 15 writes succeeded above (the API, the role, its permission, 7 users, the assignment,
    # the update and three deletions); the duplicate user failed (the SDK retries a 409).
    for _ in range(100):
        written = list(mgmt.logs.list(per_page=4, search="type:sapi"))
        failed = list(mgmt.logs.list(search="type:fapi"))
        if len(written) >= 15 and failed:
            break
        time.sleep(0.05)
    assert len(written) == 15 and all(e.type == "sapi" for e in written), written
    assert written[-1].description == "Create a resource server", written[-1]
    assert written[0].description == "Delete a resource server", written[0]
    assert {e.details["response"]["statusCode"] for e in failed} == {409}, failed
    one = mgmt.logs.get(written[0].log_id)
    assert one.client_id == client_id and one.details["request"]["method"] == "DELETE", one
    try:
        list(mgmt.logs.list(search="type:sapi OR type:fapi"))
    except Exception as e:  # the SDK raises its typed 400 error
        assert getattr(e, "status_code", None) == 400, e
    else:
        raise AssertionError("an unsupported query was accepted")

    # Signing keys in Auth0's shape: the SDK's models need `cert` (PEM) and `kid`; the
    # certificate holds the key the JWKS publishes, and the fingerprints are its SHA-1.
    rotated = mgmt.keys.signing.rotate()
    assert rotated.cert.startswith("-----BEGIN CERTIFICATE-----"), rotated
    key = mgmt.keys.signing.get(rotated.kid)
    assert key.current is True and key.cert == rotated.cert, key
    assert key.pkcs_7 and key.pkcs_7.startswith("-----BEGIN PKCS7-----"), key
    cert = x509.load_pem_x509_certificate(rotated.cert.encode())
    sha1 = hashlib.sha1(cert.public_bytes(Encoding.DER)).hexdigest()
    assert key.thumbprint == sha1 and key.fingerprint == ":".join(
        sha1[i:i + 2] for i in range(0, 40, 2)).upper(), key
    jwk = next(k for k in mgmt.keys.signing.list() if k.kid == rotated.kid)
    numbers = cert.public_key().public_numbers()
    with urllib.request.urlopen(f"{issuer}.well-known/jwks.json") as r:
        published = {k["kid"]: k for k in json.load(r)["keys"]}
    n = int.from_bytes(base64url_decode(published[jwk.kid]["n"]), "big")
    assert numbers.n == n, "the certificate's key is not the published key"
    print("ok")


if __name__ == "__main__":
    main()
