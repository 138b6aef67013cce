// (g) The same login done by a generic OIDC client that knows Writ only through discovery:
// oidc-client-ts's UserManager on a minimal static page (fixtures/oidc/, served on
// 127.0.0.1:5174 by fixtures/oidc/server.mjs), for a SPA client this test creates through the
// Management API. Code flow with PKCE → Writ's hosted login → signinRedirectCallback shows the
// profile and the access token's permissions; signinSilent() renews with the refresh token;
// signoutRedirect() goes through Writ's end_session_endpoint back to the page.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { startOidcSite } from './fixtures/oidc/server.mjs';
import {
  ALICE,
  AUDIENCE,
  WRIT,
  decodeJwt,
  displayedPermissions,
  expectLoginPage,
  inFreshContext,
  launchBrowser,
  managementApi,
  screenshot,
  submitLogin,
} from './lib.mjs';

/** Fixed (run.sh checks it is free): the client's callbacks, web origin and logout URL name it. */
const SITE_HOST = '127.0.0.1';
const SITE_PORT = 5174;
const SITE = `http://${SITE_HOST}:${SITE_PORT}`;
const ISSUER = `${WRIT}/`;
const ALICE_PERMISSIONS = ['delete:todos', 'read:todos', 'write:todos'];

let browser;
let mgmt;
let client;
let site;

before(async () => {
  mgmt = await managementApi();
  client = await mgmt.call('POST', '/clients', {
    name: `oidc-client-ts e2e ${Date.now()}`,
    app_type: 'spa',
    callbacks: [`${SITE}/callback.html`],
    web_origins: [SITE],
    allowed_logout_urls: [`${SITE}/`],
  });
  site = await startOidcSite({
    host: SITE_HOST,
    port: SITE_PORT,
    config: { authority: ISSUER, client_id: client.client_id, audience: AUDIENCE },
  });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await site?.close();
  if (client) await mgmt.call('DELETE', `/clients/${encodeURIComponent(client.client_id)}`);
});

const state = (page) => page.getByTestId('status').getAttribute('data-state');

