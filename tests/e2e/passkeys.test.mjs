// Passkeys in Chromium, with its virtual authenticator (the DevTools protocol's WebAuthn
// domain: CTAP2, internal transport, resident keys, user verification). A user who must use a
// second factor (`WRIT_MFA_CLIENTS` names the SPA's client) registers a passkey on the
// enrollment page instead of an authenticator app, keeps the recovery code, and is signed in
// with `amr` ["pwd", "hwk", "mfa"]; the Management API lists the method as type `passkey`.
// After logging out, the login page offers the passkey (a button, and the email field's
// autofill) and signs the user in without a password (`amr` ["hwk", "mfa"]). Once the method
// is deleted through the Management API, the same passkey is refused.
//
// Browsers refuse an IP address as a passkey's relying party, and run.sh's Writ has the issuer
// http://127.0.0.1:3000/; so this file starts a Writ of its own (the same binary, demo data,
// a fresh database of the run's backend) whose issuer is http://localhost:<free port>/.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { REPO_ROOT, STEP_MS, decodeJwt, eventually, inFreshContext, screenshot, sharedBrowser } from './lib.mjs';

const browser = sharedBrowser();
const CLIENT_ID = 'demo-spa';
// The demo SPA client's callback; the test answers it itself (nothing needs to run there).
const CALLBACK = 'http://127.0.0.1:5173/';
const ADMIN = { id: 'e2e-passkeys-admin', secret: randomBytes(24).toString('hex') };

let writ;
let WRIT;
let work;
let pgDb;

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

before(async () => {
  const port = await freePort();
  WRIT = `http://localhost:${port}`;
  work = mkdtempSync(path.join(os.tmpdir(), 'writ-passkeys-'));
  let database = `sqlite://${work}/writ.db`;
  const extra = {};
  if (process.env.E2E_BACKEND === 'postgres' && process.env.E2E_PG_URL) {
    const url = process.env.E2E_PG_URL;
    pgDb = `writ_passkeys_${process.pid}`;
    const made = spawnSync('psql', [url, '-qAtc', `CREATE DATABASE ${pgDb}`], { encoding: 'utf8' });
    if (made.status !== 0) throw new Error(`cannot create ${pgDb}: ${made.stderr}`);
    database = `${url.replace(/\/[^/]*$/, '')}/${pgDb}`;
    extra.WRIT_KEY_ENCRYPTION_KEY = randomBytes(32).toString('base64url');
  }
  const bin = path.resolve(REPO_ROOT, process.env.WRIT_BIN || 'target/release/writ');
  const logDir = process.env.E2E_LOGS || path.join(REPO_ROOT, 'target', 'e2e', 'logs');
  const log = createWriteStream(path.join(logDir, 'writ-passkeys.log'));
  writ = spawn(bin, ['demo'], {
    env: {
      ...process.env,
      ...extra,
      WRIT_DATABASE_URL: database,
      WRIT_LISTEN: `127.0.0.1:${port}`,
      WRIT_ISSUER: `${WRIT}/`,
      WRIT_MFA_CLIENTS: CLIENT_ID,
      WRIT_PASSKEY_ENROLLMENT_OFFER: 'true',
      WRIT_BOOTSTRAP_CLIENT_ID: ADMIN.id,
      WRIT_BOOTSTRAP_CLIENT_SECRET: ADMIN.secret,
      RUST_LOG: process.env.RUST_LOG || 'info',
      NO_COLOR: '1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  writ.stdout.pipe(log);
  writ.stderr.pipe(log);
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (writ.exitCode !== null) throw new Error(`writ exited (${writ.exitCode}); log: ${logDir}/writ-passkeys.log`);
    try {
      if ((await fetch(`${WRIT}/healthz`)).ok) break;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) throw new Error(`writ did not answer at ${WRIT}`);
    await new Promise((r) => setTimeout(r, 200));
  }
});

after(async () => {
  if (writ && writ.exitCode === null) {
    const exited = new Promise((r) => writ.once('exit', r));
    writ.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
  }
  if (pgDb) spawnSync('psql', [process.env.E2E_PG_URL, '-qAtc', `DROP DATABASE IF EXISTS ${pgDb} WITH (FORCE)`]);
  if (work) rmSync(work, { recursive: true, force: true });
});

/** A Management API client of this file's Writ. */
async function managementApi() {
  const res = await fetch(`${WRIT}/oauth/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: ADMIN.id,
      client_secret: ADMIN.secret,
      audience: `${WRIT}/api/v2/`,
    }),
  });
  const body = await res.json();
  if (!res.ok) throw new Error(`management token: ${res.status} ${JSON.stringify(body)}`);
  return async (method, p, json) => {
    const r = await fetch(`${WRIT}/api/v2${p}`, {
      method,
      headers: {
        Authorization: `Bearer ${body.access_token}`,
        ...(json ? { 'Content-Type': 'application/json' } : {}),
      },
      body: json ? JSON.stringify(json) : undefined,
    });
    const text = await r.text();
    if (!r.ok) throw new Error(`${method} /api/v2${p}: ${r.status} ${text}`);
    return text ? JSON.parse(text) : null;
  };
}

/**
 * Starts an authorization request (code + PKCE) in `page` for `client` (default the demo
 * SPA's); returns its verifier. With `form`,
 * waits for the login form (not when the passkey autofill may sign in at once: Chromium's
 * virtual authenticator answers conditional requests without waiting for a pick).
 */
async function authorize(page, { form = true, client = CLIENT_ID } = {}) {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const q = new URLSearchParams({
    response_type: 'code',
    client_id: client,
    redirect_uri: CALLBACK,
    scope: 'openid profile email',
    state: randomBytes(8).toString('hex'),
    code_challenge: challenge,
    code_challenge_method: 'S256',
  });
  await page.goto(`${WRIT}/authorize?${q}`);
  if (form) await page.locator('input[name="username"]').waitFor();
  return verifier;
}

/** Waits for the redirect to the callback and redeems its code: the ID token's claims. */
async function tokensAfter(page, verifier, arrived, client = CLIENT_ID) {
  const url = new URL(await arrived);
  // Let that navigation finish before the next one (a logout) starts.
  await page.waitForURL((u) => u.href.startsWith(CALLBACK), { timeout: 60_000 });
  const code = url.searchParams.get('code');
  assert.ok(code, `no code in ${url}`);
  const res = await fetch(`${WRIT}/oauth/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      client_id: client,
      code,
      redirect_uri: CALLBACK,
      code_verifier: verifier,
    }),
  });
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  return decodeJwt(body.id_token).payload;
}

