// oidc-provider (v9) reference server for Writ's token-endpoint load benchmark.
//
// Issues JWT access tokens for the client_credentials grant, signed with the
// algorithm named by ALG (RS256 | ES256 | EdDSA).
//
// Environment:
//   PORT                 port to listen on (127.0.0.1 only)          default 3100
//   ALG                  RS256 | ES256 | EdDSA                       default ES256
//   BENCH_CLIENT_SECRET  secret of the single client "bench"         required
//   BENCH_RESOURCE       resource indicator / token audience         default https://bench.example/api
//   NODE_ENV             should be "production" (bench/token-load.sh sets it)
//
// Token endpoint: POST /token
//   grant_type=client_credentials&client_id=bench&client_secret=...
//   &resource=https://bench.example/api&scope=read:things
// (client_secret_post and client_secret_basic are both accepted.)
//
// Signing keys for all three algorithms are generated at startup with
// node:crypto (RSA 2048, P-256, Ed25519), so the keystore is the same whatever
// ALG is; ALG only selects which key signs access tokens.

import * as crypto from 'node:crypto';

import Provider, { errors } from 'oidc-provider';

const HOST = '127.0.0.1';
const PORT = Number.parseInt(process.env.PORT ?? '3100', 10);
const ALG = process.env.ALG ?? 'ES256';
const SECRET = process.env.BENCH_CLIENT_SECRET;
const RESOURCE = process.env.BENCH_RESOURCE ?? 'https://bench.example/api';
const SCOPE = 'read:things write:things';
const TTL = 3600;

const ALGS = ['RS256', 'ES256', 'EdDSA'];

function die(msg) {
  console.error(`server.mjs: ${msg}`);
  process.exit(2);
}

if (!ALGS.includes(ALG)) die(`ALG must be one of ${ALGS.join(', ')}, got ${JSON.stringify(ALG)}`);
if (!SECRET) die('BENCH_CLIENT_SECRET is required');
if (!Number.isInteger(PORT) || PORT <= 0 || PORT > 65535) die(`bad PORT ${process.env.PORT}`);
if (process.env.NODE_ENV !== 'production') {
  console.error('server.mjs: warning: NODE_ENV is not "production"');
}

function signingJwk(alg) {
  let pair;
  switch (alg) {
    case 'RS256':
      pair = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
      break;
    case 'ES256':
      pair = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
      break;
    case 'EdDSA':
      pair = crypto.generateKeyPairSync('ed25519');
      break;
    default:
      throw new Error(`unsupported alg ${alg}`);
  }
  const jwk = pair.privateKey.export({ format: 'jwk' });
  return {
    ...jwk, alg, use: 'sig', kid: `bench-${alg.toLowerCase()}`,
  };
}

// RS256 first: it is the default id_token / client-default algorithm.
const jwks = { keys: ALGS.map(signingJwk) };

const configuration = {
  clients: [
    {
      client_id: 'bench',
      client_secret: SECRET,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      // oidc-provider accepts client_secret_basic for a client registered with
      // client_secret_post (and vice versa): both are "secret" methods.
      token_endpoint_auth_method: 'client_secret_post',
    },
  ],
  jwks,
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: false },
    revocation: { enabled: false },
    resourceIndicators: {
      enabled: true,
      // v9 signature: (ctx, client, oneOf) — oneOf is only passed when a
      // request resolved several resources and one must be picked.
      defaultResource: async (_ctx, _client, oneOf) => (oneOf ? oneOf[0] : RESOURCE),
      // v9 signature: (ctx, resourceIndicator, client) → ResourceServer info.
      getResourceServerInfo: async (_ctx, resourceIndicator) => {
        if (resourceIndicator !== RESOURCE) {
          throw new errors.InvalidTarget();
        }
        return {
          scope: SCOPE,
          audience: RESOURCE,
          accessTokenTTL: TTL,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: ALG } },
        };
      },
      useGrantedResource: async () => true,
    },
  },
  ttl: {
    ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? TTL,
  },
};

const provider = new Provider(`http://${HOST}:${PORT}`, configuration);

// Counters: a JWT-format client_credentials token is "issued" (never stored);
// "saved" would mean something went to the adapter.
const counts = {
  issued: 0, saved: 0, grantErrors: 0, serverErrors: 0,
};
provider.on('client_credentials.issued', () => { counts.issued += 1; });
provider.on('client_credentials.saved', () => { counts.saved += 1; });
provider.on('grant.error', (ctx, err) => {
  counts.grantErrors += 1;
  if (counts.grantErrors <= 5) console.error('grant.error:', err.message, err.error_description ?? '');
});
provider.on('server_error', (ctx, err) => {
  counts.serverErrors += 1;
  if (counts.serverErrors <= 5) console.error('server_error:', err);
});

const server = provider.listen(PORT, HOST, () => {
  console.log(`oidc-provider ready: issuer=${provider.issuer} alg=${ALG} resource=${RESOURCE} pid=${process.pid}`);
});
server.on('error', (err) => die(`listen failed: ${err.message}`));

function shutdown(signal) {
  console.log(`oidc-provider stopping (${signal}): ${JSON.stringify(counts)}`);
  server.close(() => process.exit(0));
  // keep-alive connections from the load generator may hold close() open
  setTimeout(() => process.exit(0), 1000).unref();
  server.closeAllConnections?.();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
