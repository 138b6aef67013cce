// The todos API client: bearer tokens from Writ, friendly errors, and one silent retry when
// the API says the token's permissions are out of date.

import { API_URL } from './config.js';

export class ApiError extends Error {
  constructor(status, { error, description, requiredScope, action }) {
    super(description || error || `HTTP ${status}`);
    this.status = status;
    this.error = error;
    this.description = description;
    this.requiredScope = requiredScope;
    this.action = action;
  }
}

/** Parses `Bearer error="…", error_description="…", scope="…"` into an object. */
export function parseWwwAuthenticate(header) {
  const out = {};
  if (!header) return out;
  const re = /([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g;
  let m;
  while ((m = re.exec(header)) !== null) out[m[1]] = m[2].replace(/\\(.)/g, '$1');
  return out;
}

async function errorDetails(res) {
  // The WWW-Authenticate header is readable cross-origin only when the API lists it in
  // Access-Control-Expose-Headers; a JSON body is the fallback.
  const fromHeader = parseWwwAuthenticate(res.headers.get('WWW-Authenticate'));
  let body = {};
  try {
    const text = await res.clone().text();
    if (text) body = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return {
    error: fromHeader.error || body.error,
    description: fromHeader.error_description || body.error_description || body.message,
    requiredScope: fromHeader.scope || body.scope,
  };
}

const isPermissionsChanged = (d) => /permissions changed/i.test(d.description || '');

/**
 * Makes `fetchApi(method, path, {body, action})`.
 * `getToken(options)` returns an access token (getAccessTokenSilently, wrapped by the app).
 */
export function makeApi(getToken) {
  return async function fetchApi(method, path, { body, action } = {}) {
    const send = async (tokenOptions) => {
      const token = await getToken(tokenOptions);
      try {
        return await fetch(API_URL + path, {
          method,
          headers: {
            Authorization: `Bearer ${token}`,
            Accept: 'application/json',
            ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
          },
          body: body !== undefined ? JSON.stringify(body) : undefined,
        });
      } catch {
        throw new ApiError(0, {
          error: 'network_error',
          description: `Could not reach the todos API at ${API_URL}.`,
          action,
        });
      }
    };

    let res = await send();
    if (res.status === 401) {
      const details = await errorDetails(res);
      if (isPermissionsChanged(details)) {
        // An administrator changed this user's roles: a fresh token carries the new
        // permissions. Retry once, bypassing the token cache.
        res = await send({ cacheMode: 'off' });
      }
    }
    if (!res.ok) {
      throw new ApiError(res.status, { ...(await errorDetails(res)), action });
    }
    if (res.status === 204) return null;
    const text = await res.text();
    return text ? JSON.parse(text) : null;
  };
}

/** The list from `GET /todos`, whether it is a bare array or wrapped in an object. */
export function todosFrom(data) {
  if (Array.isArray(data)) return data;
  if (data && typeof data === 'object') {
    for (const key of ['todos', 'items', 'data']) {
      if (Array.isArray(data[key])) return data[key];
    }
  }
  return [];
}

/** A message for people, not for developers. */
export function friendlyMessage(err) {
  if (err instanceof ApiError) {
    const action = err.action || 'do that';
    if (err.status === 403) {
      const needs = err.requiredScope ? ` (it needs ${err.requiredScope})` : '';
      return `You don't have permission to ${action}${needs}.`;
    }
    if (err.status === 401) {
      return 'Your sign-in is no longer accepted by the todos API. Please log out and log in again.';
    }
    if (err.status === 0) return err.message;
    if (err.status === 404) return `That todo no longer exists.`;
    return `Could not ${action}: the todos API answered ${err.status}${err.description ? ` (${err.description})` : ''}.`;
  }
  if (err && (err.error === 'login_required' || err.error === 'missing_refresh_token')) {
    return 'Your session has ended. Please log in again.';
  }
  if (err && err.error === 'consent_required') {
    return 'Writ needs your consent again. Please log in again.';
  }
  return `Something went wrong: ${err?.error_description || err?.message || String(err)}`;
}
