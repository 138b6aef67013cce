// createWritLive against a fake Writ (a fetch that answers scripted streams): renewal on each
// change, resume with Last-Event-ID, a new token when the old one expires, backoff after
// failures, and the end on `revoked`.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { backoff, createWritLive } from '../src/index.js';

/** A response streaming `frames` (strings), then closing unless `hold`. */
function sse(frames, { hold = false, status = 200, headers = {} } = {}) {
  const enc = new TextEncoder();
  const body = new ReadableStream({
    start(c) {
      for (const f of frames) c.enqueue(enc.encode(f));
      if (!hold) c.close();
    },
  });
  return new Response(status === 200 ? body : null, {
    status,
    headers: { 'content-type': 'text/event-stream', ...headers },
  });
}

function until(cond, what) {
  return new Promise((resolve, reject) => {
    const start = Date.now();
    const tick = () => {
      if (cond()) return resolve();
      if (Date.now() - start > 5000) return reject(new Error(`timed out: ${what}`));
      setTimeout(tick, 5);
    };
    tick();
  });
}

test('a change renews the token with cacheMode off and tells the app; expiry reopens with Last-Event-ID', async () => {
  const requests = [];
  const answers = [
    sse([
      'event: ready\ndata: {"version":4,"stale":false}\n\n',
      ': heartbeat\n\n',
      'event: authz\nid: 9\ndata: {"version":9,"kind":"permissions_added"}\n\n',
      'event: expired\ndata: {}\n\n',
    ]),
    sse(['event: ready\ndata: {"version":9,"stale":false}\n\n'], { hold: true }),
  ];
  const tokenCalls = [];
  let n = 0;
  const changes = [];
  const live = createWritLive({
    domain: 'https://writ.example/',
    getAccessTokenSilently: async (o) => {
      tokenCalls.push(o?.cacheMode ?? 'on');
      return `t${++n}`;
    },
    fetch: async (url, init) => {
      requests.push({ url, headers: init.headers });
      return answers.shift();
    },
    onChange: (c) => changes.push(c),
  });
  await until(() => requests.length === 2 && changes.length === 1, 'the reconnect and the change');
  live.close();
  assert.equal(requests[0].url, 'https://writ.example/me/authz-events');
  assert.equal(requests[0].headers.Authorization, 'Bearer t1');
  assert.equal(requests[0].headers['Last-Event-ID'], undefined);
  assert.equal(requests[1].headers['Last-Event-ID'], '9', 'resumes after the last event');
  assert.deepEqual(changes[0].type, 'authz');
  assert.equal(changes[0].version, 9);
  assert.equal(changes[0].kind, 'permissions_added');
  assert.match(changes[0].token, /^t\d$/);
  // The first connect uses the cache; the change and the expiry ask for fresh tokens.
  assert.equal(tokenCalls[0], 'on');
  assert.deepEqual(tokenCalls.slice(1).sort(), ['off', 'off']);
});

test('a stale token at open is renewed at once; revoked ends it', async () => {
  const changes = [];
  const statuses = [];
  const live = createWritLive({
    domain: 'https://writ.example',
    getAccessTokenSilently: async () => 'tok',
    fetch: async () =>
      sse([
        'event: ready\ndata: {"version":5,"stale":true}\n\n',
        'event: authz\nid: 6\ndata: {"version":6,"kind":"user_blocked"}\n\n',
        'event: revoked\ndata: {}\n\n',
      ]),
    onChange: (c) => changes.push(c),
    onStatus: (s) => statuses.push(s),
  });
  await until(() => statuses.includes('closed') && changes.some((c) => c.type === 'revoked'), 'the end');
  assert.equal(changes[0].type, 'stale');
  assert.equal(changes.at(-1).type, 'revoked');
  assert.equal(live.status, 'closed');
});

test('failures back off and retry; 401 asks for a fresh token', async () => {
  const answers = [
    () => Promise.reject(new TypeError('network down')),
    () => sse([], { status: 401, headers: { 'www-authenticate': 'Bearer error="invalid_token"' } }),
    () => sse([], { status: 429, headers: { 'retry-after': '0' } }),
    () => sse(['event: ready\ndata: {"version":1,"stale":false}\n\n'], { hold: true }),
  ];
  const modes = [];
  const errors = [];
  const statuses = [];
  const live = createWritLive({
    domain: 'https://writ.example',
    getAccessTokenSilently: async (o) => {
      modes.push(o?.cacheMode ?? 'on');
      return 'tok';
    },
    fetch: async () => answers.shift()(),
    onError: (e) => errors.push(e.message),
    onStatus: (s) => statuses.push(s),
    minBackoffMs: 1,
    maxBackoffMs: 4,
  });
  await until(() => statuses.at(-1) === 'open', 'open after the failures');
  live.close();
  assert.equal(errors.length, 3, errors.join('; '));
  assert.deepEqual(modes, ['on', 'on', 'off', 'on']);
});

test('backoff grows, is capped and jittered', () => {
  assert.equal(backoff(0, 500, 30_000, () => 1), 500);
  assert.equal(backoff(3, 500, 30_000, () => 1), 4000);
  assert.equal(backoff(20, 500, 30_000, () => 1), 30_000);
  assert.equal(backoff(3, 500, 30_000, () => 0), 2000);
});
