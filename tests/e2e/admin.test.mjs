// The admin console at /admin, in Chromium: the demo admin signs in through Writ's hosted login,
// builds an API, a role and an assignment with forms, sees where a user's permissions come
// from, and the user's next token carries the new permission. A user without management roles
// is refused (403) everywhere, a form without its CSRF token is refused, and with scripts off
// destructive actions go through a confirmation page.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  BOB,
  ALICE,
  WRIT,
  decodeJwt,
  expectLoginPage,
  inFreshContext,
  sharedBrowser,
  managementApi,
  screenshot,
  submitLogin,
} from './lib.mjs';

const ADMIN = { email: 'admin@example.com', password: 'admin-password-1' };
const PAGES = ['/admin', '/admin/apis', '/admin/roles', '/admin/users', '/admin/clients', '/admin/keys', '/admin/logs'];
const stamp = Date.now().toString(36);
const API_ID = `https://inventory-${stamp}.example/api`;
const ROLE = `stock-reader-${stamp}`;

const browser = sharedBrowser();

/** Opens a console page, signs in on Writ's hosted page, and waits to be back on it. */
async function signIn(page, user, path = '/admin') {
  await page.goto(`${WRIT}${path}`);
  await expectLoginPage(page);
  await submitLogin(page, user);
  await page.waitForURL((u) => u.origin === WRIT && u.pathname === path);
  await page.locator('h1').first().waitFor();
}

/** Bob's token for `audience` from the demo's password-grant client. */
async function bobToken(audience) {
  const res = await fetch(`${WRIT}/oauth/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'password',
      client_id: 'demo-cli',
      client_secret: 'demo-cli-secret-change-me',
      username: BOB.email,
      password: BOB.password,
      audience,
    }),
  });
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  return decodeJwt(body.access_token).payload;
}

test('the demo admin builds an API, a role and an assignment; bob’s next token carries it', { timeout: 180_000 }, async (t) => {
  await inFreshContext(t, browser, 'admin-console', async ({ page }) => {
    page.on('dialog', (d) => d.accept()); // the confirm() of destructive actions
    await signIn(page, ADMIN);
    assert.equal(await page.getByTestId('admin-email').innerText(), ADMIN.email);
    await screenshot(page, 'admin-overview');

    // An API with two permissions.
    await page.getByRole('link', { name: 'APIs', exact: true }).click();
    await page.getByTestId('new-api').waitFor();
    await screenshot(page, 'admin-apis');
    await page.getByTestId('new-api').click();
    await page.locator('#identifier').fill(API_ID);
    await page.locator('#name').fill('Inventory');
    await page.locator('#token_lifetime').fill('3600');
    await page.getByTestId('create-api').click();
    await page.getByTestId('api-identifier').filter({ hasText: API_ID }).waitFor();
    for (const [value, description] of [
      ['read:stock', 'Read stock levels'],
      ['write:stock', 'Change stock levels'],
    ]) {
      await page.locator('#value').fill(value);
      await page.locator('#description').fill(description);
      await page.getByTestId('add-permission').click();
      await page.getByTestId('permission-row').filter({ hasText: value }).waitFor();
    }
    assert.equal(await page.getByTestId('permission-row').count(), 2);
    await screenshot(page, 'admin-api-detail');

    // A role with one of them, and bob as its member.
    await page.getByRole('link', { name: 'Roles', exact: true }).click();
    await page.getByTestId('new-role').click();
    await page.locator('#name').fill(ROLE);
    await page.locator('#description').fill('Reads inventory');
    await page.getByTestId('create-role').click();
    await page.getByTestId('role-name').filter({ hasText: ROLE }).waitFor();
    await page.getByTestId('permission-picker').selectOption(`${API_ID} read:stock`);
    await page.getByTestId('add-role-permission').click();
    await page.getByTestId('role-permission').filter({ hasText: 'read:stock' }).waitFor();
    await page.locator('#member-email').fill(BOB.email);
    await page.getByTestId('add-member').click();
    await page.getByTestId('role-member').filter({ hasText: BOB.email }).waitFor();
    await screenshot(page, 'admin-role-detail');
    await page.goto(`${WRIT}/admin/roles`);
    await page.getByTestId('role-row').filter({ hasText: ROLE }).waitFor();
    await screenshot(page, 'admin-roles');

    // Bob's effective permissions, with where each comes from.
    await page.getByRole('link', { name: 'Users', exact: true }).click();
    await page.getByTestId('search').fill('bob');
    await page.getByTestId('search').press('Enter');
    await page.getByTestId('user-row').filter({ hasText: BOB.email }).waitFor();
    assert.equal(await page.getByTestId('user-row').count(), 1);
    await screenshot(page, 'admin-users');
    await page.getByRole('link', { name: BOB.email }).click();
    await page.getByTestId('user-email').filter({ hasText: BOB.email }).waitFor();
    const stock = page.locator(`[data-testid="effective-api"][data-api="${API_ID}"]`);
    const readStock = stock.locator('[data-permission="read:stock"]');
    assert.deepEqual(await readStock.getByTestId('permission-source').allInnerTexts(), [`role: ${ROLE}`]);
    assert.equal(await stock.locator('[data-permission="write:stock"]').count(), 0);
    const todos = page.locator('[data-testid="effective-api"][data-api="https://todos.example/api"]');
    assert.deepEqual(
      await todos.locator('[data-permission="read:todos"]').getByTestId('permission-source').allInnerTexts(),
      ['role: viewer'],
    );
    await screenshot(page, 'admin-user-detail');

    // The console changed Writ itself: bob's next token carries the permission.
    const claims = await bobToken(API_ID);
    assert.deepEqual(claims.permissions, ['read:stock']);

    // Clients and keys.
    await page.getByRole('link', { name: 'Clients', exact: true }).click();
    await page.getByTestId('client-row').filter({ hasText: 'writ-admin-console' }).waitFor();
    await screenshot(page, 'admin-clients');
    await page.getByRole('link', { name: 'Keys', exact: true }).click();
    await page.locator('[data-testid="key-row"][data-state="current"]').first().waitFor();
    await screenshot(page, 'admin-keys');

    // The console's changes are in the audit log (the Management API records them).
    await page.getByRole('link', { name: 'Logs', exact: true }).click();
    await page.getByTestId('log-row').first().waitFor();
    await screenshot(page, 'admin-logs');

    // A destructive action, confirmed in the dialog: bob leaves the role, his next token loses it.
    await page.goto(`${WRIT}/admin/roles`);
    await page.getByRole('link', { name: ROLE }).click();
    await page.getByTestId('role-member').filter({ hasText: BOB.email }).getByRole('button', { name: 'Remove' }).click();
    await page.getByTestId('flash').waitFor();
    assert.equal(await page.getByTestId('role-member').count(), 0);
    assert.deepEqual((await bobToken(API_ID)).permissions, []);

    // On a phone.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${WRIT}/admin/users`);
    await page.getByTestId('user-row').first().waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `no horizontal scroll on a phone (overflow ${overflow}px)`);
    await screenshot(page, 'admin-phone-users');
    await page.getByRole('link', { name: BOB.email }).click();
    await page.getByTestId('effective-api').first().waitFor();
    await screenshot(page, 'admin-phone-user-detail');
  });
});

