// Shared helpers for the browser end-to-end tests: Chromium through playwright-core, the
// hosted-login flow, a recorder of the SPA's calls to Writ, screenshots, and a small
// Management API client.

import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { after, before } from 'node:test';

import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(here, '..', '..');

const trimSlash = (u) => u.replace(/\/+$/, '');

/** Where everything runs; run.sh sets these, the defaults match it. */
export const WRIT = trimSlash(process.env.WRIT_URL || 'http://127.0.0.1:3000');
export const SPA = trimSlash(process.env.SPA_URL || 'http://127.0.0.1:5173');
export const TODOS_API = trimSlash(process.env.TODOS_API_URL || 'http://127.0.0.1:4000');
/** The Django example behind nginx and `writ gate` (run.sh starts it for this Writ). */
export const DJANGO_API = trimSlash(process.env.DJANGO_API_URL || 'http://127.0.0.1:8080');
export const AUDIENCE = 'https://todos.example/api';
export const CLIENT_ID = process.env.WRIT_SPA_CLIENT_ID || 'demo-spa';
export const ALICE = { email: 'alice@example.com', password: 'alice-password-1' };
export const BOB = { email: 'bob@example.com', password: 'bob-password-1' };
export const SCREENSHOTS = process.env.SCREENSHOT_DIR || path.join(REPO_ROOT, 'target', 'screenshots');
mkdirSync(SCREENSHOTS, { recursive: true });

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** How long one step (a navigation, a login, a token call) may take. */
export const STEP_MS = Number(process.env.E2E_STEP_MS || 15_000);

export function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
    // playwright-core adds its own headless flags too; ours are the ones this machine needs.
    headless: true,
  });
}

/**
 * One Chromium for the test file: launched before its first test, closed after its last. Use
 * the returned handle where a browser is wanted (`inFreshContext(t, browser, …)`).
 */
export function sharedBrowser() {
  let browser;
  before(async () => {
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
  });
  return { newContext: (options) => browser.newContext(options) };
}

const safeName = (s) => s.replace(/[^a-zA-Z0-9._-]+/g, '-').replace(/^-|-$/g, '').slice(0, 80);

export async function screenshot(page, name) {
  const file = path.join(SCREENSHOTS, `${safeName(name)}.png`);
  try {
    await page.screenshot({ path: file, fullPage: true, timeout: 5_000 });
  } catch (e) {
    // A screenshot must never hide the real failure.
    process.stderr.write(`could not save screenshot ${file}: ${e.message}\n`);
  }
  return file;
}

/**
 * Runs `fn({page, context, calls})` in a fresh browser context (own cookies, own storage), and
 * always leaves `<name>-end.png` behind, plus `<name>-FAILED.png` and a console log when the
 * test fails.
 */
