-- When each non-RSA algorithm's keys were published in the JWKS. ES256 and EdDSA keys are only
-- published while some API signs with them; an API that starts needing one keeps its tokens on
-- RS256 until the JWKS caches of verifiers have had time to see the new key (the warm-up,
-- counted from `published_since`). Written in the same transaction as the API write that
-- starts or stops the use: `published_since` (RFC 3339) when an algorithm is first needed
-- again, `retire_after` (Unix seconds) when its last API stops using it, after which its keys
-- leave the JWKS (the tokens they signed have expired) and a later use starts a new warm-up.
CREATE TABLE key_publication (
    alg             TEXT PRIMARY KEY,
    published_since TEXT NOT NULL,
    retire_after    BIGINT
);

-- Algorithms in use when this migration runs were already published: no warm-up for them.
INSERT INTO key_publication (alg, published_since)
SELECT DISTINCT signing_alg, '1970-01-01T00:00:00.000Z' FROM resource_servers WHERE signing_alg <> 'RS256';

-- A key's self-signed certificate (DER), made once and kept, so every node and every restart
-- shows the same one (ECDSA signatures are randomized: two signings differ).
ALTER TABLE signing_keys ADD COLUMN certificate BLOB;