/**
 * Resolves with the callback URL the browser is sent to next (a redirect: routes do not see
 * it, the request event does). The SPA there has no login of its own under way, so it leaves
 * the code alone.
 */
function callbackReached(page) {
  return page
    .waitForRequest((r) => r.url().startsWith(CALLBACK) && r.isNavigationRequest(), { timeout: 60_000 })
    .then((r) => r.url());
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Signs in with the passkey on the login page: the email field's autofill may already have
 * (Chromium's virtual authenticator answers a conditional request at once, without a pick);
 * otherwise the button does.
 */
async function passkeySignIn(page, arrived) {
  const auto = await Promise.race([arrived.then(() => true, () => false), sleep(3_000).then(() => false)]);
  if (!auto) await page.getByTestId('passkey-login').click();
}

async function logout(page, client = CLIENT_ID) {
  await page.goto(`${WRIT}/v2/logout?client_id=${client}`);
}

/** Chromium's virtual authenticator for `page`: a platform authenticator holding resident
 * keys, whose user verification (its "biometric") always succeeds. */
async function virtualAuthenticator(context, page) {
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
    },
  });
  return { cdp, authenticatorId };
}

test('passkeys: enroll as the second factor, sign in without a password, refused once removed', { timeout: 180_000 }, async (t) => {
  const api = await managementApi();
  const user = { email: `passkey-${Date.now()}@example.com`, password: 'passkey-user-password-1' };
  const created = await api('POST', '/users', {
    connection: 'Username-Password-Authentication',
    email: user.email,
    password: user.password,
  });

  await inFreshContext(t, browser, 'passkeys', async ({ page, context }) => {
    const { cdp, authenticatorId } = await virtualAuthenticator(context, page);

    // 1. Password, then the enrollment page: a passkey instead of an authenticator app.
    let arrived = callbackReached(page);
    let verifier = await authorize(page);
    // The login page offers passkeys: a button, and the email field's autofill.
    assert.match(
      (await page.locator('input[name="username"]').getAttribute('autocomplete')) ?? '',
      /\bwebauthn\b/,
    );
    await page.getByTestId('passkey-login').waitFor();
    await screenshot(page, 'passkeys-login-page');
    await page.locator('input[name="username"]').fill(user.email);
    await page.locator('input[name="password"]').fill(user.password);
    await page.locator('input[name="password"]').press('Enter');
    await page.getByTestId('mfa-qr').waitFor();
    await page.getByTestId('mfa-passkey').click();
    const recovery = (await page.getByTestId('mfa-recovery-code').innerText()).trim();
    assert.match(recovery, /^[A-Z2-9]{24}$/);
    await screenshot(page, 'passkeys-recovery-code');
    await page.getByTestId('mfa-continue').click();
    const first = await tokensAfter(page, verifier, arrived);
    assert.equal(first.sub, created.user_id);
    assert.deepEqual(first.amr, ['pwd', 'hwk', 'mfa']);

    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    assert.equal(credentials.length, 1);
    assert.equal(credentials[0].isResidentCredential, true);
    assert.equal(credentials[0].rpId, 'localhost');

    // The method is listed (the unfinished authenticator-app enrollment is gone).
    const methods = await api('GET', `/users/${created.user_id}/authentication-methods`);
    assert.deepEqual(
      methods.map((m) => [m.type, m.confirmed]),
      [['passkey', true]],
    );

    // 2. Log out; the login page offers the passkey; no password this time.
    await logout(page);
    arrived = callbackReached(page);
    verifier = await authorize(page, { form: false });
    await passkeySignIn(page, arrived);
    const second = await tokensAfter(page, verifier, arrived);
    assert.equal(second.sub, created.user_id);
    assert.deepEqual(second.amr, ['hwk', 'mfa']);
    const after = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    assert.ok(after.credentials[0].signCount >= 1, 'the authenticator counted its signatures');

    // 3. Removed through the Management API: the same passkey is refused.
    const [passkey] = await api('GET', `/users/${created.user_id}/authentication-methods`);
    await api('DELETE', `/users/${created.user_id}/authentication-methods/${passkey.id}`);
    assert.deepEqual(await api('GET', `/users/${created.user_id}/authentication-methods`), []);
    await logout(page);
    let reached = false;
    page.on('request', (r) => {
      if (r.url().startsWith(CALLBACK) && r.isNavigationRequest()) reached = true;
    });
    await authorize(page, { form: false });
    const error = page.getByTestId('login-error');
    // The autofill may have tried the passkey already; otherwise the button does.
    await sleep(3_000);
    if (!(await error.isVisible().catch(() => false))) {
      await page.getByTestId('passkey-login').click({ timeout: STEP_MS }).catch(() => {});
    }
    await eventually(async () => /passkey was not accepted/.test(await error.innerText({ timeout: 1_000 }).catch(() => '')), {
      what: 'the login page refusing the removed passkey',
    });
    await screenshot(page, 'passkeys-refused');
    assert.equal(reached, false, 'a removed passkey signed the user in');
  });
});

