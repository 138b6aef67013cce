//! Secrets and hashes: argon2id passwords (off the async runtime, bounded concurrency),
//! 256-bit client secrets stored as SHA-256, constant-time comparison, random identifiers, and
//! AES-256-GCM for signing keys at rest. All primitives come from vetted crates.

use std::sync::Arc;

use argon2::password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash};
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use rand::{Rng, RngCore};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

/// Random URL-safe string with `bytes` bytes of entropy.
pub fn random_token(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut b);
    B64.encode(b)
}

/// Random alphanumeric string (client ids).
pub fn random_alnum(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| rng.sample(rand::distr::Alphanumeric) as char)
        .collect()
}

/// Hex SHA-256 of a high-entropy secret (client secrets, refresh tokens).
pub fn sha256_hex(secret: &str) -> String {
    let d = Sha256::digest(secret.as_bytes());
    let mut s = String::with_capacity(64);
    for b in d {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Constant-time check of a presented secret against a stored SHA-256 hex digest.
pub fn secret_matches(presented: &str, stored_hash: &str) -> bool {
    sha256_hex(presented)
        .as_bytes()
        .ct_eq(stored_hash.as_bytes())
        .into()
}

pub(crate) fn decode_kek(s: &str) -> Option<[u8; 32]> {
    B64.decode(s.trim()).ok()?.try_into().ok()
}

/// Encrypts signing keys at rest: `nonce || ciphertext+tag`, bound to the key id.
#[derive(Clone)]
pub struct KeyCipher {
    key: Arc<LessSafeKey>,
}

impl KeyCipher {
    pub fn new(kek: &[u8; 32]) -> Self {
        let k = UnboundKey::new(&AES_256_GCM, kek).expect("32-byte AES-256 key");
        Self {
            key: Arc::new(LessSafeKey::new(k)),
        }
    }

    pub fn seal(&self, kid: &str, plain: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        let mut buf = plain.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(kid.as_bytes()),
                &mut buf,
            )
            .expect("AES-GCM seal cannot fail for small inputs");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        out
    }

    pub fn open(&self, kid: &str, sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < 12 + 16 {
            return None;
        }
        let (nonce, ct) = sealed.split_at(12);
        let mut buf = ct.to_vec();
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(kid.as_bytes()), &mut buf)
            .ok()?;
        Some(plain.to_vec())
    }
}

/// Argon2id hashing with OWASP's parameters, at most `n` at once, on blocking threads.
#[derive(Clone)]
pub struct PasswordHasherPool {
    permits: Arc<Semaphore>,
    /// A real hash of a random password, verified when the user does not exist so that
    /// response time does not reveal whether an email is registered.
    dummy: Arc<String>,
}

fn argon() -> argon2::Argon2<'static> {
    argon2::Argon2::default()
}

impl PasswordHasherPool {
    pub fn new(n: usize) -> Self {
        let dummy = argon()
            .hash_password(random_token(16).as_bytes())
            .expect("argon2 hash")
            .to_string();
        Self {
            permits: Arc::new(Semaphore::new(n.max(1))),
            dummy: Arc::new(dummy),
        }
    }

    /// Hashes a password to a PHC string.
    pub async fn hash(&self, password: &str) -> Result<String, argon2::password_hash::Error> {
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("semaphore never closed");
        let pw = password.to_owned();
        tokio::task::spawn_blocking(move || {
            argon().hash_password(pw.as_bytes()).map(|h| h.to_string())
        })
        .await
        .expect("hashing task panicked")
    }

    /// Verifies a password against a PHC string; with `None`, burns the same time and fails.
    pub async fn verify(&self, password: &str, phc: Option<&str>) -> bool {
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("semaphore never closed");
        let pw = password.to_owned();
        let (phc, real) = match phc {
            Some(p) => (p.to_owned(), true),
            None => ((*self.dummy).clone(), false),
        };
        tokio::task::spawn_blocking(move || {
            let ok = PasswordHash::new(&phc)
                .map(|h| argon().verify_password(pw.as_bytes(), &h).is_ok())
                .unwrap_or(false);
            ok && real
        })
        .await
        .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_by_hash() {
        let s = random_token(32);
        assert_eq!(s.len(), 43);
        let h = sha256_hex(&s);
        assert!(secret_matches(&s, &h));
        assert!(!secret_matches("other", &h));
    }

    #[test]
    fn cipher_round_trip_bound_to_kid() {
        let c = KeyCipher::new(&[7u8; 32]);
        let sealed = c.seal("kid1", b"private");
        assert_eq!(c.open("kid1", &sealed).unwrap(), b"private");
        assert!(c.open("kid2", &sealed).is_none());
        assert!(KeyCipher::new(&[8u8; 32]).open("kid1", &sealed).is_none());
    }

    #[tokio::test]
    async fn passwords() {
        let p = PasswordHasherPool::new(1);
        let h = p.hash("correct horse").await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(p.verify("correct horse", Some(&h)).await);
        assert!(!p.verify("wrong", Some(&h)).await);
        assert!(!p.verify("correct horse", None).await);
    }
}
