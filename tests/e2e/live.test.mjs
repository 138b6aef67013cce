// Live permissions (docs/live-permissions.md): the SPA, open and untouched (no focus event, no
// click, no poll: the suite builds it with VITE_TODOS_REFRESH_SECONDS=0), follows Writ's
// stream of the user's authz events through the writ-live hook. 20 grants and 20 revocations
// of write:todos to bob through the Management API must each show on the page (the Add form
// appears or disappears); the time from the API's 2xx to the page's change is printed as p50
// and p99 (no timing assertion beyond a generous wait).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  AUDIENCE,
  BOB,
  displayedPermissions,
  inFreshContext,
  logIn,
  managementApi,
  openSpa,
  screenshot,
  sharedBrowser,
  waitForTodos,
} from './lib.mjs';

const browser = sharedBrowser();
const ROUNDS = Number(process.env.E2E_LIVE_ROUNDS || 20);
/** How long one change may take to show before the test fails (not a goal: a bound). */
const REFLECT_MS = 10_000;

/** The `q` quantile (nearest rank) of `values`. */
function quantile(values, q) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

const summary = (name, ms) =>
  `${name}: n=${ms.length} p50=${quantile(ms, 0.5)} ms p99=${quantile(ms, 0.99)} ms max=${Math.max(...ms)} ms`;

test('grants and revocations reach the open, untouched SPA through the live stream', { timeout: 600_000 }, async (t) => {
  const mgmt = await managementApi();
  const bob = await mgmt.userByEmail(BOB.email);
  const path = `/users/${encodeURIComponent(bob.user_id)}/permissions`;
  const grant = {
    permissions: [{ resource_server_identifier: AUDIENCE, permission_name: 'write:todos' }],
  };
  await inFreshContext(t, browser, 'live', async ({ page, calls }) => {
    await openSpa(page);
    await logIn(page, calls, BOB);
    await waitForTodos(page);
    await page.locator('[data-testid="live-status"][data-status="open"]').waitFor();
    assert.deepEqual(await displayedPermissions(page), ['read:todos']);
    assert.equal(await page.getByTestId('add-form').count(), 0, 'bob is a viewer');

    // The page records, with the same clock as this process, each time the Add form appears or
    // disappears, and counts the focus and visibility events it gets (there must be none).
    await page.evaluate(() => {
      const present = () => document.querySelector('[data-testid="add-form"]') !== null;
      window.__addForm = [];
      window.__nudges = 0;
      let was = present();
      new MutationObserver(() => {
        const now = present();
        if (now !== was) {
          was = now;
          window.__addForm.push({ present: now, at: Date.now() });
        }
      }).observe(document.body, { childList: true, subtree: true });
      window.addEventListener('focus', () => window.__nudges++);
      document.addEventListener('visibilitychange', () => window.__nudges++);
    });

    const grants = [];
    const revocations = [];
    const fromSend = []; // from sending the API request (an upper bound of the above)
    const apiMs = []; // the API call itself
    try {
      for (let i = 0; i < ROUNDS; i++) {
        for (const [method, present, out] of [
          ['POST', true, grants],
          ['DELETE', false, revocations],
        ]) {
          const seen = await page.evaluate(() => window.__addForm.length);
          const sent = Date.now();
          await mgmt.call(method, path, grant); // resolves on the API's 2xx
          const answered = Date.now();
          const change = await page
            .waitForFunction(
              ([n, p]) => window.__addForm.slice(n).find((c) => c.present === p) ?? false,
              [seen, present],
              { timeout: REFLECT_MS, polling: 50 },
            )
            .then((h) => h.jsonValue())
            .catch(async (e) => {
              await screenshot(page, `live-missed-${method}-${i}`);
              throw new Error(`round ${i}: the ${method === 'POST' ? 'grant' : 'revocation'} did not show within ${REFLECT_MS} ms (${e.message})`);
            });
          // The page may change before this process has read the API's answer: count that as 0.
          out.push(Math.max(0, change.at - answered));
          fromSend.push(change.at - sent);
          apiMs.push(answered - sent);
        }
      }
    } finally {
      await mgmt.call('DELETE', path, grant).catch(() => {});
    }
    assert.equal(await page.evaluate(() => window.__nudges), 0, 'no focus or visibility event');
    assert.equal(grants.length, ROUNDS);
    assert.equal(revocations.length, ROUNDS);
    await screenshot(page, 'live-after');
    const both = [...grants, ...revocations];
    const lines = [
      summary('grants', grants),
      summary('revocations', revocations),
      summary('all (API 2xx → page)', both),
      summary('all (API request sent → page)', fromSend),
      summary('the API call itself', apiMs),
    ];
    for (const l of lines) {
      console.log(`live permissions: ${l}`);
      t.diagnostic(l);
    }
  });
});
