// Build-time settings (Vite inlines VITE_* variables into the bundle) plus one runtime switch.

const env = import.meta.env;

const trimSlash = (url) => url.replace(/\/+$/, '');

/** Writ's base URL. auth0-spa-js accepts a scheme here; it then expects `iss` = this + '/'. */
export const WRIT_DOMAIN = trimSlash(env.VITE_WRIT_DOMAIN || 'http://127.0.0.1:3000');
export const CLIENT_ID = env.VITE_WRIT_CLIENT_ID || 'demo-spa';
/** The todos API's identifier: the `aud` of the access tokens this app asks for. */
export const AUDIENCE = env.VITE_TODOS_AUDIENCE || 'https://todos.example/api';
/** Where the todos API listens. */
export const API_URL = trimSlash(env.VITE_TODOS_API_URL || 'http://127.0.0.1:4000');
/**
 * How often (seconds) the open page reloads the list while the tab is visible; it also reloads
 * whenever the tab comes back into view. A reload with a token whose permissions changed gets
 * 401 "permissions changed", renews silently, and the page shows what the user may do now
 * (new buttons after a grant) without a click. 0: only on coming back into view. A fallback:
 * the live stream (below) tells the page of a change within a second.
 */
export const REFRESH_SECONDS = Number(env.VITE_TODOS_REFRESH_SECONDS ?? 300) || 0;
const LIVE_KEY = 'writ-spa-react.live';

/**
 * Whether this tab follows Writ's live stream of the user's permission changes
 * (`GET /me/authz-events`, through the writ-live helper): VITE_WRIT_LIVE (on when unset), or
 * `?live=off` / `?live=on` for this tab, kept in sessionStorage like the renewal switch below
 * (the end-to-end tests of the fallback path turn it off).
 */
export function resolveLive() {
  const fallback = parseBool(env.VITE_WRIT_LIVE) ?? true;
  try {
    const url = new URL(window.location.href);
    const fromUrl = parseBool(url.searchParams.get('live'));
    if (url.searchParams.has('live')) {
      url.searchParams.delete('live');
      window.history.replaceState(window.history.state, '', url.pathname + url.search + url.hash);
    }
    if (fromUrl !== undefined) {
      window.sessionStorage.setItem(LIVE_KEY, String(fromUrl));
      return fromUrl;
    }
    return parseBool(window.sessionStorage.getItem(LIVE_KEY)) ?? fallback;
  } catch {
    return fallback;
  }
}
export const SCOPE = 'openid profile email offline_access read:todos write:todos delete:todos';

const RENEWAL_KEY = 'writ-spa-react.refresh_tokens';

function parseBool(value) {
  if (value == null || value === '') return undefined;
  const v = String(value).trim().toLowerCase();
  if (['1', 'true', 'on', 'yes'].includes(v)) return true;
  if (['0', 'false', 'off', 'no'].includes(v)) return false;
  return undefined;
}

/**
 * How this tab renews access tokens: `true` = refresh-token grant, `false` = the hidden
 * `prompt=none` iframe (which rides on Writ's session cookie).
 *
 * The default comes from VITE_USE_REFRESH_TOKENS (true when unset). Opening the app with
 * `?refresh_tokens=off` (or `on`) overrides it for this browser tab: the choice is kept in
 * sessionStorage so that it survives the round trip through Writ's login page, and the
 * parameter is removed from the address bar.
 */
export function resolveUseRefreshTokens() {
  const fallback = parseBool(env.VITE_USE_REFRESH_TOKENS) ?? true;
  let fromUrl;
  try {
    const url = new URL(window.location.href);
    fromUrl = parseBool(url.searchParams.get('refresh_tokens'));
    if (url.searchParams.has('refresh_tokens')) {
      url.searchParams.delete('refresh_tokens');
      window.history.replaceState(window.history.state, '', url.pathname + url.search + url.hash);
    }
    if (fromUrl !== undefined) {
      window.sessionStorage.setItem(RENEWAL_KEY, String(fromUrl));
      return fromUrl;
    }
    return parseBool(window.sessionStorage.getItem(RENEWAL_KEY)) ?? fallback;
  } catch {
    return fromUrl ?? fallback;
  }
}
