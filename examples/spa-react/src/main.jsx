import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { Auth0Provider } from '@auth0/auth0-react';

import App from './App.jsx';
import { AUDIENCE, CLIENT_ID, SCOPE, WRIT_DOMAIN, resolveLive, resolveUseRefreshTokens } from './config.js';
import './styles.css';

const useRefreshTokens = resolveUseRefreshTokens();
const live = resolveLive();

createRoot(document.getElementById('root')).render(
  <StrictMode>
    <Auth0Provider
      domain={WRIT_DOMAIN}
      clientId={CLIENT_ID}
      authorizationParams={{
        redirect_uri: window.location.origin + '/',
        audience: AUDIENCE,
        scope: SCOPE,
      }}
      useRefreshTokens={useRefreshTokens}
      // With the in-memory cache a page reload forgets the refresh token: fall back to the
      // prompt=none iframe (Writ's session cookie) instead of showing the user as logged out.
      useRefreshTokensFallback={true}
      cacheLocation="memory"
    >
      <App useRefreshTokens={useRefreshTokens} live={live} />
    </Auth0Provider>
  </StrictMode>,
);
