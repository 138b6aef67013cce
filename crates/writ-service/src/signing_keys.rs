//! Signing keys: generation (aws-lc-rs), encryption at rest, rotation, the JWKS document and
//! the in-memory key ring that signs tokens.
//!
//! Per algorithm there is one `current` key (signs), one `next` key (published before it signs,
//! so caches have it when rotation happens) and `previous` keys that stay published until every
//! token they signed has expired. RS256 keys are always published (ID tokens); ES256 and EdDSA
//! keys only while some API signs with them, because some JWKS clients read every key as RSA.
//!
//! When an API starts needing ES256 or EdDSA, that algorithm's keys appear in the JWKS at once
//! but sign nothing until the warm-up (`Config::jwks_warmup_secs`, longer than the JWKS's
//! `max-age`) has passed since they appeared (`KeyPublication::published_since`, kept in the
//! store so every node and restart agrees): until then the API's tokens are signed with RS256,
//! so no verifier ever meets a token whose key its cached JWKS could not have held.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair};
use base64::Engine;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use serde_json::{Value, json};
use writ_core::{KeyState, SigningAlg, SigningKey};
use writ_store::{KeyPublication, Store, StoreError};

use crate::crypto::{KeyCipher, random_alnum};

pub fn jwt_alg(a: SigningAlg) -> Algorithm {
    match a {
        SigningAlg::RS256 => Algorithm::RS256,
        SigningAlg::ES256 => Algorithm::ES256,
        SigningAlg::EdDSA => Algorithm::EdDSA,
    }
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut s = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        s.push_str(std::str::from_utf8(chunk).expect("base64 is ascii"));
        s.push('\n');
    }
    s.push_str(&format!("-----END {label}-----\n"));
    s
}

/// Builds the jsonwebtoken key from PKCS#8 DER.
pub fn encoding_key(
    alg: SigningAlg,
    pkcs8: &[u8],
) -> Result<EncodingKey, jsonwebtoken::errors::Error> {
    let p = pem("PRIVATE KEY", pkcs8);
    match alg {
        SigningAlg::RS256 => EncodingKey::from_rsa_pem(p.as_bytes()),
        SigningAlg::ES256 => EncodingKey::from_ec_pem(p.as_bytes()),
        SigningAlg::EdDSA => EncodingKey::from_ed_pem(p.as_bytes()),
    }
}

/// Generates a new key: `(PKCS#8 DER, public JWK with kid/alg/use)`.
pub fn generate(alg: SigningAlg, kid: &str) -> Result<(Vec<u8>, Value), KeyGenError> {
    crate::jwt_signer::install();
    let der: Vec<u8> = match alg {
        SigningAlg::RS256 => aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)?
            .as_der()?
            .as_ref()
            .to_vec(),
        SigningAlg::ES256 => EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)?
            .to_pkcs8v1()?
            .as_ref()
            .to_vec(),
        SigningAlg::EdDSA => Ed25519KeyPair::generate()?.to_pkcs8v1()?.as_ref().to_vec(),
    };
    let enc = encoding_key(alg, &der)?;
    let mut jwk = Jwk::from_encoding_key(&enc, jwt_alg(alg))?;
    jwk.common.key_id = Some(kid.to_owned());
    jwk.common.public_key_use = Some(jsonwebtoken::jwk::PublicKeyUse::Signature);
    Ok((der, serde_json::to_value(&jwk)?))
}

/// Why a key could not be generated.
#[derive(Debug, thiserror::Error)]
#[error("key generation failed: {0}")]
pub struct KeyGenError(String);

impl From<aws_lc_rs::error::Unspecified> for KeyGenError {
    fn from(e: aws_lc_rs::error::Unspecified) -> Self {
        KeyGenError(e.to_string())
    }
}

impl From<jsonwebtoken::errors::Error> for KeyGenError {
    fn from(e: jsonwebtoken::errors::Error) -> Self {
        KeyGenError(e.to_string())
    }
}

impl From<serde_json::Error> for KeyGenError {
    fn from(e: serde_json::Error) -> Self {
        KeyGenError(e.to_string())
    }
}

