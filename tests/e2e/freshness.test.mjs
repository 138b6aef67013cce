// Freshness: the todos API's Guard follows Writ's authz event feed (see README.md, "Freshness").
//
// (f) an administrator's change reaches a signed-in user without a new login: the API learns of
// it from Writ's event feed and answers 401 "permissions changed" to the old token, the SPA
// renews once and retries. The SPA's live stream is off here (`?live=off`): these tests follow
// the fallback path, for a page whose stream is down; live.test.mjs follows the stream.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  ALICE,
  AUDIENCE,
  BOB,
  DJANGO_API,
  TODOS_API,
  decodeJwt,
  displayedPermissions,
  eventually,
  inFreshContext,
  sharedBrowser,
  logIn,
  managementApi,
  openSpa,
  screenshot,
  waitForTodos,
} from './lib.mjs';

const browser = sharedBrowser();

/** The statuses of the page's `method` requests to the todos list, from now on. */
function statusesOf(page, method) {
  const out = [];
  page.on('response', (r) => {
    if (r.url() === `${TODOS_API}/todos` && r.request().method() === method) out.push(r.status());
  });
  return out;
}

/** Until `url` answers 401 "permissions changed" to `token`. */
async function refusedAsStale(url, token, what) {
  await eventually(
    async () => {
      const r = await fetch(url, { headers: { Authorization: `Bearer ${token}` } });
      return r.status === 401 && /permissions changed/.test(r.headers.get('www-authenticate') || '');
    },
    { what },
  );
}

/** The status of a todo added with `token` through the Django API behind nginx. */
async function djangoAdd(token, title) {
  const r = await fetch(`${DJANGO_API}/api/todos`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ title }),
  });
  return r.status;
}

/** The user comes back to the tab (the SPA reloads its list on focus). */
async function comeBack(page) {
  await page.evaluate(() => window.dispatchEvent(new Event('focus')));
}

test('a permission granted by an admin arrives without a new login ("permissions changed" → one silent retry)', { timeout: 120_000 }, async (t) => {
  const mgmt = await managementApi();
  await inFreshContext(t, browser, 'permissions-changed', async ({ page, calls }) => {
    await openSpa(page, '?live=off');
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

      const gets = statusesOf(page, 'GET');
      const posts = statusesOf(page, 'POST');
      const from = calls.length;
      assert.equal(await page.getByTestId('add-form').count(), 0, 'no add form for a viewer yet');
      // bob comes back to the tab: the page reloads its list with the old token, is refused,
      // renews once, silently, and shows the add form, without a click or a reload.
      await comeBack(page);
      await page.getByTestId('add-form').waitFor();
      // The form follows the renewed token; the retried GET may still be on its way.
      await eventually(async () => gets.length >= 2, { what: 'the retried GET of the list' });
      assert.deepEqual(gets, [401, 200], 'stale token refused, then one retry with a fresh one');
      const renewal = calls.tokenCalls('refresh_token', from);
      assert.equal(renewal.length, 1, 'one silent renewal');
      assert.equal(renewal[0].status, 200, renewal[0].text);
      assert.deepEqual(
        [...decodeJwt(renewal[0].json.access_token).payload.permissions].sort(),
        ['read:todos', 'write:todos'],
      );
      assert.deepEqual(await displayedPermissions(page), ['read:todos', 'write:todos']);
      const title = `Bob may write now ${Date.now()}`;
      await page.getByTestId('new-todo-title').fill(title);
      await page.getByTestId('add-todo').click();
      await page.getByTestId('todo-item').filter({ hasText: title }).waitFor();
      assert.deepEqual(posts, [201], 'the add goes through with the renewed token');
    } finally {
      await mgmt.call('DELETE', `/users/${encodeURIComponent(bob.user_id)}/permissions`, grant);
    }
  });
});

