"""End-to-end tests of examples/django-api: real Writ (demo data), real `writ gate`, real nginx
and real Django (gunicorn), all started by tests/django/run.sh, which sets:

    WRIT_URL          Writ's issuer, e.g. http://127.0.0.1:3100/
    API_URL           nginx in front of Django, e.g. http://127.0.0.1:8080
    JWT_API_URL       a second Django, WRIT_AUTH_MODE=jwt, no nginx or gate in front
    MGMT_CLIENT_ID / MGMT_CLIENT_SECRET   Writ's bootstrap client (Management API)

Standard library only. Prints `ℹ pass N` / `ℹ fail N` at the end (the lines that
scripts/test.sh's summary counts) and exits non-zero on a failure.
"""
import base64
import http.client
import json
import os
import sys
import time
import unittest
import urllib.parse

WRIT_URL = os.environ.get("WRIT_URL", "http://127.0.0.1:3100/")
API_URL = os.environ.get("API_URL", "http://127.0.0.1:8080")
JWT_API_URL = os.environ.get("JWT_API_URL", "http://127.0.0.1:8001")
MGMT_CLIENT_ID = os.environ.get("MGMT_CLIENT_ID", "")
MGMT_CLIENT_SECRET = os.environ.get("MGMT_CLIENT_SECRET", "")

AUDIENCE = "https://todos.example/api"
MGMT_AUDIENCE = WRIT_URL + "api/v2/"
CLI = ("demo-cli", "demo-cli-secret-change-me")
ALICE = ("alice@example.com", "alice-password-1")
BOB = ("bob@example.com", "bob-password-1")

# How long a permission change may take to reach the gate before the test gives up, and how
# often it looks. The design aims at well under a second; the latency is printed, not asserted.
FRESHNESS_DEADLINE_S = 2.0
POLL_INTERVAL_S = 0.05
PERMISSIONS_CHANGED = 'error_description="permissions changed"'

# Measured latencies, printed at the end.
LATENCIES = {}


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name):
        return self.headers.get(name.lower(), "")

    def json(self):
        return json.loads(self.body) if self.body else None

    def __repr__(self):
        return f"<{self.status} {self.headers} {self.body[:300]!r}>"


def call(method, url, token=None, json_body=None, form=None, headers=None):
    """One HTTP request on a new connection; never raises on an HTTP status."""
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    hdrs = dict(headers or {})
    body = None
    if token is not None:
        hdrs["Authorization"] = f"Bearer {token}"
    if json_body is not None:
        body = json.dumps(json_body).encode()
        hdrs["Content-Type"] = "application/json"
    elif form is not None:
        body = urllib.parse.urlencode(form).encode()
        hdrs["Content-Type"] = "application/x-www-form-urlencoded"
    path = u.path + (f"?{u.query}" if u.query else "")
    try:
        conn.request(method, path, body=body, headers=hdrs)
        r = conn.getresponse()
        # Header names lower-cased; repeated headers joined with "\n" so duplicates show.
        got = {}
        for k, v in r.getheaders():
            got[k.lower()] = got[k.lower()] + "\n" + v if k.lower() in got else v
        return Response(r.status, got, r.read().decode())
    finally:
        conn.close()


def user_token(user, scope=None):
    form = {
        "grant_type": "password",
        "client_id": CLI[0],
        "client_secret": CLI[1],
        "username": user[0],
        "password": user[1],
        "audience": AUDIENCE,
    }
    if scope:
        form["scope"] = scope
    r = call("POST", WRIT_URL + "oauth/token", form=form)
    assert r.status == 200, r
    return r.json()


def access_token(user):
    return user_token(user)["access_token"]


