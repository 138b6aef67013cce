// Freshness: the todos API's Guard follows Writ's authz event feed (see README.md, "Freshness").
//
// (f) an administrator's change reaches a signed-in user without a new login: the API learns of
// it from Writ's event feed and answers 401 "permissions changed" to the old token, the SPA
// renews once and retries.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  AUDIENCE,
  BOB,
  TODOS_API,
  decodeJwt,
  displayedPermissions,
  eventually,
  inFreshContext,
  launchBrowser,
  logIn,
  managementApi,
  openSpa,
  waitForTodos,
} from './lib.mjs';

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

test('a permission granted by an admin arrives without a new login ("permissions changed" → one silent retry)', { timeout: 120_000 }, async (t) => {
  const mgmt = await managementApi();
  if (!mgmt) {
    t.skip('WRIT_BOOTSTRAP_CLIENT_ID/SECRET not set: no Management API access');
    return;
  }
  await inFreshContext(t, browser, 'permissions-changed', async ({ page, calls }) => {
    await openSpa(page);
    const tokens = await logIn(page, calls, BOB);
    await waitForTodos(page);
    assert.deepEqual(await displayedPermissions(page), ['read:todos']);

    const bob = await mgmt.userByEmail(BOB.email);
    const grant = {
      permissions: [{ resource_server_identifier: AUDIENCE, permission_name: 'write:todos' }],
    };
    await mgmt.call('POST', `/users/${encodeURIComponent(bob.user_id)}/permissions`, grant);
    try {
      // The API learns of the change from Writ's event feed; bob's old token is now stale.
      await eventually(
        async () => {
          const r = await fetch(`${TODOS_API}/todos`, {
            headers: { Authorization: `Bearer ${tokens.access_token}` },
          });
          return r.status === 401 && /permissions changed/.test(r.headers.get('www-authenticate') || '');
        },
        { what: 'the todos API to answer 401 "permissions changed" for bob’s old token' },
      );

      const posts = [];
      page.on('response', (r) => {
        if (r.url() === `${TODOS_API}/todos` && r.request().method() === 'POST') posts.push(r.status());
      });
      const from = calls.length;
      const title = `Bob may write now ${Date.now()}`;
      await page.getByTestId('show-all-actions').check(); // the SPA still holds the old token
      await page.getByTestId('new-todo-title').fill(title);
      await page.getByTestId('add-todo').click();
      await page.getByTestId('todo-item').filter({ hasText: title }).waitFor();

      assert.deepEqual(posts, [401, 201], 'stale token refused, then one retry with a fresh one');
      const renewal = calls.tokenCalls('refresh_token', from);
      assert.equal(renewal.length, 1, 'one silent renewal');
      assert.equal(renewal[0].status, 200, renewal[0].text);
      assert.deepEqual(
        [...decodeJwt(renewal[0].json.access_token).payload.permissions].sort(),
        ['read:todos', 'write:todos'],
      );
      assert.deepEqual(await displayedPermissions(page), ['read:todos', 'write:todos']);
      await page.getByTestId('show-all-actions').uncheck();
      await page.getByTestId('add-form').waitFor(); // now shown on its own merits
    } finally {
      await mgmt.call('DELETE', `/users/${encodeURIComponent(bob.user_id)}/permissions`, grant);
    }
  });
});
