//! A jsonwebtoken crypto provider that parses each private key once.
//!
//! jsonwebtoken's aws-lc provider builds a fresh signer, parsing the PKCS#8/DER key, on every
//! `encode` (and, for RSA, on every signature). Token issuance is a hot path, so this provider
//! keeps the parsed aws-lc-rs key pairs in a small cache keyed by the key bytes and delegates
//! everything else (verification, JWK helpers) to jsonwebtoken's own aws-lc provider. The
//! signing itself is aws-lc-rs's; nothing cryptographic is implemented here.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, OnceLock, RwLock};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
};
use jsonwebtoken::crypto::{CryptoProvider, JwtSigner};
use jsonwebtoken::errors::{ErrorKind, Result};
use jsonwebtoken::signature::{Error as SigError, Signer};
use jsonwebtoken::{Algorithm, EncodingKey};

#[derive(Clone)]
enum Parsed {
    Rsa(Arc<RsaKeyPair>),
    Ec(Arc<EcdsaKeyPair>),
    Ed(Arc<Ed25519KeyPair>),
}

struct CachedSigner {
    alg: Algorithm,
    key: Parsed,
}

impl Signer<Vec<u8>> for CachedSigner {
    fn try_sign(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, SigError> {
        match &self.key {
            Parsed::Rsa(k) => {
                let mut sig = vec![0; k.public_modulus_len()];
                k.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), msg, &mut sig)
                    .map_err(SigError::from_source)?;
                Ok(sig)
            }
            Parsed::Ec(k) => Ok(k
                .sign(&SystemRandom::new(), msg)
                .map_err(SigError::from_source)?
                .as_ref()
                .to_vec()),
            Parsed::Ed(k) => Ok(k.sign(msg).as_ref().to_vec()),
        }
    }
}

impl JwtSigner for CachedSigner {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
}

type Cache = RwLock<HashMap<(Algorithm, Vec<u8>), Parsed>>;
static CACHE: LazyLock<Cache> = LazyLock::new(Default::default);

fn parse(alg: Algorithm, der: &[u8]) -> Result<Parsed> {
    Ok(match alg {
        Algorithm::RS256 => Parsed::Rsa(Arc::new(
            RsaKeyPair::from_der(der).map_err(|e| ErrorKind::InvalidRsaKey(e.to_string()))?,
        )),
        Algorithm::ES256 => Parsed::Ec(Arc::new(
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
                .map_err(|_| ErrorKind::InvalidEcdsaKey)?,
        )),
        Algorithm::EdDSA => Parsed::Ed(Arc::new(
            Ed25519KeyPair::from_pkcs8(der).map_err(|_| ErrorKind::InvalidEddsaKey)?,
        )),
        _ => return Err(ErrorKind::InvalidAlgorithm.into()),
    })
}

fn cached_signer_factory(alg: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>> {
    if !matches!(alg, Algorithm::RS256 | Algorithm::ES256 | Algorithm::EdDSA) {
        return (jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.signer_factory)(alg, key);
    }
    let k = (*alg, key.as_bytes().to_vec());
    if let Some(p) = CACHE.read().expect("signer cache").get(&k) {
        return Ok(Box::new(CachedSigner {
            alg: *alg,
            key: p.clone(),
        }));
    }
    let parsed = parse(*alg, key.as_bytes())?;
    CACHE
        .write()
        .expect("signer cache")
        .insert(k, parsed.clone());
    Ok(Box::new(CachedSigner {
        alg: *alg,
        key: parsed,
    }))
}

/// Installs the provider for this process (idempotent; first caller wins).
pub fn install() {
    static PROVIDER: OnceLock<&'static CryptoProvider> = OnceLock::new();
    let p = PROVIDER.get_or_init(|| {
        let base = &jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER;
        Box::leak(Box::new(CryptoProvider {
            signer_factory: cached_signer_factory,
            verifier_factory: base.verifier_factory,
            key_utils: base.key_utils.clone(),
        }))
    });
    let _ = p.install_default();
}

#[cfg(test)]
mod tests {
    use super::*;
    use writ_core::SigningAlg;

    #[test]
    fn cached_signatures_verify() {
        install();
        for alg in SigningAlg::ALL {
            let (der, jwk) = crate::signing_keys::generate(alg, "k1").unwrap();
            let enc = crate::signing_keys::encoding_key(alg, &der).unwrap();
            let mut h = jsonwebtoken::Header::new(crate::signing_keys::jwt_alg(alg));
            h.kid = Some("k1".into());
            let claims =
                serde_json::json!({"sub": "s", "exp": 4_000_000_000u64, "iss": "i", "aud": "a"});
            for _ in 0..2 {
                let t = jsonwebtoken::encode(&h, &claims, &enc).unwrap();
                let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk.clone()).unwrap();
                let dk = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
                let mut v = jsonwebtoken::Validation::new(crate::signing_keys::jwt_alg(alg));
                v.set_audience(&["a"]);
                jsonwebtoken::decode::<serde_json::Value>(&t, &dk, &v).unwrap();
            }
        }
    }
}
