//! Secrets and hashes: argon2id passwords (off the async runtime, bounded concurrency),
//! 256-bit client secrets stored as SHA-256, constant-time comparison, random identifiers, and
//! AES-256-GCM for signing keys at rest. All primitives come from vetted crates.
//!
//! Passwords imported from other systems (bcrypt, PBKDF2, salted digests, HMAC, LDAP; see
//! [`imported`]) verify through the same pool, and [`needs_rehash`] tells the login paths to
//! replace them with argon2id once the password is known.

pub mod imported;

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

    /// Verifies a password against a stored hash: argon2 (PHC string), or one of the
    /// [`imported`] forms (bcrypt, PBKDF2, `$writ-…`). With `None`, burns the same time and
    /// fails. Every form runs on the blocking pool under the same concurrency bound; the fast
    /// imported forms also run one argon2 verification, so response times stay uniform.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> bool {
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("semaphore never closed");
        let pw = password.to_owned();
        let (stored, real) = match stored {
            Some(p) => (p.to_owned(), true),
            None => ((*self.dummy).clone(), false),
        };
        let dummy = self.dummy.clone();
        tokio::task::spawn_blocking(move || {
            let argon2_verify = |phc: &str| {
                PasswordHash::new(phc)
                    .map(|h| argon().verify_password(pw.as_bytes(), &h).is_ok())
                    .unwrap_or(false)
            };
            let ok = if imported::is_imported_form(&stored) {
                if imported::is_fast(&stored) {
                    let _ = argon2_verify(&dummy);
                }
                imported::verify(&pw, &stored)
            } else {
                argon2_verify(&stored)
            };
            ok && real
        })
        .await
        .unwrap_or(false)
    }

    /// After a successful login whose stored hash [`needs_rehash`], hashes the password with
    /// argon2id and stores it. Failures are logged: the login itself has succeeded.
    pub async fn upgrade_if_needed(
        &self,
        store: &dyn writ_store::Store,
        user: &writ_core::User,
        password: &str,
        stored: Option<&str>,
    ) {
        if !stored.is_some_and(needs_rehash) {
            return;
        }
        let hash = match self.hash(password).await {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(error = %e, user_id = %user.user_id, "password re-hash failed");
                return;
            }
        };
        // Re-read the user so the update writes back the latest profile, not the one read
        // before the (slow) verification.
        let result = match store.get_user(&user.user_id).await {
            Ok(fresh) => store.update_user(&fresh, Some(&hash)).await.map(|_| ()),
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => {
                tracing::info!(user_id = %user.user_id, "imported password hash upgraded to argon2id")
            }
            Err(e) => {
                tracing::warn!(error = %e, user_id = %user.user_id, "password re-hash not stored")
            }
        }
    }
}

/// Whether a stored password hash should be replaced by argon2id after the next successful
/// login: every form but argon2id (imported bcrypt, PBKDF2, digests, argon2i/argon2d).
pub fn needs_rehash(stored: &str) -> bool {
    !stored.starts_with("$argon2id$")
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
        assert!(!needs_rehash(&h));
    }

    /// Each imported form verifies through the pool and is marked for re-hashing.
    #[tokio::test]
    async fn imported_hashes_verify_through_the_pool() {
        let p = PasswordHasherPool::new(1);
        for stored in [
            // Auth0's documented bcrypt example for "hello".
            "$2b$10$nFguVi9LsCAcvTZFKQlRKeLVydo8ETv483lkNsSFI/Wl1Rz1Ypo1K",
            "$pbkdf2-sha1$i=4096,l=20$c2FsdA$SwB5AbdlSJq+rUnZJvch0GWkKcE",
            "$writ-sha256$pos=prefix$YWJjMTIz$mXKxMqFyvgC1dVjFxJrniFT1PYbMA7Cu2IioU+ZaPRc",
        ] {
            let pw = if stored.starts_with("$pbkdf2") {
                "password"
            } else {
                "hello"
            };
            assert!(p.verify(pw, Some(stored)).await, "{stored}");
            assert!(!p.verify("wrong", Some(stored)).await, "{stored}");
            assert!(needs_rehash(stored));
        }
        assert!(needs_rehash(
            "$argon2i$v=19$m=8192,t=1,p=1$c2FsdHNhbHQ$aGFzaA"
        ));
        assert!(!p.verify("hello", Some("not a hash")).await);
    }
}
