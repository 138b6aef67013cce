// useWritLive: the React hook over createWritLive, for @auth0/auth0-react apps.

import { useEffect, useRef, useState } from 'react';

import { createWritLive } from './index.js';

/**
 * Follows the signed-in user's permission changes while the component is mounted.
 *
 * ```jsx
 * const { getAccessTokenSilently, isAuthenticated } = useAuth0();
 * const { status } = useWritLive({
 *   domain: 'https://login.example.com',
 *   getAccessTokenSilently,
 *   enabled: isAuthenticated,
 *   onChange: ({ token }) => setToken(token), // a fresh token: show what the user may do now
 * });
 * ```
 *
 * The latest callbacks are used without reopening the stream; it reopens when `domain`,
 * `path` or `enabled` change.
 *
 * @param {object} options  As for `createWritLive`, plus `enabled` (default true).
 * @returns {{ status: 'connecting'|'open'|'waiting'|'closed'|'off', lastChange: object|null }}
 */
export function useWritLive(options) {
  const { domain, path, enabled = true } = options;
  const latest = useRef(options);
  latest.current = options;
  const [status, setStatus] = useState(enabled ? 'connecting' : 'off');
  const [lastChange, setLastChange] = useState(null);

  useEffect(() => {
    if (!enabled || !domain) {
      setStatus('off');
      return undefined;
    }
    const live = createWritLive({
      domain,
      path,
      minBackoffMs: latest.current.minBackoffMs,
      maxBackoffMs: latest.current.maxBackoffMs,
      fetch: latest.current.fetch,
      getAccessTokenSilently: (o) => latest.current.getAccessTokenSilently(o),
      onChange: (change) => {
        setLastChange(change);
        latest.current.onChange?.(change);
      },
      onStatus: (s, detail) => {
        setStatus(s);
        latest.current.onStatus?.(s, detail);
      },
      onError: (e) => latest.current.onError?.(e),
    });
    return () => live.close();
  }, [domain, path, enabled]);

  return { status, lastChange };
}
