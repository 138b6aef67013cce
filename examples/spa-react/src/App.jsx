import { useCallback, useEffect, useMemo, useState } from 'react';
import { useAuth0 } from '@auth0/auth0-react';
import { useWritLive } from 'writ-live/react';

import { friendlyMessage, makeApi, todosFrom } from './api.js';
import { API_URL, REFRESH_SECONDS, WRIT_DOMAIN } from './config.js';
import { decodeJwtPayload, permissionsOf } from './jwt.js';

const timeOf = (seconds) => (seconds ? new Date(seconds * 1000).toLocaleTimeString() : '—');

export default function App({ useRefreshTokens, live }) {
  const { isLoading, isAuthenticated, error, user, loginWithRedirect, logout } = useAuth0();

  const login = () => loginWithRedirect();
  const logOut = () => logout({ logoutParams: { returnTo: window.location.origin + '/' } });

  let body;
  if (isLoading) {
    body = (
      <div className="card center" data-testid="loading" aria-busy="true">
        <span className="spinner" aria-hidden="true" /> Checking your session…
      </div>
    );
  } else if (!isAuthenticated) {
    body = <Welcome onLogin={login} error={error} />;
  } else {
    body = <Dashboard user={user} live={live} />;
  }

  return (
    <div className="app">
      <header className="topbar">
        <div className="brand">
          <span className="logo" aria-hidden="true">✓</span>
          <span>Writ Todos</span>
        </div>
        {isAuthenticated && !isLoading && (
          <div className="who">
            <span className="email" data-testid="user-email" title={user?.sub}>
              {user?.email || user?.name || user?.sub}
            </span>
            <button type="button" className="btn btn-ghost" data-testid="logout" onClick={logOut}>
              Log out
            </button>
          </div>
        )}
      </header>
      <main className="content">{body}</main>
      <footer className="footer">
        <span>
          Identity provider: Writ at <code data-testid="writ-domain">{WRIT_DOMAIN}</code>
        </span>
        <span>
          Token renewal:{' '}
          <strong data-testid="renewal-mode" data-mode={useRefreshTokens ? 'refresh_token' : 'iframe'}>
            {useRefreshTokens ? 'refresh token' : 'hidden iframe (prompt=none)'}
          </strong>
        </span>
      </footer>
    </div>
  );
}

function Welcome({ onLogin, error }) {
  return (
    <section className="card hero" data-testid="welcome">
      <h1>Your todos, guarded by Writ</h1>
      <p className="muted">
        Log in to see the list. What you can do depends on your role: viewers read, editors
        also add and delete.
      </p>
      {error && (
        <p className="notice notice-error" role="alert" data-testid="auth-error">
          Login failed: {error.message}
        </p>
      )}
      <button type="button" className="btn btn-primary btn-lg" data-testid="login" onClick={onLogin}>
        Log in
      </button>
    </section>
  );
}

function Dashboard({ user, live: liveOn }) {
  const { getAccessTokenSilently } = useAuth0();
  const [token, setToken] = useState(null);
  const [tokenError, setTokenError] = useState(null);
  const [renewing, setRenewing] = useState(false);
  const [renewals, setRenewals] = useState(0);
  const [showAll, setShowAll] = useState(false);

  // Every token the app obtains passes through here, so the display follows the newest one.
  const getToken = useCallback(
    async (options) => {
      const t = await getAccessTokenSilently(options);
      setToken(t);
      setTokenError(null);
      return t;
    },
    [getAccessTokenSilently],
  );
  const api = useMemo(() => makeApi(getToken), [getToken]);

  useEffect(() => {
    getToken().catch(setTokenError);
  }, [getToken]);

  // Live permissions: Writ tells this page within a second that the user's permissions
  // changed; the helper then renews the token (cacheMode 'off', through getToken, so the
  // display follows) and the list reloads. The poll below stays as a fallback.
  const [changes, setChanges] = useState(0);
  const live = useWritLive({
    domain: WRIT_DOMAIN,
    getAccessTokenSilently: getToken,
    enabled: liveOn,
    onChange: () => setChanges((n) => n + 1),
  });

  const renew = async () => {
    setRenewing(true);
    try {
      await getToken({ cacheMode: 'off' });
      setRenewals((n) => n + 1);
    } catch (e) {
      setTokenError(e);
    } finally {
      setRenewing(false);
    }
  };

  const claims = useMemo(() => (token ? decodeJwtPayload(token) : null), [token]);
  const permissions = useMemo(() => permissionsOf(claims), [claims]);

  return (
    <div className="grid">
      <section className="card" data-testid="profile">
        <h2>Your access</h2>
        <p className="muted">
          Signed in as <strong>{user?.email || user?.sub}</strong>
        </p>
        {tokenError && (
          <p className="notice notice-error" role="alert" data-testid="token-error">
            {friendlyMessage(tokenError)}
          </p>
        )}
        <h3>Permissions in your access token</h3>
        {token ? (
          permissions.length > 0 ? (
            <ul className="chips" data-testid="permissions" data-permissions={permissions.join(' ')}>
              {permissions.map((p) => (
                <li key={p} className="chip" data-testid="permission" data-permission={p}>
                  {p}
                </li>
              ))}
            </ul>
          ) : (
            <p className="muted" data-testid="permissions" data-permissions="">
              None: your role grants nothing on this API.
            </p>
          )
        ) : (
          <p className="muted">Fetching a token…</p>
        )}
        <p className="muted small">
          Live updates:{' '}
          <strong data-testid="live-status" data-status={live.status}>
            {live.status === 'open' ? 'on' : live.status}
          </strong>
        </p>
        <dl className="facts">
          <dt>Issued</dt>
          <dd data-testid="token-iat">{timeOf(claims?.iat)}</dd>
          <dt>Expires</dt>
          <dd data-testid="token-exp">{timeOf(claims?.exp)}</dd>
        </dl>
        <div className="row">
          <button
            type="button"
            className="btn"
            data-testid="refresh-token"
            onClick={renew}
            disabled={renewing}
          >
            {renewing ? 'Renewing…' : 'Get a fresh token'}
          </button>
          {renewals > 0 && (
            <span className="muted small" data-testid="token-renewed" data-count={renewals}>
              Renewed {renewals === 1 ? 'once' : `${renewals} times`}
            </span>
          )}
        </div>
        {claims && (
          <details className="claims">
            <summary>Access token claims (decoded for display; the API verifies them)</summary>
            <pre data-testid="token-claims">{JSON.stringify(claims, null, 2)}</pre>
          </details>
        )}
      </section>

      <Todos
        api={api}
        permissions={permissions}
        ready={token !== null}
        showAll={showAll}
        changes={changes}
      >
        <label className="toggle">
          <input
            type="checkbox"
            data-testid="show-all-actions"
            checked={showAll}
            onChange={(e) => setShowAll(e.target.checked)}
          />
          Show actions my role doesn’t allow (the API still checks)
        </label>
      </Todos>
    </div>
  );
}

