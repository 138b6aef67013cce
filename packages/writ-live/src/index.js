// writ-live: the open page learns within a second that its user's permissions changed.
//
// Opens Writ's user stream (`GET /me/authz-events`) with the user's current access token in
// the Authorization header, and on each change gets a fresh token
// (`getAccessTokenSilently({ cacheMode: 'off' })`, as @auth0/auth0-spa-js and
// @auth0/auth0-react name it) and tells the app. Reconnects with backoff and Last-Event-ID, so a
// change made while disconnected is told after the reconnect; opens a new stream with a new
// token when the old one expires.

import { SseParser, readSse } from './sse.js';

export { SseParser, readSse } from './sse.js';

/** The stream's path on Writ. */
export const LIVE_PATH = '/me/authz-events';

const sleep = (ms, signal) =>
  new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });

/**
 * The delay before reconnect attempt `attempt` (0-based): exponential from `min` to `max`,
 * with jitter (between half and all of it), so many tabs do not reconnect at once.
 */
export function backoff(attempt, min = 500, max = 30_000, random = Math.random) {
  const full = Math.min(max, min * 2 ** Math.min(attempt, 30));
  return Math.round(full / 2 + (random() * full) / 2);
}

/**
 * @typedef {object} WritLiveChange
 * @property {'authz'|'stale'|'revoked'} type  `authz`: the version rose while connected (or
 *   while disconnected, told on resume); `stale`: the stream opened with a token older than the
 *   user's version; `revoked`: the user was blocked or deleted (the stream stops).
 * @property {number} [version] the user's authz version now
 * @property {string} [kind]    what changed (`role_assigned`, `permissions_removed`, …)
 * @property {string} [token]   the fresh access token (absent for `revoked`, or if renewal failed)
 */

/**
 * Follows the signed-in user's permission changes.
 *
 * @param {object} options
 * @param {string} options.domain  Writ's base URL (`https://login.example.com`; with or without a trailing slash).
 * @param {(opts?: object) => Promise<string>} options.getAccessTokenSilently  From auth0-spa-js / auth0-react.
 * @param {(change: WritLiveChange) => void} [options.onChange]  Called after each change, with the fresh token.
 * @param {(status: 'connecting'|'open'|'waiting'|'closed', detail?: any) => void} [options.onStatus]
 * @param {(error: Error) => void} [options.onError]
 * @param {string} [options.path]  Default `/me/authz-events`.
 * @param {typeof fetch} [options.fetch]
 * @param {number} [options.minBackoffMs]  Default 500.
 * @param {number} [options.maxBackoffMs]  Default 30000.
 * @returns {{ close(): void, readonly lastEventId: string, readonly status: string }}
 */
export function createWritLive(options) {
  const {
    domain,
    getAccessTokenSilently,
    onChange = () => {},
    onStatus = () => {},
    onError = () => {},
    path = LIVE_PATH,
    fetch: fetchFn = globalThis.fetch.bind(globalThis),
    minBackoffMs = 500,
    maxBackoffMs = 30_000,
  } = options;
  if (!domain) throw new TypeError('writ-live: `domain` is required');
  if (typeof getAccessTokenSilently !== 'function') {
    throw new TypeError('writ-live: `getAccessTokenSilently` is required');
  }
  const url = domain.replace(/\/+$/, '') + path;
  const stop = new AbortController();
  const parser = new SseParser();
  let status = 'connecting';
  const setStatus = (s, detail) => {
    status = s;
    onStatus(s, detail);
  };

  // Renewals are serialised; a change told while one runs makes one more run after it (the
  // running one may have asked before the change landed).
  let renewing = null;
  let again = null;
  const renew = (change) => {
    if (renewing) {
      again = change;
      return renewing;
    }
    renewing = (async () => {
      let next = change;
      while (next && !stop.signal.aborted) {
        again = null;
        let token;
        try {
          token = await getAccessTokenSilently({ cacheMode: 'off' });
        } catch (e) {
          onError(e);
        }
        if (stop.signal.aborted) break;
        onChange({ ...next, token });
        next = again;
      }
      renewing = null;
    })();
    return renewing;
  };

  const run = async () => {
    let attempt = 0;
    let fresh = false; // take a new token, not the cached one, at the next connect
    while (!stop.signal.aborted) {
      setStatus(attempt === 0 ? 'connecting' : 'waiting');
      let token;
      try {
        token = await getAccessTokenSilently(fresh ? { cacheMode: 'off' } : undefined);
      } catch (e) {
        onError(e);
        await sleep(backoff(attempt++, minBackoffMs, maxBackoffMs), stop.signal);
        continue;
      }
      fresh = false;
      let res;
      try {
        const headers = { Authorization: `Bearer ${token}`, Accept: 'text/event-stream' };
        if (parser.lastEventId) headers['Last-Event-ID'] = parser.lastEventId;
        res = await fetchFn(url, { headers, cache: 'no-store', signal: stop.signal });
      } catch (e) {
        if (stop.signal.aborted) break;
        onError(e);
        await sleep(backoff(attempt++, minBackoffMs, maxBackoffMs), stop.signal);
        continue;
      }
      if (!res.ok) {
        res.body?.cancel?.().catch?.(() => {});
        onError(new Error(`writ-live: ${res.status} ${res.headers.get('www-authenticate') || ''}`.trim()));
        if (res.status === 401) fresh = true; // expired or revoked token: ask for a new one
        const retryAfter = Number(res.headers.get('retry-after')) * 1000 || 0;
        // 403 and 400 will not pass by themselves: back off to the longest wait.
        const hopeless = res.status === 403 || res.status === 400;
        const wait = hopeless ? maxBackoffMs : Math.max(retryAfter, backoff(attempt++, minBackoffMs, maxBackoffMs));
        await sleep(wait, stop.signal);
        continue;
      }
      let ended = null;
      try {
        for await (const ev of readSse(res.body, parser)) {
          if (stop.signal.aborted) break;
          let data = {};
          try {
            data = ev.data ? JSON.parse(ev.data) : {};
          } catch {
            data = {};
          }
          if (ev.event === 'ready') {
            attempt = 0;
            setStatus('open', data);
            if (data.stale) renew({ type: 'stale', version: data.version });
          } else if (ev.event === 'authz') {
            renew({ type: 'authz', version: data.version, kind: data.kind });
          } else if (ev.event === 'expired' || ev.event === 'revoked') {
            ended = ev.event;
            break;
          }
        }
      } catch (e) {
        if (!stop.signal.aborted) onError(e);
      }
      if (stop.signal.aborted) break;
      if (ended === 'revoked') {
        onChange({ type: 'revoked' });
        break;
      }
      if (ended === 'expired') {
        fresh = true; // a new token at once, no wait
        continue;
      }
      // The server closed (a restart, a proxy's timeout) or the network failed: back off.
      await sleep(backoff(attempt++, minBackoffMs, maxBackoffMs), stop.signal);
    }
    setStatus('closed');
  };
  run();

  return {
    close() {
      stop.abort();
    },
    get lastEventId() {
      return parser.lastEventId;
    },
    get status() {
      return status;
    },
  };
}