/// A freshly generated key record in `state`, its private key sealed.
pub fn new_record(
    alg: SigningAlg,
    state: KeyState,
    cipher: &KeyCipher,
) -> Result<SigningKey, StoreError> {
    let kid = random_alnum(22);
    let (der, jwk) = generate(alg, &kid).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(SigningKey {
        private_der: cipher.seal(&kid, &der),
        public_jwk: jwk,
        alg,
        state,
        created_at: crate::time::now_rfc3339(),
        current_since: (state == KeyState::Current).then(crate::time::now_rfc3339),
        current_until: None,
        revoked_at: None,
        retire_after: None,
        kid,
    })
}

/// Makes sure every algorithm has a current and a next key.
pub async fn ensure_keys(store: &dyn Store, cipher: &KeyCipher) -> Result<(), StoreError> {
    let keys = store.signing_keys().await?;
    for alg in SigningAlg::ALL {
        for st in [KeyState::Current, KeyState::Next] {
            if !keys.iter().any(|k| k.alg == alg && k.state == st) {
                store
                    .insert_signing_key(&new_record(alg, st, cipher)?)
                    .await?;
            }
        }
    }
    Ok(())
}

/// The key that signs for one algorithm, parsed once, with the JWS headers of its access and
/// ID tokens built once; `jsonwebtoken` serializes each token (no JOSE of our own).
pub struct Signer {
    pub kid: String,
    key: EncodingKey,
    /// The header of an access token (`typ` `at+jwt`).
    at_header: Header,
    /// The header of an ID token (`typ` `JWT`).
    id_header: Header,
}

/// A JWS header `{typ, alg, kid}`.
fn header(alg: Algorithm, kid: &str, typ: &str) -> Header {
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_owned());
    header.typ = Some(typ.to_owned());
    header
}

impl Signer {
    /// The signer of `kid`'s PKCS#8 DER private key `der` for `alg`.
    pub fn new(
        alg: SigningAlg,
        kid: &str,
        der: &[u8],
    ) -> Result<Self, jsonwebtoken::errors::Error> {
        let jwt = jwt_alg(alg);
        Ok(Signer {
            kid: kid.to_owned(),
            key: encoding_key(alg, der)?,
            at_header: header(jwt, kid, "at+jwt"),
            id_header: header(jwt, kid, "JWT"),
        })
    }

    /// Signs claims as a JWT with `typ` (e.g. `at+jwt` or `JWT`).
    pub fn sign<T: Serialize>(
        &self,
        typ: &'static str,
        claims: &T,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        match typ {
            "at+jwt" => jsonwebtoken::encode(&self.at_header, claims, &self.key),
            "JWT" => jsonwebtoken::encode(&self.id_header, claims, &self.key),
            _ => jsonwebtoken::encode(
                &header(self.at_header.alg, &self.kid, typ),
                claims,
                &self.key,
            ),
        }
    }
}

/// What signs an API's tokens at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EffectiveSigning {
    /// The algorithm of the key that signs them now.
    pub alg: SigningAlg,
    /// While the API's own algorithm warms up (`alg` is then RS256): when it takes over.
    pub until: Option<chrono::DateTime<chrono::Utc>>,
}

/// Everything derived from the signing keys, swapped atomically after a change.
pub struct KeyRing {
    pub signers: HashMap<SigningAlg, Arc<Signer>>,
    /// Per published non-RSA algorithm: the Unix time in milliseconds from which its keys
    /// sign (published since, plus the warm-up). An algorithm absent here never signs.
    ready_at: HashMap<SigningAlg, i64>,
    /// The published JWKS, serialized once.
    pub jwks: Arc<Value>,
    /// Every non-revoked public key, for Writ's own verification.
    pub all_public: Value,
}

impl KeyRing {
    /// The current key of `alg`, whether or not it may sign yet (see [`KeyRing::signer_for`]).
    pub fn signer(&self, alg: SigningAlg) -> Option<&Arc<Signer>> {
        self.signers.get(&alg)
    }

    /// What signs the tokens of an API whose `signing_alg` is `alg`, at `now_ms` (Unix
    /// milliseconds): `alg` once its keys have been published for the warm-up, RS256 before.
    pub fn effective(&self, alg: SigningAlg, now_ms: i64) -> EffectiveSigning {
        if alg == SigningAlg::RS256 {
            return EffectiveSigning { alg, until: None };
        }
        match self.ready_at.get(&alg) {
            Some(&at) if now_ms >= at => EffectiveSigning { alg, until: None },
            at => EffectiveSigning {
                alg: SigningAlg::RS256,
                until: at.and_then(|&ms| chrono::DateTime::from_timestamp_millis(ms)),
            },
        }
    }

