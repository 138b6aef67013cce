// Multi-factor authentication in Chromium: a user holding a role that requires a second factor
// (`WRIT_MFA_ROLES=mfa-admin`, set by run.sh) logs in to the SPA: the hosted page asks them to
// enroll (the QR code, the key in text), the test computes the TOTP code from that key with
// node's crypto (RFC 6238: HMAC-SHA1, 6 digits, 30 s), the recovery code is shown once, and
// the SPA is signed in with `amr` saying a second factor was used. After logging out, the next
// login asks for a code (the challenge page) and succeeds with the next one.

import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';

import {
  AUDIENCE,
  decodeJwt,
  expectLoginPage,
  inFreshContext,
  managementApi,
  openSpa,
  screenshot,
  sharedBrowser,
  submitLogin,
} from './lib.mjs';

const browser = sharedBrowser();

/** RFC 4648 base32 (no padding) to bytes. */
function base32(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const out = [];
  for (const c of text.replace(/=+$/, '').toUpperCase()) {
    const i = alphabet.indexOf(c);
    if (i < 0) throw new Error(`not base32: ${c}`);
    value = (value << 5) | i;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** The TOTP code of `secret` (base32) for the 30-second step holding `at` (ms). */
function totp(secret, at = Date.now()) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(at / 1000 / 30)));
  const mac = createHmac('sha1', base32(secret)).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const n = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return String(n).padStart(6, '0');
}

test('RFC 6238 vector', () => {
  // Appendix B, SHA-1 at T=59: 94287082 (8 digits) → 287082.
  assert.equal(totp('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ', 59_000), '287082');
});

/** A user holding the role `mfa-admin` (created once) with the todos API's read permission. */
async function mfaAdmin() {
  const api = await managementApi();
  const roles = await api.call('GET', '/roles?name_filter=mfa-admin');
  let role = roles.find((r) => r.name === 'mfa-admin');
  if (!role) {
    role = await api.call('POST', '/roles', { name: 'mfa-admin', description: 'Must use a second factor' });
    await api.call('POST', `/roles/${role.id}/permissions`, {
      permissions: [{ resource_server_identifier: AUDIENCE, permission_name: 'read:todos' }],
    });
  }
  const user = {
    email: `mfa-${Date.now()}@example.com`,
    password: 'mfa-admin-password-1',
  };
  const created = await api.call('POST', '/users', {
    connection: 'Username-Password-Authentication',
    email: user.email,
    password: user.password,
  });
  await api.call('POST', `/users/${created.user_id}/roles`, { roles: [role.id] });
  return { ...user, id: created.user_id, api };
}

/** The code exchange that followed `from`, and the ID token's claims. */
async function signedIn(page, calls, from) {
  const exchange = await calls.waitFor(
    (c) => c.path === '/oauth/token' && c.form.grant_type === 'authorization_code',
    { from, what: 'the authorization_code exchange at /oauth/token' },
  );
  assert.equal(exchange.status, 200, exchange.text);
  await page.getByTestId('user-email').waitFor();
  return decodeJwt(exchange.json.id_token).payload;
}

test('an admin role that requires MFA: enrollment with the QR page, then a challenge after logout', { timeout: 120_000 }, async (t) => {
  const user = await mfaAdmin();
  await inFreshContext(t, browser, 'mfa', async ({ page, calls }) => {
    await openSpa(page);
    let from = calls.length;
    await page.getByTestId('login').click();
    await expectLoginPage(page);
    await submitLogin(page, user);

    // The enrollment page: a QR code drawn as SVG, and the key in text.
    await page.getByTestId('mfa-qr').locator('svg').waitFor();
    await screenshot(page, 'mfa-enroll');
    const secret = (await page.getByTestId('mfa-secret').innerText()).trim();
    assert.match(secret, /^[A-Z2-7]{32}$/);

    // A wrong code first: refused on the same page.
    await page.locator('input[name="code"]').fill('000000');
    await page.getByTestId('mfa-submit').click();
    await page.getByTestId('mfa-error').waitFor();

    const first = Date.now();
    await page.locator('input[name="code"]').fill(totp(secret, first));
    await page.getByTestId('mfa-submit').click();
    const recovery = (await page.getByTestId('mfa-recovery-code').innerText()).trim();
    assert.match(recovery, /^[A-Z2-9]{24}$/);
    await screenshot(page, 'mfa-recovery-code');
    await page.getByTestId('mfa-continue').click();
    const id = await signedIn(page, calls, from);
    assert.deepEqual(id.amr, ['pwd', 'otp', 'mfa']);

    // The factor is listed by the Management API.
    const methods = await user.api.call('GET', `/users/${user.id}/authentication-methods`);
    assert.equal(methods.length, 1);
    assert.equal(methods[0].type, 'totp');
    assert.equal(methods[0].confirmed, true);

    // Log out, log in again: the challenge page (no QR), the next step's code.
    await page.getByTestId('logout').click();
    await page.getByTestId('login').waitFor();
    from = calls.length;
    await page.getByTestId('login').click();
    await expectLoginPage(page);
    await submitLogin(page, user);
    await page.getByTestId('mfa-submit').waitFor();
    assert.equal(await page.getByTestId('mfa-qr').count(), 0);
    await screenshot(page, 'mfa-challenge');
    await page.locator('input[name="code"]').fill(totp(secret, first + 30_000));
    await page.getByTestId('mfa-submit').click();
    const again = await signedIn(page, calls, from);
    assert.deepEqual(again.amr, ['pwd', 'otp', 'mfa']);
  });
});
