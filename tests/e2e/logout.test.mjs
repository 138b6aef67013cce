// (d) logging out ends Writ's session, not just the SPA's memory.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  ALICE,
  CLIENT_ID,
  SPA,
  expectLoginPage,
  inFreshContext,
  sharedBrowser,
  logIn,
  openSpa,
  screenshot,
  submitLogin,
} from './lib.mjs';

const browser = sharedBrowser();

test('after logout, logging in asks for credentials again', { timeout: 90_000 }, async (t) => {
  await inFreshContext(t, browser, 'logout', async ({ page, calls }) => {
    await openSpa(page);
    await logIn(page, calls, ALICE);

    // While the session lives, Writ does not ask again: a reload signs in silently.
    await page.reload();
    await page.getByTestId('user-email').waitFor();

    const from = calls.length;
    await page.getByTestId('logout').click();
    const logout = await calls.waitFor((c) => c.path === '/v2/logout', {
      from,
      what: 'the browser’s visit to /v2/logout',
    });
    assert.equal(logout.query.client_id, CLIENT_ID);
    assert.equal(logout.query.returnTo, `${SPA}/`);
    await page.waitForURL(`${SPA}/`);
    await page.getByTestId('login').waitFor();
    assert.equal(await page.getByTestId('user-email').count(), 0);

    // Visiting the SPA again: still logged out.
    await openSpa(page);
    assert.equal(await page.getByTestId('user-email').count(), 0);

    // Clicking "Log in" shows Writ's login page instead of bouncing straight back.
    await page.getByTestId('login').click();
    await expectLoginPage(page);
    await screenshot(page, 'login-page-after-logout');

    // And the page still works.
    await submitLogin(page, ALICE);
    await page.getByTestId('user-email').waitFor();
  });
});