    /// The key that signs the tokens of an API whose `signing_alg` is `alg`, at `now_ms` (see
    /// [`KeyRing::effective`]).
    pub fn signer_for(&self, alg: SigningAlg, now_ms: i64) -> Option<&Arc<Signer>> {
        self.signer(self.effective(alg, now_ms).alg)
    }

    /// Builds the ring with every algorithm of `algs_in_use` published long ago (no warm-up),
    /// as for keys loaded outside a deployment (benchmarks, tools).
    pub fn build(
        keys: &[SigningKey],
        cipher: &KeyCipher,
        algs_in_use: &HashSet<SigningAlg>,
    ) -> Result<Self, StoreError> {
        let publications: Vec<KeyPublication> = algs_in_use
            .iter()
            .filter(|a| **a != SigningAlg::RS256)
            .map(|&alg| KeyPublication {
                alg,
                published_since: "1970-01-01T00:00:00.000Z".into(),
                retire_after: None,
            })
            .collect();
        Self::build_published(keys, cipher, &publications, algs_in_use, 0)
    }

    /// Builds the ring: RS256 keys are published; a non-RSA algorithm's keys while its
    /// publication record is live (not retired) or some API uses it (`algs_in_use`), and they
    /// sign from `warmup_secs` after the record's `published_since` (never without a record).
    pub fn build_published(
        keys: &[SigningKey],
        cipher: &KeyCipher,
        publications: &[KeyPublication],
        algs_in_use: &HashSet<SigningAlg>,
        warmup_secs: u64,
    ) -> Result<Self, StoreError> {
        crate::jwt_signer::install();
        let now = crate::time::now();
        let mut ready_at = HashMap::new();
        let mut published_algs: HashSet<SigningAlg> = algs_in_use.clone();
        published_algs.insert(SigningAlg::RS256);
        for p in publications {
            if p.alg == SigningAlg::RS256 || p.retire_after.is_some_and(|t| t <= now) {
                continue;
            }
            let since = chrono::DateTime::parse_from_rfc3339(&p.published_since)
                .map_err(|e| {
                    StoreError::Corrupt(format!(
                        "key_publication.published_since '{}': {e}",
                        p.published_since
                    ))
                })?
                .timestamp_millis();
            let warmup_ms = i64::try_from(warmup_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
            ready_at.insert(p.alg, since.saturating_add(warmup_ms));
            published_algs.insert(p.alg);
        }
        let mut signers = HashMap::new();
        let mut published = Vec::new();
        let mut all = Vec::new();
        for k in keys {
            if k.state == KeyState::Revoked {
                continue;
            }
            all.push(k.public_jwk.clone());
            let live = k.state != KeyState::Previous || k.retire_after.is_none_or(|t| t > now);
            if live && published_algs.contains(&k.alg) {
                published.push(k.public_jwk.clone());
            }
            if k.state == KeyState::Current {
                let der = cipher.open(&k.kid, &k.private_der).ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "signing key {} cannot be decrypted with this key-encryption key",
                        k.kid
                    ))
                })?;
                let signer = Signer::new(k.alg, &k.kid, &der)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                signers.insert(k.alg, Arc::new(signer));
            }
        }
        Ok(Self {
            signers,
            ready_at,
            jwks: Arc::new(json!({ "keys": published })),
            all_public: json!({ "keys": all }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kids(ring: &KeyRing, alg: &str) -> usize {
        ring.jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|k| k["alg"] == alg)
            .count()
    }

    #[test]
    fn signer_writes_what_jsonwebtoken_encodes() {
        crate::jwt_signer::install();
        let claims = json!({"iss": "https://a.example/", "sub": "s\"1", "exp": 4_000_000_000u64, "aud": "a"});
        for alg in SigningAlg::ALL {
            let (der, jwk) = generate(alg, "k1").unwrap();
            let signer = Signer::new(alg, "k1", &der).unwrap();
            let jwk: Jwk = serde_json::from_value(jwk).unwrap();
            let dk = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
            for typ in ["at+jwt", "JWT", "logout+jwt"] {
                let token = signer.sign(typ, &claims).unwrap();
                let mut h = Header::new(jwt_alg(alg));
                h.kid = Some("k1".into());
                h.typ = Some(typ.into());
                // RS256 (PKCS#1 v1.5) and EdDSA are deterministic: the very same bytes.
                if alg != SigningAlg::ES256 {
                    let enc = encoding_key(alg, &der).unwrap();
                    assert_eq!(token, jsonwebtoken::encode(&h, &claims, &enc).unwrap());
                }
                let header = jsonwebtoken::decode_header(&token).unwrap();
                assert_eq!(header.typ.as_deref(), Some(typ));
                assert_eq!(header.kid.as_deref(), Some("k1"));
                let mut v = jsonwebtoken::Validation::new(jwt_alg(alg));
                v.set_audience(&["a"]);
                let got = jsonwebtoken::decode::<Value>(&token, &dk, &v).unwrap();
                assert_eq!(got.claims, claims);
            }
        }
    }

    #[test]
    fn a_published_algorithm_signs_only_after_the_warmup() {
        let cipher = KeyCipher::new(&[7; 32]);
        let keys: Vec<SigningKey> = SigningAlg::ALL
            .into_iter()
            .flat_map(|alg| [KeyState::Current, KeyState::Next].map(move |st| (alg, st)))
            .map(|(alg, st)| new_record(alg, st, &cipher).unwrap())
            .collect();
        let since = chrono::DateTime::parse_from_rfc3339("2026-12-04T10:00:00.000Z")
            .unwrap()
            .timestamp_millis();
        let es256 = KeyPublication {
            alg: SigningAlg::ES256,
            published_since: "2026-12-04T10:00:00.000Z".into(),
            retire_after: None,
        };
        let in_use = HashSet::from([SigningAlg::ES256]);
        let ring =
            KeyRing::build_published(&keys, &cipher, std::slice::from_ref(&es256), &in_use, 120)
                .unwrap();
        // Published at once, with its next key; EdDSA (unused, no record) is not.
        assert_eq!(
            (
                kids(&ring, "RS256"),
                kids(&ring, "ES256"),
                kids(&ring, "EdDSA")
            ),
            (2, 2, 0)
        );
        // RS256 until the warm-up has passed, then ES256.
        let before = ring.effective(SigningAlg::ES256, since + 119_999);
        assert_eq!(before.alg, SigningAlg::RS256);
        assert_eq!(before.until.unwrap().timestamp_millis(), since + 120_000);
        let rsa_kid = &ring.signer(SigningAlg::RS256).unwrap().kid;
        assert_eq!(
            &ring.signer_for(SigningAlg::ES256, since).unwrap().kid,
            rsa_kid
        );
        let after = ring.effective(SigningAlg::ES256, since + 120_000);
        assert_eq!(
            after,
            EffectiveSigning {
                alg: SigningAlg::ES256,
                until: None
            }
        );
        assert_eq!(
            ring.signer_for(SigningAlg::ES256, since + 120_000)
                .unwrap()
                .kid,
            ring.signer(SigningAlg::ES256).unwrap().kid
        );
        // An algorithm without a record never signs, even if an API asks for it.
        assert_eq!(
            ring.effective(SigningAlg::EdDSA, i64::MAX).alg,
            SigningAlg::RS256
        );

        // Retiring: still published while no API uses it; retired: gone, and it never signs.
        let retiring = KeyPublication {
            retire_after: Some(crate::time::now() + 3600),
            ..es256.clone()
        };
        let ring =
            KeyRing::build_published(&keys, &cipher, &[retiring], &HashSet::new(), 0).unwrap();
        assert_eq!(kids(&ring, "ES256"), 2);
        let retired = KeyPublication {
            retire_after: Some(crate::time::now() - 1),
            ..es256
        };
        let ring =
            KeyRing::build_published(&keys, &cipher, &[retired], &HashSet::new(), 0).unwrap();
        assert_eq!(kids(&ring, "ES256"), 0);
        assert_eq!(
            ring.effective(SigningAlg::ES256, i64::MAX).alg,
            SigningAlg::RS256
        );
    }
}
