// (c) silent renewal, both ways auth0-spa-js does it: the refresh-token grant (with rotation)
// and the hidden `prompt=none&response_mode=web_message` iframe riding on Writ's session.
// (f), an administrator's change reaching a signed-in user without a new login, is in
// freshness.test.mjs.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  ALICE,
  AUDIENCE,
  CLIENT_ID,
  SPA,
  WRIT,
  decodeJwt,
  inFreshContext,
  sharedBrowser,
  logIn,
  openSpa,
} from './lib.mjs';

const browser = sharedBrowser();

const renewed = (page, n) =>
  page.locator(`[data-testid="token-renewed"][data-count="${n}"]`).waitFor();

test('with refresh tokens, renewal uses grant_type=refresh_token and rotates the token', { timeout: 90_000 }, async (t) => {
  await inFreshContext(t, browser, 'renew-refresh-token', async ({ page, calls }) => {
    await openSpa(page);
    assert.equal(await page.getByTestId('renewal-mode').getAttribute('data-mode'), 'refresh_token');
    const tokens = await logIn(page, calls, ALICE);
    assert.ok(tokens.refresh_token, 'the code exchange returned a refresh token');
    const before = await page.getByTestId('token-claims').textContent();

    const from = calls.length;
    await page.getByTestId('refresh-token').click();
    const first = await calls.waitFor(
      (c) => c.path === '/oauth/token' && c.form.grant_type === 'refresh_token',
      { from, what: 'a refresh_token grant' },
    );
    assert.equal(first.status, 200, first.text);
    assert.equal(first.form.client_id, CLIENT_ID);
    assert.equal(first.form.refresh_token, tokens.refresh_token);
    assert.ok(first.json.access_token);
    assert.ok(first.json.refresh_token, 'rotation hands out a new refresh token');
    assert.notEqual(first.json.refresh_token, tokens.refresh_token);
    await renewed(page, 1);
    const { payload } = decodeJwt(first.json.access_token);
    assert.ok([payload.aud].flat().includes(AUDIENCE));
    assert.deepEqual([...payload.permissions].sort(), ['delete:todos', 'read:todos', 'write:todos']);
    assert.notEqual(await page.getByTestId('token-claims').textContent(), before, 'the SPA shows the new token');

    // The rotated token is the one used next, and it works.
    const next = calls.length;
    await page.getByTestId('refresh-token').click();
    const second = await calls.waitFor(
      (c) => c.path === '/oauth/token' && c.form.grant_type === 'refresh_token',
      { from: next, what: 'a second refresh_token grant' },
    );
    assert.equal(second.status, 200, second.text);
    assert.equal(second.form.refresh_token, first.json.refresh_token);
    await renewed(page, 2);

    // No trip through /authorize: refresh tokens need no session cookie.
    assert.deepEqual(
      calls.slice(from).filter((c) => c.path === '/authorize').map((c) => c.query),
      [],
    );
  });
});

test('without refresh tokens, the prompt=none iframe gets a code by web_message', { timeout: 90_000 }, async (t) => {
  await inFreshContext(t, browser, 'renew-iframe', async ({ page, calls }) => {
    await openSpa(page, '?refresh_tokens=off');
    assert.equal(await page.getByTestId('renewal-mode').getAttribute('data-mode'), 'iframe');
    await logIn(page, calls, ALICE);
    assert.equal(await page.getByTestId('renewal-mode').getAttribute('data-mode'), 'iframe');

    // Watch what the iframe posts to the SPA's window.
    await page.evaluate(() => {
      window.__writMessages = [];
      window.addEventListener('message', (e) => {
        window.__writMessages.push({ origin: e.origin, data: e.data });
      });
    });
    const from = calls.length;
    await page.getByTestId('refresh-token').click();

    const authorize = await calls.waitFor(
      (c) => c.path === '/authorize' && c.query.prompt === 'none',
      { from, what: 'the silent /authorize request' },
    );
    assert.equal(authorize.isMainFrame, false, 'it runs in a hidden iframe');
    assert.equal(authorize.query.response_mode, 'web_message');
    assert.equal(authorize.query.response_type, 'code');
    assert.equal(authorize.query.client_id, CLIENT_ID);
    assert.equal(authorize.query.redirect_uri, `${SPA}/`);
    assert.equal(authorize.query.code_challenge_method, 'S256');
    assert.equal(authorize.status, 200, 'web_message answers with a page, not a redirect');

    const exchange = await calls.waitFor(
      (c) => c.path === '/oauth/token' && c.form.grant_type === 'authorization_code',
      { from, what: 'the exchange of the iframe’s code' },
    );
    assert.ok(exchange.form.code, 'the iframe produced a code');
    assert.equal(exchange.status, 200, exchange.text);
    assert.ok(exchange.json.access_token);
    await renewed(page, 1);

    const messages = await page.evaluate(() => window.__writMessages);
    const reply = messages.find((m) => m.data && m.data.type === 'authorization_response');
    assert.ok(reply, `an authorization_response message (got ${JSON.stringify(messages)})`);
    assert.equal(reply.origin, WRIT, 'posted from Writ’s origin');
    assert.equal(reply.data.response.code, exchange.form.code);
    assert.equal(reply.data.response.state, authorize.query.state);
    assert.equal(calls.tokenCalls('refresh_token', from).length, 0, 'no refresh token involved');
  });
});