test('passkeys: offered after a password login that needed no second factor, then used', { timeout: 120_000 }, async (t) => {
  const api = await managementApi();
  // A client whose logins need no second factor (the demo SPA's do, in this file's Writ).
  const client = await api('POST', '/clients', {
    name: `passkey offer e2e ${Date.now()}`,
    app_type: 'spa',
    callbacks: [CALLBACK],
  });
  const user = { email: `offer-${Date.now()}@example.com`, password: 'passkey-offer-password-1' };
  const created = await api('POST', '/users', {
    connection: 'Username-Password-Authentication',
    email: user.email,
    password: user.password,
  });
  const opts = { client: client.client_id };

  await inFreshContext(t, browser, 'passkeys-offer', async ({ page, context }) => {
    const { cdp, authenticatorId } = await virtualAuthenticator(context, page);

    // "Not now" first: signed in with the password, nothing registered.
    let arrived = callbackReached(page);
    let verifier = await authorize(page, opts);
    await page.locator('input[name="username"]').fill(user.email);
    await page.locator('input[name="password"]').fill(user.password);
    await page.locator('input[name="password"]').press('Enter');
    await page.getByTestId('passkey-skip').click();
    let id = await tokensAfter(page, verifier, arrived, client.client_id);
    assert.deepEqual(id.amr, ['pwd']);
    assert.deepEqual(await api('GET', `/users/${created.user_id}/authentication-methods`), []);

    // The next password login offers it again: created this time.
    await logout(page, client.client_id);
    arrived = callbackReached(page);
    verifier = await authorize(page, opts);
    await page.locator('input[name="username"]').fill(user.email);
    await page.locator('input[name="password"]').fill(user.password);
    await page.locator('input[name="password"]').press('Enter');
    await page.getByTestId('passkey-create').waitFor();
    await screenshot(page, 'passkeys-offer');
    await page.getByTestId('passkey-create').click();
    id = await tokensAfter(page, verifier, arrived, client.client_id);
    assert.deepEqual(id.amr, ['pwd']);
    const methods = await api('GET', `/users/${created.user_id}/authentication-methods`);
    assert.deepEqual(methods.map((m) => m.type), ['passkey']);
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    assert.equal(credentials.length, 1);

    // And signs in with it, without the password.
    await logout(page, client.client_id);
    arrived = callbackReached(page);
    verifier = await authorize(page, { ...opts, form: false });
    await passkeySignIn(page, arrived);
    id = await tokensAfter(page, verifier, arrived, client.client_id);
    assert.equal(id.sub, created.user_id);
    assert.deepEqual(id.amr, ['hwk', 'mfa']);
  });
  await api('DELETE', `/clients/${client.client_id}`);
});
