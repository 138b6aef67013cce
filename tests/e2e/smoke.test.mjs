// The SPA itself: served by `vite preview`, renders its welcome screen in Chromium, and takes
// the renewal switch. Needs neither Writ nor the todos API.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { SPA, WRIT, inFreshContext, screenshot, sharedBrowser } from './lib.mjs';

const browser = sharedBrowser();

test('the SPA is served and shows its login screen', { timeout: 60_000 }, async (t) => {
  await inFreshContext(t, browser, 'spa-welcome', async ({ page, calls }) => {
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const res = await page.goto(`${SPA}/`);
    assert.equal(res.status(), 200);
    await page.getByTestId('login').waitFor();
    assert.equal(await page.title(), 'Writ · Todos');
    assert.equal(await page.getByTestId('writ-domain').innerText(), WRIT);
    assert.equal(await page.getByTestId('renewal-mode').getAttribute('data-mode'), 'refresh_token');
    assert.equal(await page.getByTestId('user-email').count(), 0);
    await screenshot(page, 'spa-welcome');
    // Nobody has logged in in this browser: the SPA does not even ask Writ.
    assert.deepEqual(
      calls.map((c) => c.path),
      [],
    );
    assert.deepEqual(errors, []);
  });
});

test('?refresh_tokens=off switches this tab to iframe renewal and leaves the address bar clean', { timeout: 60_000 }, async (t) => {
  await inFreshContext(t, browser, 'spa-renewal-switch', async ({ page }) => {
    await page.goto(`${SPA}/?refresh_tokens=off`);
    await page.getByTestId('login').waitFor();
    assert.equal(await page.getByTestId('renewal-mode').getAttribute('data-mode'), 'iframe');
    assert.equal(page.url(), `${SPA}/`);
    // Kept for the tab, so it survives the round trip through the login page.
    await page.goto(`${SPA}/`);
    await page.getByTestId('login').waitFor();
    assert.equal(await page.getByTestId('renewal-mode').getAttribute('data-mode'), 'iframe');
    await page.goto(`${SPA}/?refresh_tokens=on`);
    await page.getByTestId('login').waitFor();
    assert.equal(await page.getByTestId('renewal-mode').getAttribute('data-mode'), 'refresh_token');
  });
});

test('the mobile layout has no horizontal scrolling', { timeout: 60_000 }, async (t) => {
  await inFreshContext(t, browser, 'spa-welcome-mobile', async ({ page }) => {
    await page.setViewportSize({ width: 375, height: 740 });
    await page.goto(`${SPA}/`);
    await page.getByTestId('login').waitFor();
    const overflow = await page.evaluate(
      () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
    );
    assert.equal(overflow, 0);
    await screenshot(page, 'spa-welcome-mobile');
  });
});
