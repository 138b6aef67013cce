// Email, for real, in Chromium: a sign-up sends a verification email (read from the SMTP
// server run.sh starts on loopback, tests/interop/smtp_sink.py), its link verifies the
// address; "Forgot password?" sends a reset email, its link sets a new password, and the new
// password logs in while the old one no longer does.

import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import {
  SPA,
  WRIT,
  eventually,
  expectLoginPage,
  inFreshContext,
  managementApi,
  openSpa,
  screenshot,
  sharedBrowser,
  submitLogin,
} from './lib.mjs';

const browser = sharedBrowser();
const MAIL_DIR = process.env.MAIL_SINK_DIR;
const skip = MAIL_DIR ? false : 'no SMTP sink (run.sh sets MAIL_SINK_DIR when aiosmtpd is installed in .venv)';

/** The decoded messages the sink received for `to`, oldest first. */
function mailsTo(to) {
  return readdirSync(MAIL_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => JSON.parse(readFileSync(path.join(MAIL_DIR, f), 'utf8')))
    .filter((m) => m.rcpt_tos.includes(to));
}

/** Waits for the `n`th message to `to` and returns the link to `linkPath` it carries. */
async function linkInMail(to, n, linkPath) {
  const mail = await eventually(() => mailsTo(to)[n - 1], { timeout: 30_000, what: `email ${n} to ${to}` });
  const link = mail.text.split(/\s+/).find((w) => w.startsWith('http') && w.includes(linkPath));
  assert.ok(link, `a ${linkPath} link in ${mail.text}`);
  const html = mail.html.replaceAll('&#x2f;', '/').replaceAll('&amp;', '&');
  assert.ok(html.includes(link), 'the HTML part carries the same link');
  return { mail, link };
}

/** From the SPA's welcome screen to Writ's hosted login page. */
async function toLoginPage(page) {
  await openSpa(page);
  await page.getByTestId('login').click();
  await expectLoginPage(page);
}

const email = `mail-${Date.now()}@example.com`;
const firstPassword = 'first-password-123';
const newPassword = 'second-password-456';

test('sign-up sends a verification email whose link verifies the address', { skip, timeout: 120_000 }, async (t) => {
  await inFreshContext(t, browser, 'account-mail-signup', async ({ page }) => {
    await toLoginPage(page);
    await page.getByRole('link', { name: 'Sign up' }).click();
    await submitLogin(page, { email, password: firstPassword });
    await page.getByTestId('login-notice').waitFor();

    const { mail, link } = await linkInMail(email, 1, '/u/email-verification');
    assert.equal(mail.subject, 'Verify your email address');
    const api = await managementApi();
    assert.equal((await api.userByEmail(email)).email_verified, false);

    // Opening the link shows a button; the address is verified only once it is pressed.
    await page.goto(link);
    await screenshot(page, 'account-mail-verify');
    assert.equal((await api.userByEmail(email)).email_verified, false, 'a GET alone verifies nothing');
    await page.getByTestId('verify-confirm').click();
    await page.getByText('Email verified').first().waitFor();
    assert.equal((await api.userByEmail(email)).email_verified, true);

    // The link works once.
    const again = await page.goto(link);
    assert.equal(again.status(), 400);
  });
});

test('forgot password: the emailed link sets a new password that logs in', { skip, timeout: 120_000 }, async (t) => {
  await inFreshContext(t, browser, 'account-mail-reset', async ({ page }) => {
    await toLoginPage(page);
    await page.getByTestId('forgot-link').click();
    await page.locator('input[name="email"]').fill(email);
    await page.getByTestId('forgot-submit').click();
    const notice = await page.getByTestId('account-notice').innerText();
    assert.match(notice, /If an account uses this address/);

    const { mail, link } = await linkInMail(email, 2, '/u/reset-password');
    assert.equal(mail.subject, 'Reset your password');
    await page.goto(link);
    await page.locator('input[name="password"]').fill(newPassword);
    await page.locator('input[name="password_confirm"]').fill(newPassword);
    await screenshot(page, 'account-mail-reset');
    await page.getByTestId('reset-submit').click();
    await page.getByText('Password changed').first().waitFor();

    // The old password is refused, the new one signs in and the SPA gets its code.
    await toLoginPage(page);
    await submitLogin(page, { email, password: firstPassword });
    await page.getByTestId('login-error').waitFor();
    await submitLogin(page, { email, password: newPassword });
    await page.waitForURL((u) => u.href.startsWith(SPA), { timeout: 30_000 });
    await page.getByTestId('user-email').waitFor();
    assert.equal(await page.getByTestId('user-email').innerText(), email);
    assert.ok(WRIT);
  });
});