test('oidc-client-ts: discovery, code + PKCE login, refresh-token renewal, RP-initiated logout', { timeout: 120_000 }, async (t) => {
  assert.equal(client.app_type, 'spa');
  assert.equal(client.token_endpoint_auth_method, 'none', 'a SPA client is public');

  await inFreshContext(t, browser, 'oidc-client', async ({ page, calls }) => {
    const navigations = [];
    page.on('framenavigated', (f) => {
      if (f === page.mainFrame()) navigations.push(f.url());
    });

    // --- signinRedirect → hosted login → signinRedirectCallback -----------------------------
    await page.goto(`${SITE}/`);
    await page.getByTestId('signed-out').waitFor();
    await page.getByTestId('login').click();
    await expectLoginPage(page);

    const discovery = calls.find((c) => c.path === '/.well-known/openid-configuration');
    assert.ok(discovery, 'the client read Writ’s discovery document');
    assert.equal(discovery.status, 200);
    const authorize = calls.find((c) => c.path === '/authorize');
    assert.ok(authorize, 'the browser went to the discovered authorization_endpoint');
    assert.equal(authorize.isMainFrame, true);
    assert.equal(authorize.query.client_id, client.client_id);
    assert.equal(authorize.query.response_type, 'code');
    assert.equal(authorize.query.redirect_uri, `${SITE}/callback.html`);
    assert.equal(authorize.query.code_challenge_method, 'S256');
    assert.ok(authorize.query.code_challenge);
    assert.ok(authorize.query.state);
    assert.equal(authorize.query.audience, AUDIENCE);
    assert.deepEqual(authorize.query.scope.split(' ').sort(), ['email', 'offline_access', 'openid', 'profile']);

    await screenshot(page, 'oidc-login-page');
    const from = calls.length;
    await submitLogin(page, ALICE);
    const exchange = await calls.waitFor(
      (c) => c.path === '/oauth/token' && c.form.grant_type === 'authorization_code',
      { from, what: 'the authorization_code exchange at /oauth/token' },
    );
    assert.equal(exchange.status, 200, exchange.text);
    assert.equal(exchange.form.client_id, client.client_id);
    assert.equal(exchange.form.redirect_uri, `${SITE}/callback.html`);
    assert.ok(exchange.form.code_verifier, 'PKCE verifier sent');
    const tokens = exchange.json;
    assert.ok(tokens.access_token && tokens.id_token, 'access and ID tokens');
    assert.ok(tokens.refresh_token, 'a refresh token (offline_access)');

    await page.getByTestId('user-email').waitFor();
    assert.equal(new URL(page.url()).pathname, '/', 'the callback page tidied its URL');
    assert.equal(await page.getByTestId('user-email').innerText(), ALICE.email);
    assert.deepEqual(await displayedPermissions(page), ALICE_PERMISSIONS);
    assert.equal(await page.getByTestId('has-refresh-token').innerText(), 'yes');

    const access = decodeJwt(tokens.access_token).payload;
    assert.equal(access.iss, ISSUER);
    assert.ok([access.aud].flat().includes(AUDIENCE), `aud ${JSON.stringify(access.aud)}`);
    assert.deepEqual([...access.permissions].sort(), ALICE_PERMISSIONS);
    const id = decodeJwt(tokens.id_token).payload;
    assert.equal(id.iss, ISSUER);
    assert.equal(id.aud, client.client_id);
    assert.equal(id.sub, access.sub);

    // loadUserInfo: the discovered userinfo_endpoint, cross-origin with the access token.
    const userinfo = calls.find((c) => c.path === '/userinfo' && c.method === 'GET');
    assert.ok(userinfo, 'the client called the userinfo_endpoint');
    assert.equal(userinfo.status, 200);
    await screenshot(page, 'oidc-signed-in');

    // --- signinSilent(): refresh token, no iframe -------------------------------------------
    const renewFrom = calls.length;
    await page.getByTestId('renew').click();
    const refresh = await calls.waitFor(
      (c) => c.path === '/oauth/token' && c.form.grant_type === 'refresh_token',
      { from: renewFrom, what: 'a grant_type=refresh_token request from signinSilent()' },
    );
    assert.equal(refresh.status, 200, refresh.text);
    assert.equal(refresh.form.client_id, client.client_id);
    assert.equal(refresh.form.refresh_token, tokens.refresh_token);
    assert.ok(refresh.json.access_token);
    assert.notEqual(refresh.json.access_token, tokens.access_token, 'a new access token');
    await page.locator('[data-testid="token-renewed"][data-count="1"]').waitFor();
    assert.deepEqual(await displayedPermissions(page), ALICE_PERMISSIONS);
    assert.deepEqual([...decodeJwt(refresh.json.access_token).payload.permissions].sort(), ALICE_PERMISSIONS);
    assert.equal(await page.getByTestId('user-email').innerText(), ALICE.email);
    assert.deepEqual(
      calls.slice(renewFrom).filter((c) => c.path === '/authorize').map((c) => c.query),
      [],
      'no trip through /authorize',
    );

    // A second renewal sends whichever refresh token is current (rotated or not).
    const againFrom = calls.length;
    await page.getByTestId('renew').click();
    const again = await calls.waitFor(
      (c) => c.path === '/oauth/token' && c.form.grant_type === 'refresh_token',
      { from: againFrom, what: 'a second refresh_token grant' },
    );
    assert.equal(again.status, 200, again.text);
    assert.equal(again.form.refresh_token, refresh.json.refresh_token ?? tokens.refresh_token);
    await page.locator('[data-testid="token-renewed"][data-count="2"]').waitFor();

    // --- signoutRedirect(): end_session_endpoint → post_logout_redirect_uri -----------------
    const logoutFrom = calls.length;
    await page.getByTestId('logout').click();
    await page.getByTestId('signed-out').waitFor();
    assert.equal(page.url(), `${SITE}/`);
    const logout = calls.slice(logoutFrom).find((c) => c.path === '/oidc/logout');
    assert.ok(logout, 'the browser went to the discovered end_session_endpoint');
    assert.equal(logout.status, 302, 'Writ redirects to the post_logout_redirect_uri');
    assert.equal(logout.query.post_logout_redirect_uri, `${SITE}/`);
    // oidc-client-ts names the client by id_token_hint (client_id only when it has no ID token).
    assert.ok(logout.query.id_token_hint, 'id_token_hint sent');
    assert.equal(decodeJwt(logout.query.id_token_hint).payload.aud, client.client_id);
    assert.ok(logout.query.state, 'state sent');
    const back = navigations.find((u) => u.startsWith(`${SITE}/?`));
    assert.ok(back, `Writ redirected to the post_logout_redirect_uri with a query (saw ${navigations.join(', ')})`);
    assert.equal(new URL(back).searchParams.get('state'), logout.query.state, 'state comes back');
    assert.equal(await state(page), 'signed-out');
    // signoutRedirectCallback() matched the state to the one it stored and returned its data.
    assert.deepEqual(JSON.parse(await page.getByTestId('signout-state').innerText()), { from: 'logout-button' });
    await screenshot(page, 'oidc-signed-out');

    // Writ's session is gone: logging in again shows the login page, not a silent sign-in.
    await page.getByTestId('login').click();
    await expectLoginPage(page);
  });
});