def claims(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def tamper(token):
    """The same token with one claim changed (the signature no longer matches)."""
    head, payload, sig = token.split(".")
    c = claims(token)
    c["permissions"] = sorted(set(c.get("permissions", [])) | {"write:todos", "delete:todos"})
    c["sub"] = c["sub"] + "x"
    forged = base64.urlsafe_b64encode(json.dumps(c).encode()).rstrip(b"=").decode()
    return f"{head}.{forged}.{sig}"


class Management:
    """Writ's Management API (Auth0's v2) with the bootstrap client."""

    def __init__(self):
        r = call(
            "POST",
            WRIT_URL + "oauth/token",
            json_body={
                "grant_type": "client_credentials",
                "client_id": MGMT_CLIENT_ID,
                "client_secret": MGMT_CLIENT_SECRET,
                "audience": MGMT_AUDIENCE,
            },
        )
        assert r.status == 200, r
        self.token = r.json()["access_token"]

    def get(self, path):
        r = call("GET", WRIT_URL + "api/v2/" + path, token=self.token)
        assert r.status == 200, r
        return r.json()

    def user_id(self, email):
        users = self.get("users-by-email?" + urllib.parse.urlencode({"email": email}))
        assert len(users) == 1, users
        return users[0]["user_id"]

    def role_id(self, name):
        roles = self.get("roles?" + urllib.parse.urlencode({"name_filter": name}))
        matching = [r["id"] for r in roles if r["name"] == name]
        assert len(matching) == 1, roles
        return matching[0]

    def assign_roles(self, user_id, role_ids):
        r = call("POST", f"{WRIT_URL}api/v2/users/{user_id}/roles", token=self.token,
                 json_body={"roles": role_ids})
        assert r.status in (200, 201, 204), r

    def remove_roles(self, user_id, role_ids):
        r = call("DELETE", f"{WRIT_URL}api/v2/users/{user_id}/roles", token=self.token,
                 json_body={"roles": role_ids})
        assert r.status in (200, 204), r

    def send(self, method, path, body=None):
        """`method` on `path` with a JSON body; the answer's JSON (None when empty)."""
        r = call(method, WRIT_URL + "api/v2/" + path, token=self.token, json_body=body)
        assert r.status in (200, 201, 204), r
        return r.json()

    def api_id(self, identifier):
        apis = self.get("resource-servers")
        matching = [a["id"] for a in apis if a["identifier"] == identifier]
        assert len(matching) == 1, apis
        return matching[0]


class ApiAssertions(unittest.TestCase):
    def assertStatus(self, r, status):
        self.assertEqual(r.status, status, r)

    def assertChallenge(self, r, status, *fragments):
        self.assertStatus(r, status)
        challenge = r.header("www-authenticate")
        self.assertTrue(challenge.startswith("Bearer"), r)
        self.assertNotIn("\n", challenge, f"WWW-Authenticate sent more than once: {r}")
        for f in fragments:
            self.assertIn(f, challenge, r)


class GateTests(ApiAssertions):
    """Django behind nginx: every /api/ request is first checked by `writ gate`."""

    @classmethod
    def setUpClass(cls):
        cls.alice = access_token(ALICE)
        cls.bob = access_token(BOB)

    def test_no_token_is_401_with_a_challenge(self):
        r = call("GET", API_URL + "/api/todos")
        self.assertChallenge(r, 401)
        self.assertEqual(r.json()["error"], "unauthorized")

    def test_garbage_token_is_401_invalid_token(self):
        r = call("GET", API_URL + "/api/todos", token="not-a-jwt")
        self.assertChallenge(r, 401, 'error="invalid_token"')
        self.assertEqual(r.json()["error"], "invalid_token")

    def test_tampered_token_is_401(self):
        r = call("GET", API_URL + "/api/todos", token=tamper(self.alice))
        self.assertChallenge(r, 401, 'error="invalid_token"')

    def test_public_route_needs_no_token(self):
        r = call("GET", API_URL + "/api/health")
        self.assertStatus(r, 200)
        self.assertEqual(r.json(), {"status": "ok"})

    def test_alice_lists_creates_reads_updates_and_deletes(self):
        r = call("GET", API_URL + "/api/todos", token=self.alice)
        self.assertStatus(r, 200)
        self.assertIsInstance(r.json(), list)

        r = call("POST", API_URL + "/api/todos", token=self.alice, json_body={"title": "buy milk"})
        self.assertStatus(r, 201)
        todo = r.json()
        self.assertEqual(todo["title"], "buy milk")
        self.assertFalse(todo["done"])
        self.assertEqual(r.header("location"), f"/api/todos/{todo['id']}")

        r = call("GET", API_URL + "/api/todos", token=self.alice)
        self.assertIn(todo["id"], [t["id"] for t in r.json()])

        r = call("PATCH", f"{API_URL}/api/todos/{todo['id']}", token=self.alice,
                 json_body={"done": True})
        self.assertStatus(r, 200)
        self.assertTrue(r.json()["done"])

        r = call("GET", f"{API_URL}/api/todos/{todo['id']}", token=self.alice)
        self.assertStatus(r, 200)
        self.assertTrue(r.json()["done"])

        r = call("DELETE", f"{API_URL}/api/todos/{todo['id']}", token=self.alice)
        self.assertStatus(r, 204)
        r = call("GET", f"{API_URL}/api/todos/{todo['id']}", token=self.alice)
        self.assertStatus(r, 404)

    def test_a_bad_title_is_400(self):
        r = call("POST", API_URL + "/api/todos", token=self.alice, json_body={"title": ""})
        self.assertStatus(r, 400)

    def test_query_string_does_not_change_the_rule(self):
        r = call("GET", API_URL + "/api/todos?page=2", token=self.bob)
        self.assertStatus(r, 200)

    def test_bob_reads_but_may_not_write_or_delete(self):
        r = call("GET", API_URL + "/api/todos", token=self.bob)
        self.assertStatus(r, 200)

        r = call("POST", API_URL + "/api/todos", token=self.bob, json_body={"title": "nope"})
        self.assertChallenge(r, 403, 'error="insufficient_scope"', 'scope="write:todos"')
        self.assertEqual(r.json()["error"], "insufficient_scope")

        mine = call("POST", API_URL + "/api/todos", token=self.alice,
                    json_body={"title": "alice's"}).json()
        r = call("DELETE", f"{API_URL}/api/todos/{mine['id']}", token=self.bob)
        self.assertChallenge(r, 403, 'error="insufficient_scope"', 'scope="delete:todos"')
        r = call("PATCH", f"{API_URL}/api/todos/{mine['id']}", token=self.bob,
                 json_body={"title": "changed"})
        self.assertChallenge(r, 403, 'error="insufficient_scope"', 'scope="write:todos"')

    def test_todos_are_per_user(self):
        mine = call("POST", API_URL + "/api/todos", token=self.alice,
                    json_body={"title": "private"}).json()
        r = call("GET", API_URL + "/api/todos", token=self.bob)
        self.assertNotIn(mine["id"], [t["id"] for t in r.json()])
        r = call("GET", f"{API_URL}/api/todos/{mine['id']}", token=self.bob)
        self.assertStatus(r, 404)

    def test_spoofed_identity_headers_are_replaced(self):
        alice_sub = claims(self.alice)["sub"]
        bob_sub = claims(self.bob)["sub"]
        spoof = {
            "X-Writ-Sub": alice_sub,
            "X-Writ-Permissions": "read:todos write:todos delete:todos",
        }
        r = call("GET", API_URL + "/api/me", token=self.bob, headers=spoof)
        self.assertStatus(r, 200)
        self.assertEqual(r.json()["sub"], bob_sub)
        self.assertEqual(r.json()["permissions"], ["read:todos"])

        r = call("POST", API_URL + "/api/todos", token=self.bob, headers=spoof,
                 json_body={"title": "spoofed"})
        self.assertStatus(r, 403)

        # The underscore spelling, which Django would read as the same header.
        r = call("GET", API_URL + "/api/me", token=self.bob, headers={
            "X_Writ_Sub": alice_sub, "X_Writ_Permissions": "write:todos"})
        self.assertStatus(r, 200)
        self.assertEqual(r.json()["sub"], bob_sub)
        self.assertEqual(r.json()["permissions"], ["read:todos"])

        # A public route: the gate vouches for nobody, and neither can the client.
        r = call("GET", API_URL + "/api/health", headers=spoof)
        self.assertStatus(r, 200)

    def test_me_reports_the_gates_identity(self):
        r = call("GET", API_URL + "/api/me", token=self.alice)
        self.assertStatus(r, 200)
        me = r.json()
        self.assertEqual(me["sub"], claims(self.alice)["sub"])
        self.assertEqual(me["permissions"], sorted(claims(self.alice)["permissions"]))
        self.assertEqual(me["client_id"], CLI[0])

    def test_no_rule_means_403(self):
        # PUT is in no rule (the gate refuses before Django could answer 405).
        r = call("PUT", API_URL + "/api/todos/1", token=self.alice, json_body={"title": "x"})
        self.assertStatus(r, 403)
        self.assertEqual(r.json()["error"], "access_denied")
        r = call("GET", API_URL + "/api/unknown", token=self.alice)
        self.assertStatus(r, 403)

    def test_token_for_another_api_is_refused(self):
        mgmt = Management()
        r = call("GET", API_URL + "/api/todos", token=mgmt.token)
        self.assertChallenge(r, 401, 'error="invalid_token"')


class JwtModeTests(ApiAssertions):
    """Django alone, verifying tokens itself with PyJWT (WRIT_AUTH_MODE=jwt)."""

    @classmethod
    def setUpClass(cls):
        cls.alice = access_token(ALICE)
        cls.bob = access_token(BOB)

    def test_alice_token_is_accepted(self):
        r = call("GET", JWT_API_URL + "/api/me", token=self.alice)
        self.assertStatus(r, 200)
        self.assertEqual(r.json()["sub"], claims(self.alice)["sub"])
        self.assertEqual(r.json()["permissions"], sorted(claims(self.alice)["permissions"]))

        r = call("POST", JWT_API_URL + "/api/todos", token=self.alice, json_body={"title": "jwt"})
        self.assertStatus(r, 201)
        todo = r.json()
        r = call("GET", JWT_API_URL + "/api/todos", token=self.alice)
        self.assertStatus(r, 200)
        self.assertIn(todo["id"], [t["id"] for t in r.json()])
        r = call("DELETE", f"{JWT_API_URL}/api/todos/{todo['id']}", token=self.alice)
        self.assertStatus(r, 204)

    def test_tampered_token_is_refused(self):
        r = call("GET", JWT_API_URL + "/api/todos", token=tamper(self.alice))
        self.assertChallenge(r, 401, 'error="invalid_token"')
        self.assertEqual(r.json()["error"], "invalid_token")

    def test_no_token_is_401(self):
        r = call("GET", JWT_API_URL + "/api/todos")
        self.assertChallenge(r, 401, 'realm="api"')

    def test_bob_may_not_write(self):
        self.assertStatus(call("GET", JWT_API_URL + "/api/todos", token=self.bob), 200)
        r = call("POST", JWT_API_URL + "/api/todos", token=self.bob, json_body={"title": "x"})
        self.assertChallenge(r, 403, 'error="insufficient_scope"', 'scope="write:todos"')

    def test_gate_headers_mean_nothing_in_jwt_mode(self):
        r = call("GET", JWT_API_URL + "/api/me", headers={
            "X-Writ-Sub": claims(self.alice)["sub"], "X-Writ-Permissions": "read:todos"})
        self.assertChallenge(r, 401)

    def test_token_for_another_audience_is_refused(self):
        r = call("GET", JWT_API_URL + "/api/todos", token=Management().token)
        self.assertChallenge(r, 401, 'error="invalid_token"')

    def test_id_token_is_not_an_access_token(self):
        tokens = user_token(ALICE, scope="openid")
        self.assertIn("id_token", tokens)
        r = call("GET", JWT_API_URL + "/api/todos", token=tokens["id_token"])
        self.assertChallenge(r, 401, 'error="invalid_token"')

    def test_unsigned_token_is_refused(self):
        head = base64.urlsafe_b64encode(b'{"alg":"none","typ":"at+jwt"}').rstrip(b"=").decode()
        payload = self.alice.split(".")[1]
        r = call("GET", JWT_API_URL + "/api/todos", token=f"{head}.{payload}.")
        self.assertChallenge(r, 401, 'error="invalid_token"')


class FreshnessTests(ApiAssertions):
    """A permission change reaches the gate through Writ's authz event feed: tokens made
    before it are refused at once (401 "permissions changed"), without waiting for `exp`."""

    def setUp(self):
        self.mgmt = Management()
        self.alice_id = self.mgmt.user_id(ALICE[0])
        self.editor = self.mgmt.role_id("editor")
        self.viewer = self.mgmt.role_id("viewer")

    def tearDown(self):
        # Back to the demo's state: alice is an editor only.
        self.mgmt.assign_roles(self.alice_id, [self.editor])
        self.mgmt.remove_roles(self.alice_id, [self.viewer])

    def wait_until_stale(self, token, label):
        """POSTs with `token` every 50 ms until the gate answers 401 "permissions changed";
        returns the seconds it took."""
        start = time.monotonic()
        while True:
            r = call("POST", API_URL + "/api/todos", token=token, json_body={"title": "poll"})
            elapsed = time.monotonic() - start
            if r.status == 401:
                self.assertChallenge(r, 401, 'error="invalid_token"', PERMISSIONS_CHANGED)
                self.assertEqual(r.json()["error_description"], "permissions changed")
                LATENCIES[label] = elapsed
                return elapsed
            self.assertIn(r.status, (201, 403), r)
            if elapsed > FRESHNESS_DEADLINE_S:
                self.fail(f"{label}: still {r.status} after {elapsed:.2f} s")
            time.sleep(POLL_INTERVAL_S)

    def test_revoking_and_granting_a_role_reaches_the_gate(self):
        # alice holds viewer as well as editor, so that losing editor leaves her read access.
        self.mgmt.assign_roles(self.alice_id, [self.viewer])
        old = access_token(ALICE)
        self.assertStatus(call("POST", API_URL + "/api/todos", token=old,
                               json_body={"title": "before"}), 201)

        # Revoke: the token made before the change is refused within the deadline ...
        self.mgmt.remove_roles(self.alice_id, [self.editor])
        self.wait_until_stale(old, "revoke")
        self.assertChallenge(call("GET", API_URL + "/api/todos", token=old), 401,
                             PERMISSIONS_CHANGED)
        # ... while Django verifying tokens itself still accepts it until it expires (the
        # documented limit of WRIT_AUTH_MODE=jwt), and introspection knows better.
        self.assertStatus(call("POST", JWT_API_URL + "/api/todos", token=old,
                               json_body={"title": "jwt mode cannot know"}), 201)
        r = call("POST", WRIT_URL + "oauth/introspect",
                 form={"token": old, "client_id": CLI[0], "client_secret": CLI[1]})
        self.assertStatus(r, 200)
        self.assertEqual(r.json()["active"], False, r)

        # A new token carries what is left: read, not write.
        mid = access_token(ALICE)
        self.assertEqual(claims(mid)["permissions"], ["read:todos"])
        r = call("POST", API_URL + "/api/todos", token=mid, json_body={"title": "after"})
        self.assertChallenge(r, 403, 'error="insufficient_scope"', 'scope="write:todos"')
        self.assertStatus(call("GET", API_URL + "/api/todos", token=mid), 200)

        # Grant again: the token made in between is refused, a new one may write.
        self.mgmt.assign_roles(self.alice_id, [self.editor])
        self.wait_until_stale(mid, "grant")
        new = access_token(ALICE)
        self.assertIn("write:todos", claims(new)["permissions"])
        self.assertStatus(call("POST", API_URL + "/api/todos", token=new,
                               json_body={"title": "again"}), 201)
        self.assertChallenge(call("GET", API_URL + "/api/todos", token=old), 401,
                             PERMISSIONS_CHANGED)


class AuthorizationExtensionTests(ApiAssertions):
    """Auth0's Authorization Extension, switched on for the todos API only: the jwt-mode Django
    checks roles and groups as djangorestframework-auth0 does, in the caller's
    app_metadata.authorization read from the Management API by `sub`. A role added to bob's
    group reaches the API with the token he already has."""

    def setUp(self):
        self.mgmt = Management()
        self.bob_id = self.mgmt.user_id(BOB[0])
        self.api = self.mgmt.api_id(AUDIENCE)
        tc = self.mgmt.send("PATCH", f"resource-servers/{self.api}",
                            {"token_claims": {"authorization_extension": True}})["token_claims"]
        self.assertEqual(tc["authorization_claim"], WRIT_URL + "authorization")
        self.role = self.mgmt.send("POST", "roles", {"name": "reporter"})["id"]
        self.staff = self.mgmt.send("POST", "groups", {"name": "staff"})["id"]
        self.night = self.mgmt.send("POST", "groups",
                                    {"name": "night-shift", "parent_id": self.staff})["id"]

    def tearDown(self):
        self.mgmt.send("DELETE", f"groups/{self.staff}")
        self.mgmt.send("DELETE", f"roles/{self.role}")
        self.mgmt.send("PATCH", f"resource-servers/{self.api}",
                       {"token_claims": {"authorization_extension": False}})

    def test_a_role_added_to_bobs_group_reaches_the_api_without_a_new_login(self):
        token = access_token(BOB)
        for path in ("/api/reports", "/api/team"):
            r = call("GET", JWT_API_URL + path, token=token)
            self.assertStatus(r, 403)
            self.assertEqual(r.json()["error"], "access_denied", r)

        # bob joins night-shift, below staff: the group check passes at once, same token.
        self.mgmt.send("POST", f"groups/{self.night}/members", {"members": [self.bob_id]})
        r = call("GET", JWT_API_URL + "/api/team", token=token)
        self.assertStatus(r, 200)
        self.assertEqual(sorted(r.json()["groups"]), ["night-shift", "staff"])
        self.assertStatus(call("GET", JWT_API_URL + "/api/reports", token=token), 403)

        # The role `reporter` given to staff: bob holds it through his group, same token.
        self.mgmt.send("POST", f"groups/{self.staff}/roles", {"roles": [self.role]})
        r = call("GET", JWT_API_URL + "/api/reports", token=token)
        self.assertStatus(r, 200)
        self.assertIn("reporter", r.json()["roles"])
        self.assertEqual(r.json()["sub"], self.bob_id)

        # Taken away again: refused at the next request.
        self.mgmt.send("DELETE", f"groups/{self.staff}/roles", {"roles": [self.role]})
        self.assertStatus(call("GET", JWT_API_URL + "/api/reports", token=token), 403)

    def test_tokens_carry_the_extensions_claims_when_asked(self):
        self.mgmt.send("POST", f"groups/{self.night}/members", {"members": [self.bob_id]})
        self.mgmt.send("POST", f"groups/{self.staff}/roles", {"roles": [self.role]})
        answer = user_token(BOB, scope="openid groups roles read:todos")
        c = claims(answer["access_token"])
        self.assertEqual(answer["scope"], "openid groups roles read:todos")
        self.assertEqual(c["groups"], ["night-shift", "staff"])
        self.assertIn("reporter", c["roles"])
        ext = c[WRIT_URL + "authorization"]
        self.assertEqual(ext["groups"], ["night-shift", "staff"])
        self.assertEqual(ext["permissions"], c["permissions"])
        # Django in jwt mode accepts the token with the extra claims.
        self.assertStatus(call("GET", JWT_API_URL + "/api/todos", token=answer["access_token"]), 200)


def main() -> int:
    loader = unittest.TestLoader()
    suite = unittest.TestSuite(
        loader.loadTestsFromTestCase(case) for case in (GateTests, JwtModeTests, FreshnessTests,
                                                    AuthorizationExtensionTests)
    )
    result = unittest.TextTestRunner(stream=sys.stdout, verbosity=2).run(suite)
    for label, seconds in LATENCIES.items():
        note = "" if seconds <= 1.0 else "  (over the 1 s target)"
        print(f"freshness: {label} reached the gate after {seconds * 1000:.0f} ms{note}")
    problems = [t for t, _ in result.failures + result.errors] + result.unexpectedSuccesses
    failed = len(problems)
    # A failing setUpClass counts as a failure but ran no test of its class.
    ran_and_failed = sum(1 for t in problems if isinstance(t, unittest.TestCase))
    passed = result.testsRun - ran_and_failed - len(result.skipped)
    print(f"ℹ pass {passed}")
    print(f"ℹ fail {failed}")
    return 0 if failed == 0 and result.testsRun > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
