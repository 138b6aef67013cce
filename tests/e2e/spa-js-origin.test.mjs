// (h) auth0-spa-js's `createAuth0Client()` with its defaults, on a page whose origin is one of
// the client's Allowed Web Origins but not a callback URL: its silent check (a hidden iframe,
// `/authorize?prompt=none&response_mode=web_message`, `redirect_uri` = the page's origin) must
// be answered by a posted message — `login_required` without a session, a code with one — and
// never by an error page, which would leave the SDK waiting out its 60 s timeout.
//
// The page (http://127.0.0.1:5175/) is served by a tiny loopback server in this file (Chromium
// refuses a page it does not get from a loopback address the frame's requests to Writ): a
// document that imports auth0-spa-js's ESM build from the SPA example's node_modules.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import path from 'node:path';
import { after, before, test } from 'node:test';

import {
  ALICE,
  AUDIENCE,
  REPO_ROOT,
  STEP_MS,
  WRIT,
  inFreshContext,
  launchBrowser,
  logIn,
  managementApi,
  openSpa,
} from './lib.mjs';

const SITE = 'http://127.0.0.1:5175';
const SPA_JS = path.join(
  REPO_ROOT,
  'examples/spa-react/node_modules/@auth0/auth0-spa-js/dist/auth0-spa-js.production.esm.js',
);

let browser;
let mgmt;
let client;
let server;

before(async () => {
  mgmt = await managementApi();
  client = await mgmt.call('POST', '/clients', {
    name: `auth0-spa-js defaults e2e ${Date.now()}`,
    app_type: 'spa',
    // A callback elsewhere: the page's origin is only a web origin.
    callbacks: [`${SITE}/callback`],
    web_origins: [SITE],
  });
  server = await serveSite();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  server?.closeAllConnections();
  server?.close();
  if (client) await mgmt.call('DELETE', `/clients/${encodeURIComponent(client.client_id)}`);
});

/** Serves the page and the SDK at SITE (loopback only). */
async function serveSite() {
  const page = `<!doctype html><meta charset="utf-8"><title>auth0-spa-js defaults</title>
<p id="out" data-state="loading">Loading…</p>
<script type="module">
import { createAuth0Client } from '/auth0-spa-js.js';
const out = document.getElementById('out');
try {
  const auth0 = await createAuth0Client({
    domain: ${JSON.stringify(WRIT)},
    clientId: ${JSON.stringify(client.client_id)},
    authorizationParams: { audience: ${JSON.stringify(AUDIENCE)} },
  });
  const user = await auth0.getUser();
  out.dataset.state = (await auth0.isAuthenticated()) ? 'signed-in' : 'signed-out';
  out.textContent = user?.email ?? 'nobody';
} catch (e) {
  out.dataset.state = 'error';
  out.textContent = String(e?.error ?? e?.message ?? e);
}
</script>`;
  const sdk = readFileSync(SPA_JS);
  const s = createServer((req, res) => {
    const js = req.url === '/auth0-spa-js.js';
    res.writeHead(200, {
      'Content-Type': js ? 'text/javascript' : 'text/html; charset=utf-8',
      'Cache-Control': 'no-store',
    });
    res.end(js ? sdk : page);
  });
  const { hostname, port } = new URL(SITE);
  await new Promise((resolve, reject) => {
    s.once('error', reject);
    s.listen(Number(port), hostname, resolve);
  });
  return s;
}

/** Opens the page and waits for createAuth0Client() to settle; returns [state, text]. */
async function settle(page) {
  await page.goto(`${SITE}/`);
  const out = page.locator('#out');
  // The SDK's own timeout is 60 s: settling within a step means Writ answered the frame.
  await page.waitForFunction(() => document.getElementById('out')?.dataset.state !== 'loading', null, {
    timeout: STEP_MS,
  });
  return [await out.getAttribute('data-state'), await out.innerText()];
}

test('auth0-spa-js createAuth0Client() with redirect_uri = the page origin settles at once', { timeout: 120_000 }, async (t) => {
  await inFreshContext(t, browser, 'spa-js-origin', async ({ page, context, calls }) => {
    // The SDK makes its silent check only when it remembers a sign-in on this page (a cookie it
    // sets after a login): as after a reload of a page that had signed in.
    const remember = () =>
      context.addCookies([
        { name: `auth0.${client.client_id}.is.authenticated`, value: 'true', url: SITE },
      ]);
    await remember();

    // No Writ session: the silent check is answered `login_required` by message.
    const [state, text] = await settle(page);
    assert.equal(state, 'signed-out', text);
    const silent = calls.find((c) => c.path === '/authorize' && c.query.response_mode === 'web_message');
    assert.ok(silent, 'the SDK made its silent check in a frame');
    assert.equal(silent.query.redirect_uri, SITE, 'the SDK sent the page origin');
    assert.equal(silent.status, 200);
    assert.match(silent.text ?? '', /postMessage/, 'answered by a posted message');

    // Sign in to Writ (through the demo SPA, same browser), then the page signs in silently.
    await openSpa(page);
    await logIn(page, calls, ALICE);
    await remember(); // the SDK forgot it when the first check said login_required
    const [state2, text2] = await settle(page);
    assert.equal(state2, 'signed-in', text2);
    assert.equal(text2, ALICE.email);
    const exchange = calls
      .filter((c) => c.path === '/oauth/token' && c.form.client_id === client.client_id)
      .at(-1);
    assert.equal(exchange?.form?.redirect_uri, SITE, 'the code was redeemed for the origin it was sent to');
    assert.equal(exchange?.status, 200);
  });
});