test('alice (no management role) gets 403 on every admin page', { timeout: 120_000 }, async (t) => {
  await inFreshContext(t, browser, 'admin-forbidden', async ({ page }) => {
    await signIn(page, ALICE);
    for (const path of PAGES) {
      const res = await page.goto(`${WRIT}${path}`);
      assert.equal(res.status(), 403, path);
      assert.match(await page.getByTestId('message-detail').innerText(), /You need \S+:\S+/, path);
      assert.equal(new URL(page.url()).pathname, path, 'no redirect');
    }
    await page.goto(`${WRIT}/admin/users`);
    await screenshot(page, 'admin-403');
  });
});

test('a form posted without its CSRF token is refused', { timeout: 120_000 }, async (t) => {
  const mgmt = await managementApi();
  await inFreshContext(t, browser, 'admin-csrf', async ({ page }) => {
    await signIn(page, ADMIN, '/admin/roles/new');
    const name = `no-csrf-${stamp}`;
    await page.locator('input[name="csrf"]').evaluateAll((inputs) => inputs.forEach((i) => i.remove()));
    await page.locator('#name').fill(name);
    const [res] = await Promise.all([
      page.waitForResponse((r) => r.url() === `${WRIT}/admin/roles/new` && r.request().method() === 'POST'),
      page.getByTestId('create-role').click(),
    ]);
    assert.equal(res.status(), 403);
    await page.getByText('Request refused').waitFor();
    // Posted with the session cookie but without the token, or with the token from another
    // origin: refused the same way.
    const noToken = await page.request.post(`${WRIT}/admin/roles/new`, {
      form: { name },
      headers: { Origin: WRIT },
      maxRedirects: 0,
    });
    assert.equal(noToken.status(), 403);
    await page.goto(`${WRIT}/admin/roles/new`);
    const csrf = await page.locator('input[name="csrf"]').first().getAttribute('value');
    const crossSite = await page.request.post(`${WRIT}/admin/roles/new`, {
      form: { csrf, name },
      headers: { Origin: 'https://evil.example' },
      maxRedirects: 0,
    });
    assert.equal(crossSite.status(), 403);
    // And a script on a console page cannot send anything at all (CSP: no connect-src).
    await assert.rejects(
      page.evaluate(() => fetch('/admin/roles/new', { method: 'POST', body: 'name=x' })),
      /Failed to fetch/,
    );
    const roles = await mgmt.call('GET', `/roles?name_filter=${encodeURIComponent(name)}`);
    assert.equal(roles.length, 0, 'no role was created');
  });
});

test('with scripts off, a destructive action asks on a confirmation page', { timeout: 120_000 }, async () => {
  const context = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  try {
    await signIn(page, ADMIN, '/admin/keys');
    const before = await page.locator('[data-testid="key-row"][data-state="current"]').allInnerTexts();
    await page.getByTestId('rotate-keys').click();
    await page.getByTestId('confirm').waitFor();
    await screenshot(page, 'admin-confirm-no-js');
    await page.getByTestId('confirm-button').click();
    await page.getByTestId('flash').waitFor();
    const afterRotation = await page.locator('[data-testid="key-row"][data-state="current"]').allInnerTexts();
    assert.notDeepEqual(afterRotation, before, 'new current keys');
  } finally {
    await context.close();
  }
});
