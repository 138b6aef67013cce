// (a) an editor logs in through Writ's hosted page and manages todos; (b) a viewer is refused
// by the API, and the SPA says so kindly; (e) screenshots of the login and todo pages.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  ALICE,
  AUDIENCE,
  BOB,
  CLIENT_ID,
  TODOS_API,
  WRIT,
  decodeJwt,
  displayedPermissions,
  inFreshContext,
  sharedBrowser,
  logIn,
  openSpa,
  screenshot,
  waitForTodos,
} from './lib.mjs';

const browser = sharedBrowser();

const audiences = (aud) => (Array.isArray(aud) ? aud : [aud]);

test('alice (editor) logs in on the hosted page, sees the list, adds and deletes todos', { timeout: 90_000 }, async (t) => {
  await inFreshContext(t, browser, 'alice', async ({ page, calls }) => {
    await openSpa(page);
    const tokens = await logIn(page, calls, ALICE, {
      beforeSubmit: (p) => screenshot(p, 'login-page'),
    });

    // The authorization request auth0-spa-js made: code + PKCE S256, to our audience.
    const authorize = calls.find((c) => c.path === '/authorize');
    assert.ok(authorize, 'the SPA sent the browser to /authorize');
    assert.equal(authorize.query.client_id, CLIENT_ID);
    assert.equal(authorize.query.response_type, 'code');
    assert.equal(authorize.query.code_challenge_method, 'S256');
    assert.equal(authorize.query.audience, AUDIENCE);

    // What Writ issued (read off the /oauth/token response the SPA received).
    const { payload } = decodeJwt(tokens.access_token);
    assert.equal(payload.iss, `${WRIT}/`);
    assert.ok(audiences(payload.aud).includes(AUDIENCE), `aud ${JSON.stringify(payload.aud)}`);
    assert.deepEqual([...payload.permissions].sort(), ['delete:todos', 'read:todos', 'write:todos']);
    assert.ok(tokens.id_token, 'an ID token');
    assert.ok(tokens.refresh_token, 'a refresh token (offline_access, refresh tokens on)');
    const id = decodeJwt(tokens.id_token);
    assert.equal(id.header.alg, 'RS256');
    assert.equal(id.payload.aud, CLIENT_ID);

    // What the SPA shows.
    assert.equal(await page.getByTestId('user-email').innerText(), ALICE.email);
    assert.deepEqual(await displayedPermissions(page), ['delete:todos', 'read:todos', 'write:todos']);
    await waitForTodos(page);
    assert.equal(await page.getByTestId('add-form').count(), 1);

    const keep = `Water the plants ${Date.now()}`;
    const gone = `Throw this away ${Date.now()}`;
    for (const title of [keep, gone]) {
      await page.getByTestId('new-todo-title').fill(title);
      await page.getByTestId('add-todo').click();
      await page.getByTestId('todo-item').filter({ hasText: title }).waitFor();
    }
    assert.equal(await page.getByTestId('new-todo-title').inputValue(), '', 'the form clears');
    await screenshot(page, 'todo-page');

    const doomed = page.getByTestId('todo-item').filter({ hasText: gone });
    await doomed.getByTestId('delete-todo').click();
    await doomed.waitFor({ state: 'detached' });
    await page.getByTestId('todo-item').filter({ hasText: keep }).waitFor();
    assert.equal(await page.getByTestId('api-error').count(), 0);
  });
});

test('bob (viewer) has no add button; a forced POST gets 403 and a friendly message', { timeout: 90_000 }, async (t) => {
  await inFreshContext(t, browser, 'bob', async ({ page, calls }) => {
    await openSpa(page);
    const tokens = await logIn(page, calls, BOB);
    const { payload } = decodeJwt(tokens.access_token);
    assert.deepEqual(payload.permissions, ['read:todos']);
    assert.deepEqual(await displayedPermissions(page), ['read:todos']);
    assert.equal(await page.getByTestId('user-email').innerText(), BOB.email);

    await waitForTodos(page);
    assert.equal(await page.getByTestId('add-form').count(), 0, 'no add form for a viewer');
    assert.equal(await page.getByTestId('delete-todo').count(), 0, 'no delete buttons for a viewer');

    // Hiding the button is only manners: the API itself refuses bob's token.
    const forced = await page.evaluate(
      async ({ api, token }) => {
        const r = await fetch(`${api}/todos`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
          body: JSON.stringify({ title: 'sneaky' }),
        });
        return { status: r.status, www: r.headers.get('WWW-Authenticate') };
      },
      { api: TODOS_API, token: tokens.access_token },
    );
    assert.equal(forced.status, 403);
    if (forced.www === null) {
      t.diagnostic('the todos API does not expose WWW-Authenticate to the browser (Access-Control-Expose-Headers)');
    } else {
      assert.match(forced.www, /insufficient_scope/);
    }

    // The same refusal through the SPA's own form (shown on request), worded for people.
    const title = `Bob was here ${Date.now()}`;
    await page.getByTestId('show-all-actions').check();
    await page.getByTestId('new-todo-title').fill(title);
    await page.getByTestId('add-todo').click();
    const alert = page.getByTestId('api-error');
    await alert.waitFor();
    assert.match(await alert.innerText(), /You don't have permission to add todos/);
    await screenshot(page, 'todo-page-forbidden');
    assert.equal(await page.getByTestId('todo-item').filter({ hasText: title }).count(), 0);
    assert.equal(await page.getByTestId('todo-item').filter({ hasText: 'sneaky' }).count(), 0);
  });
});
