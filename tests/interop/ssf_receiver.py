"""An OpenID Shared Signals receiver written from the RFCs alone (RFC 8417 SETs, RFC 8935 push,
RFC 8936 poll, RFC 9493 subjects, SSF 1.0 stream management), used to test Writ's transmitter.

usage: ssf_receiver.py ISSUER CLIENT_ID CLIENT_SECRET OUT_FILE

It reads Writ's /.well-known/ssf-configuration, takes an access token for the Management API
audience with the client credentials grant, and creates two streams asking for the CAEP events:
one pushed to an HTTP endpoint it serves on 127.0.0.1 (RFC 8935), one it polls (RFC 8936),
acknowledging what it verified. Every SET is verified with PyJWT against Writ's JWKS: the
signature, `typ: secevent+jwt`, `iss`, `aud` (the receiver's client id), and the presence of
`jti`, `iat`, `sub_id` and `events`. Each verified SET is appended to OUT_FILE as one JSON line
`{"via": "push"|"poll", "received": <unix seconds, float>, "claims": {...}}`.

Prints `ready <push stream id> <poll stream id>` once both streams exist, then runs until it is
killed or its stdin closes. The poll loop keeps trying while Writ is down (a restart).
"""
import json
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from jwt import PyJWKClient

CAEP = "https://schemas.openid.net/secevent/caep/event-type/"
EVENTS = [CAEP + "token-claims-change", CAEP + "session-revoked", CAEP + "credential-change"]

LOCK = threading.Lock()


def call(method, url, token=None, body=None, form=None, timeout=30):
    headers = {"accept": "application/json"}
    data = None
    if token:
        headers["authorization"] = "Bearer " + token
    if body is not None:
        data = json.dumps(body).encode()
        headers["content-type"] = "application/json"
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["content-type"] = "application/x-www-form-urlencoded"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            text = r.read()
            return r.status, (json.loads(text) if text else None)
    except urllib.error.HTTPError as e:
        text = e.read()
        return e.code, (json.loads(text) if text else None)


class Verifier:
    def __init__(self, meta, audience):
        self.meta = meta
        self.audience = audience
        self.jwks = PyJWKClient(meta["jwks_uri"])

    def verify(self, token):
        header = jwt.get_unverified_header(token)
        if header.get("typ") != "secevent+jwt":
            raise jwt.InvalidTokenError("typ is not secevent+jwt: %r" % header.get("typ"))
        key = self.jwks.get_signing_key_from_jwt(token)
        claims = jwt.decode(
            token,
            key.key,
            algorithms=["RS256", "ES256", "EdDSA"],
            audience=self.audience,
            issuer=self.meta["issuer"],
            options={"require": ["iss", "aud", "iat", "jti"]},
        )
        if not isinstance(claims.get("events"), dict) or not claims["events"]:
            raise jwt.InvalidTokenError("no events claim")
        if not isinstance(claims.get("sub_id"), dict) or "format" not in claims["sub_id"]:
            raise jwt.InvalidTokenError("no sub_id subject identifier")
        return claims


def record(out, via, claims):
    line = json.dumps({"via": via, "received": time.time(), "claims": claims})
    with LOCK:
        with open(out, "a") as f:
            f.write(line + "\n")


def main():
    issuer, client_id, secret, out = sys.argv[1:5]
    base = issuer if issuer.endswith("/") else issuer + "/"
    status, meta = call("GET", base + ".well-known/ssf-configuration")
    assert status == 200, (status, meta)
    assert meta["spec_version"] == "1_0", meta
    assert "urn:ietf:rfc:8935" in meta["delivery_methods_supported"], meta
    assert "urn:ietf:rfc:8936" in meta["delivery_methods_supported"], meta
    status, tok = call(
        "POST",
        base + "oauth/token",
        form={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
            "audience": base + "api/v2/",
        },
    )
    assert status == 200, (status, tok)
    token = tok["access_token"]
    verifier = Verifier(meta, client_id)

    class Push(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def answer(self, code, body=None):
            data = json.dumps(body).encode() if body is not None else b""
            self.send_response(code)
            if body is not None:
                self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            n = int(self.headers.get("content-length", "0"))
            raw = self.rfile.read(n).decode()
            if self.headers.get("content-type", "").split(";")[0] != "application/secevent+jwt":
                return self.answer(400, {"err": "invalid_request", "description": "not a SET"})
            if self.headers.get("authorization") != "Bearer push-secret":
                return self.answer(
                    400, {"err": "authentication_failed", "description": "wrong credentials"}
                )
            try:
                claims = verifier.verify(raw)
            except jwt.PyJWTError as e:
                return self.answer(400, {"err": "invalid_request", "description": str(e)})
            record(out, "push", claims)
            self.answer(202)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Push)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = "http://127.0.0.1:%d/events" % server.server_address[1]

    status, push = call(
        "POST",
        meta["configuration_endpoint"],
        token,
        {
            "delivery": {
                "method": "urn:ietf:rfc:8935",
                "endpoint_url": endpoint,
                "authorization_header": "Bearer push-secret",
            },
            "events_requested": EVENTS,
            "description": "interop push",
        },
    )
    assert status == 201, (status, push)
    assert push["aud"] == client_id, push
    assert push["events_delivered"] == EVENTS, push
    assert "authorization_header" not in push["delivery"], push
    status, poll = call(
        "POST",
        meta["configuration_endpoint"],
        token,
        {"delivery": {"method": "urn:ietf:rfc:8936"}, "events_requested": EVENTS},
    )
    assert status == 201, (status, poll)
    poll_url = poll["delivery"]["endpoint_url"]

    # Verification: the transmitter answers with a verification SET carrying our state.
    status, _ = call(
        "POST", meta["verification_endpoint"], token, {"stream_id": poll["stream_id"], "state": "hello"}
    )
    assert status == 204, status

    def poll_loop():
        ack = []
        while True:
            try:
                status, got = call(
                    "POST",
                    poll_url,
                    token,
                    {"ack": ack, "maxEvents": 50, "returnImmediately": False},
                    timeout=60,
                )
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                time.sleep(0.2)  # Writ is restarting: keep the acks for the next try
                continue
            if status != 200:
                time.sleep(0.2)
                continue
            ack = []
            for jti, set_ in got["sets"].items():
                try:
                    claims = verifier.verify(set_)
                except jwt.PyJWTError as e:
                    print("poll: refused", jti, e, file=sys.stderr, flush=True)
                    continue
                assert claims["jti"] == jti, (claims, jti)
                record(out, "poll", claims)
                ack.append(jti)

    threading.Thread(target=poll_loop, daemon=True).start()
    print("ready", push["stream_id"], poll["stream_id"], flush=True)
    sys.stdin.read()  # until the test closes stdin or kills us


if __name__ == "__main__":
    main()