test('a revoked permission takes effect on the open page without a re-login, and a re-grant brings it back', { timeout: 120_000 }, async (t) => {
  const mgmt = await managementApi();
  const alice = await mgmt.userByEmail(ALICE.email);
  const roleId = async (name) => {
    const roles = await mgmt.call('GET', `/roles?name_filter=${name}`);
    return roles.find((r) => r.name === name).id;
  };
  const [editor, viewer] = [await roleId('editor'), await roleId('viewer')];
  const rolesPath = `/users/${encodeURIComponent(alice.user_id)}/roles`;
  // alice keeps read:todos through `viewer` while `editor` (write, delete) comes and goes.
  await mgmt.call('POST', rolesPath, { roles: [viewer] });
  try {
    await inFreshContext(t, browser, 'permission-revoked', async ({ page, calls }) => {
      await openSpa(page, '?live=off');
      const tokens = await logIn(page, calls, ALICE);
      await waitForTodos(page);
      assert.deepEqual(await displayedPermissions(page), ['delete:todos', 'read:todos', 'write:todos']);
      await page.getByTestId('add-form').waitFor();
      const authorizeCalls = () => calls.filter((c) => c.path === '/authorize').length;
      const authorizeBefore = authorizeCalls();

      assert.equal(await djangoAdd(tokens.access_token, `Django before ${Date.now()}`), 201);
      await mgmt.call('DELETE', rolesPath, { roles: [editor] });
      await refusedAsStale(`${TODOS_API}/todos`, tokens.access_token,
        'the todos API to answer 401 "permissions changed" for alice’s old token');
      // The same revocation reaches the Django API behind nginx (auth_request → writ gate).
      await refusedAsStale(`${DJANGO_API}/api/todos`, tokens.access_token,
        'the Django API behind nginx to answer 401 "permissions changed" for alice’s old token');

      const posts = statusesOf(page, 'POST');
      const from = calls.length;
      await page.getByTestId('new-todo-title').fill(`Should not be added ${Date.now()}`);
      await page.getByTestId('add-todo').click();
      await page.getByTestId('api-error').waitFor();
      assert.deepEqual(posts, [401, 403], 'stale token refused, then the fresh one lacks write:todos');
      const renewal = calls.tokenCalls('refresh_token', from);
      assert.equal(renewal.length, 1, 'one silent renewal');
      assert.deepEqual(decodeJwt(renewal[0].json.access_token).payload.permissions, ['read:todos']);
      assert.equal(await djangoAdd(renewal[0].json.access_token, 'not allowed'), 403, 'Django: read-only now');
      assert.deepEqual(await displayedPermissions(page), ['read:todos']);
      await eventually(async () => (await page.getByTestId('add-form').count()) === 0, {
        what: 'the add form to disappear',
      });
      assert.equal(authorizeCalls(), authorizeBefore, 'no redirect to the login page');
      assert.equal(await page.getByTestId('login').count(), 0, 'still signed in');
      await screenshot(page, 'freshness-revoked');

      // Granted back: the API refuses the read-only token; when alice comes back to the tab
      // the SPA renews once and the add form returns by itself.
      await mgmt.call('POST', rolesPath, { roles: [editor] });
      const title = `Back again ${Date.now()}`;
      await eventually(
        async () => {
          const r = await fetch(`${TODOS_API}/todos`, {
            headers: { Authorization: `Bearer ${renewal[0].json.access_token}` },
          });
          return r.status === 401;
        },
        { what: 'the read-only token to be refused after the re-grant' },
      );
      await refusedAsStale(`${DJANGO_API}/api/todos`, renewal[0].json.access_token,
        'the Django API to refuse the read-only token after the re-grant');
      const regrantFrom = calls.length;
      await comeBack(page);
      await page.getByTestId('add-form').waitFor();
      assert.deepEqual(await displayedPermissions(page), ['delete:todos', 'read:todos', 'write:todos']);
      const regranted = calls.tokenCalls('refresh_token', regrantFrom);
      assert.equal(regranted.length, 1, 'one silent renewal after the re-grant');
      assert.equal(await djangoAdd(regranted[0].json.access_token, `Django again ${Date.now()}`), 201);
      await page.getByTestId('new-todo-title').fill(title);
      await page.getByTestId('add-todo').click();
      await page.getByTestId('todo-item').filter({ hasText: title }).waitFor();
    });
  } finally {
    await mgmt.call('POST', rolesPath, { roles: [editor] });
    await mgmt.call('DELETE', rolesPath, { roles: [viewer] });
  }
});