function Todos({ api, permissions, ready, showAll, changes, children }) {
  const canRead = permissions.includes('read:todos');
  const canWrite = showAll || permissions.includes('write:todos');
  const canDelete = showAll || permissions.includes('delete:todos');
  const tryRead = canRead || showAll;

  const [todos, setTodos] = useState(null);
  const [message, setMessage] = useState(null);
  const [title, setTitle] = useState('');
  const [busy, setBusy] = useState(false);

  const load = useCallback(async () => {
    try {
      const data = await api('GET', '/todos', { action: 'view todos' });
      setTodos(todosFrom(data));
    } catch (e) {
      setTodos(null);
      setMessage(friendlyMessage(e));
    }
  }, [api]);

  // Loaded when ready, and again after each permission change Writ tells live.
  useEffect(() => {
    if (ready && tryRead) load();
  }, [ready, tryRead, load, changes]);

  // Reload when the tab comes back into view, and now and then while it is in view: the
  // fallback for a permission granted while the live stream was down (the API refuses the old
  // token, the SPA renews silently, and the new token's permissions decide which buttons show).
  useEffect(() => {
    if (!ready || !tryRead) return undefined;
    const reload = () => {
      if (document.visibilityState === 'visible') load();
    };
    window.addEventListener('focus', reload);
    document.addEventListener('visibilitychange', reload);
    const timer = REFRESH_SECONDS > 0 ? window.setInterval(reload, REFRESH_SECONDS * 1000) : null;
    return () => {
      window.removeEventListener('focus', reload);
      document.removeEventListener('visibilitychange', reload);
      if (timer) window.clearInterval(timer);
    };
  }, [ready, tryRead, load]);

  const add = async (e) => {
    e.preventDefault();
    const t = title.trim();
    if (!t) return;
    setBusy(true);
    setMessage(null);
    try {
      await api('POST', '/todos', { body: { title: t }, action: 'add todos' });
      setTitle('');
      await load();
    } catch (err) {
      setMessage(friendlyMessage(err));
    } finally {
      setBusy(false);
    }
  };

  const remove = async (id) => {
    setBusy(true);
    setMessage(null);
    try {
      await api('DELETE', `/todos/${encodeURIComponent(id)}`, { action: 'delete todos' });
      await load();
    } catch (err) {
      setMessage(friendlyMessage(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="card" data-testid="todos">
      <div className="card-head">
        <h2>Todos</h2>
        <span className="muted small">
          from <code>{API_URL}</code>
        </span>
      </div>

      {message && (
        <div className="notice notice-error" role="alert" data-testid="api-error">
          <span>{message}</span>
          <button
            type="button"
            className="btn-link"
            aria-label="Dismiss"
            onClick={() => setMessage(null)}
          >
            ×
          </button>
        </div>
      )}

      {canWrite && (
        <form className="add" onSubmit={add} data-testid="add-form">
          <label htmlFor="new-todo" className="sr-only">
            New todo
          </label>
          <input
            id="new-todo"
            name="title"
            data-testid="new-todo-title"
            placeholder="What needs doing?"
            autoComplete="off"
            maxLength={200}
            value={title}
            onChange={(e) => setTitle(e.target.value)}
          />
          <button type="submit" className="btn btn-primary" data-testid="add-todo" disabled={busy}>
            Add
          </button>
        </form>
      )}

      {!ready ? (
        <p className="muted">Loading…</p>
      ) : !tryRead ? (
        <p className="muted" data-testid="no-read">
          You don't have permission to view todos (it needs read:todos).
        </p>
      ) : todos === null ? (
        message ? null : <p className="muted">Loading todos…</p>
      ) : todos.length === 0 ? (
        <p className="muted empty" data-testid="todo-empty">
          Nothing to do yet.
        </p>
      ) : (
        <ul className="todo-list" data-testid="todo-list">
          {todos.map((todo, i) => (
            <li key={todo.id ?? i} className="todo" data-testid="todo-item" data-id={todo.id}>
              <span className="todo-title" data-testid="todo-title">
                {todo.title}
              </span>
              {canDelete && (
                <button
                  type="button"
                  className="btn btn-danger btn-sm"
                  data-testid="delete-todo"
                  aria-label={`Delete ${todo.title}`}
                  disabled={busy}
                  onClick={() => remove(todo.id)}
                >
                  Delete
                </button>
              )}
            </li>
          ))}
        </ul>
      )}

      <div className="card-foot">{children}</div>
    </section>
  );
}