export async function inFreshContext(t, browser, name, fn) {
  const context = await browser.newContext({
    viewport: { width: 1280, height: 860 },
    locale: 'en-US',
    timezoneId: 'UTC',
  });
  context.setDefaultTimeout(STEP_MS);
  context.setDefaultNavigationTimeout(STEP_MS);
  const page = await context.newPage();
  const log = [];
  const stamp = () => new Date().toISOString().slice(11, 23);
  page.on('console', (m) => log.push(`${stamp()} console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => log.push(`${stamp()} pageerror: ${e.message}`));
  page.on('requestfailed', (r) =>
    log.push(`${stamp()} requestfailed: ${r.method()} ${r.url()} ${r.failure()?.errorText ?? ''}`),
  );
  page.on('framenavigated', (f) => log.push(`${stamp()} navigated${f === page.mainFrame() ? '' : ' (frame)'}: ${f.url()}`));
  const calls = recordWritCalls(page, log);
  try {
    await fn({ page, context, calls });
  } catch (err) {
    await screenshot(page, `${name}-FAILED`);
    const logFile = path.join(SCREENSHOTS, `${safeName(name)}-FAILED.log`);
    writeFileSync(logFile, `${err?.stack || err}\n\nat ${page.url()}\n\n${log.join('\n')}\n`);
    t.diagnostic(`page was at ${page.url()}; browser log: ${logFile}`);
    throw err;
  } finally {
    await screenshot(page, `${name}-end`);
    await context.close().catch(() => {});
  }
}

/**
 * Records what the page (and its frames, such as auth0-spa-js's hidden iframe) sends to Writ:
 * every /authorize, /oauth/token and /v2/logout request, with the token responses' bodies.
 */
export function recordWritCalls(page, log = []) {
  const calls = [];
  const waiters = new Set();
  const notify = () => {
    for (const w of waiters) w();
  };
  page.on('request', (req) => {
    const url = new URL(req.url());
    if (url.origin !== WRIT) return;
    const entry = {
      at: Date.now(),
      method: req.method(),
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      form: req.method() === 'POST' ? parseBody(req) : {},
      isMainFrame: isMainFrame(page, req),
      request: req,
      status: undefined,
      json: undefined,
      text: undefined,
      done: false,
    };
    calls.push(entry);
    log.push(`writ <- ${req.method()} ${url.pathname}${url.search ? url.search.slice(0, 200) : ''}`);
    notify();
  });
  const finish = async (req, res) => {
    const entry = calls.find((c) => c.request === req);
    if (!entry) return;
    entry.status = res ? res.status() : 0;
    if (res && entry.path === '/oauth/token') {
      entry.text = await res.text().catch(() => undefined);
      try {
        entry.json = JSON.parse(entry.text);
      } catch {
        /* not JSON */
      }
    } else if (res && entry.path === '/authorize' && entry.query.response_mode === 'web_message') {
      entry.text = await res.text().catch(() => undefined);
    }
    entry.done = true;
    log.push(`writ -> ${entry.status} ${entry.path}${entry.json?.error ? ` ${entry.text}` : ''}`);
    notify();
  };
  page.on('requestfinished', async (req) => finish(req, await req.response().catch(() => null)));
  page.on('requestfailed', (req) => finish(req, null));

  /** Waits for a finished call matching `pred` (among those after index `from`). */
  calls.waitFor = (pred, { from = 0, timeout = STEP_MS, what = 'a matching call to Writ' } = {}) =>
    new Promise((resolve, reject) => {
      const check = () => {
        const hit = calls.slice(from).find((c) => c.done && pred(c));
        if (hit) {
          waiters.delete(check);
          clearTimeout(timer);
          resolve(hit);
        }
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        const seen = calls
          .slice(from)
          .map((c) => `${c.method} ${c.path} ${c.form.grant_type ?? ''} -> ${c.status ?? 'pending'}`)
          .join('; ');
        reject(new Error(`timed out after ${timeout} ms waiting for ${what}; saw: ${seen || 'nothing'}`));
      }, timeout);
      waiters.add(check);
      check();
    });
  calls.tokenCalls = (grantType, from = 0) =>
    calls.slice(from).filter((c) => c.path === '/oauth/token' && c.form.grant_type === grantType);
  return calls;
}

function isMainFrame(page, req) {
  try {
    return req.frame() === page.mainFrame();
  } catch {
    return false; // a service worker's request has no frame
  }
}

function parseBody(req) {
  const body = req.postData() || '';
  const type = req.headers()['content-type'] || '';
  try {
    if (type.includes('application/json')) return JSON.parse(body);
  } catch {
    /* fall through */
  }
  return Object.fromEntries(new URLSearchParams(body));
}

export function decodeJwt(token) {
  const [h, p] = token.split('.');
  const dec = (s) => JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
  return { header: dec(h), payload: dec(p) };
}

/** Opens the SPA (optionally with a query such as `?refresh_tokens=off`). */
export async function openSpa(page, query = '') {
  await page.goto(`${SPA}/${query}`);
  await page.getByTestId('login').or(page.getByTestId('user-email')).first().waitFor();
}

/** The hosted login page's form fields (Auth0's Universal Login uses the same names). */
export const loginForm = (page) => ({
  username: page.locator('input[name="username"]'),
  password: page.locator('input[name="password"]'),
});

/** Waits until the browser is on Writ's hosted login page, and says where it is when not. */
export async function expectLoginPage(page) {
  try {
    await page.waitForURL((u) => u.origin === WRIT, { timeout: STEP_MS });
    await loginForm(page).password.waitFor({ state: 'visible' });
  } catch (e) {
    const text = (await page.locator('body').innerText().catch(() => '')).slice(0, 400);
    throw new Error(`expected Writ's login page, but the browser is at ${page.url()}: ${text}\n(${e.message})`);
  }
}

/** Submits the hosted login page's form. */
export async function submitLogin(page, { email, password }) {
  const form = loginForm(page);
  await form.username.fill(email);
  await form.password.fill(password);
  await form.password.press('Enter');
}

/**
 * From the SPA's welcome screen: click "Log in", sign in on Writ's hosted page, come back.
 * `beforeSubmit(page)` runs while the login page is shown (for its screenshot).
 * Returns the access token of the authorization_code exchange that followed.
 */
export async function logIn(page, calls, user, { beforeSubmit } = {}) {
  const from = calls.length;
  await page.getByTestId('login').click();
  await expectLoginPage(page);
  if (beforeSubmit) await beforeSubmit(page);
  await submitLogin(page, user);
  const exchange = await calls.waitFor(
    (c) => c.path === '/oauth/token' && c.form.grant_type === 'authorization_code',
    { from, what: 'the authorization_code exchange at /oauth/token' },
  );
  if (exchange.status !== 200 || !exchange.json?.access_token) {
    throw new Error(`code exchange failed: ${exchange.status} ${exchange.text}`);
  }
  try {
    await page.getByTestId('user-email').waitFor();
  } catch (e) {
    const text = (await page.locator('body').innerText().catch(() => '')).slice(0, 400);
    throw new Error(`the SPA did not show a signed-in user at ${page.url()}: ${text}\n(${e.message})`);
  }
  return exchange.json;
}

/** Permissions as the SPA displays them (from its decoded access token). */
export async function displayedPermissions(page) {
  const list = page.getByTestId('permissions');
  await list.waitFor();
  const attr = (await list.getAttribute('data-permissions')) ?? '';
  return attr.split(' ').filter(Boolean).sort();
}

/** Waits until the todo panel settled: a list, the empty state, or an error. */
export async function waitForTodos(page) {
  await page
    .getByTestId('todo-list')
    .or(page.getByTestId('todo-empty'))
    .or(page.getByTestId('api-error'))
    .first()
    .waitFor();
  if (await page.getByTestId('api-error').isVisible()) {
    throw new Error(`the todo list did not load: ${await page.getByTestId('api-error').innerText()}`);
  }
}

/** A client of Writ's Management API v2, with the bootstrap client's credentials. */
export async function managementApi() {
  const id = process.env.WRIT_BOOTSTRAP_CLIENT_ID;
  const secret = process.env.WRIT_BOOTSTRAP_CLIENT_SECRET;
  if (!id || !secret) {
    throw new Error('WRIT_BOOTSTRAP_CLIENT_ID/SECRET must be set (tests/e2e/run.sh sets them): no Management API access');
  }
  const res = await fetch(`${WRIT}/oauth/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: id,
      client_secret: secret,
      audience: `${WRIT}/api/v2/`,
    }),
  });
  const body = await res.json();
  if (!res.ok) throw new Error(`management token: ${res.status} ${JSON.stringify(body)}`);
  const call = async (method, p, json) => {
    const r = await fetch(`${WRIT}/api/v2${p}`, {
      method,
      headers: {
        Authorization: `Bearer ${body.access_token}`,
        ...(json ? { 'Content-Type': 'application/json' } : {}),
      },
      body: json ? JSON.stringify(json) : undefined,
    });
    const text = await r.text();
    if (!r.ok) throw new Error(`${method} /api/v2${p}: ${r.status} ${text}`);
    return text ? JSON.parse(text) : null;
  };
  return {
    call,
    async userByEmail(email) {
      const users = await call('GET', `/users-by-email?email=${encodeURIComponent(email)}`);
      if (!users?.length) throw new Error(`no user ${email}`);
      return users[0];
    },
  };
}

/** Polls `fn` until it returns a truthy value. */
export async function eventually(fn, { timeout = STEP_MS, interval = 100, what = 'a condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  while (Date.now() < deadline) {
    last = await fn();
    if (last) return last;
    await new Promise((r) => setTimeout(r, interval));
  }
  throw new Error(`timed out after ${timeout} ms waiting for ${what} (last: ${JSON.stringify(last)})`);
}
