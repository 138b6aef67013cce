//! Secrets and hashes: argon2id passwords (off the async runtime, bounded concurrency),
//! 256-bit client secrets stored as SHA-256, constant-time comparison, random identifiers, and
//! AES-256-GCM for signing keys at rest. All primitives come from vetted crates.
//!
//! Passwords imported from other systems (bcrypt, PBKDF2, salted digests, HMAC, LDAP; see
//! [`imported`]) are stored wrapped in argon2id and verify through the same pool, and
//! [`needs_rehash`] tells the login paths to replace them with plain argon2id once the password
//! is known.
//!
//! Every password check costs exactly one argon2id verification at Writ's parameters, whatever
//! is stored: a plain argon2id hash is verified; a wrapped form computes its legacy hash, then
//! verifies that; an unknown email, or a bare legacy form stored before wrapping existed,
//! verifies a dummy hash (and then the bare form). [`PasswordHasherPool::argon2_verifications`]
//! counts them.

pub mod imported;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use argon2::password_hash::PasswordHasher;
use argon2::password_hash::phc::{Output, PasswordHash};
use argon2::{Algorithm, Block, Params, Version};
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use rand::{Rng, RngCore};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

/// Random URL-safe string with `bytes` bytes of entropy.
pub fn random_token(bytes: usize) -> String {
    let mut small = [0u8; 32];
    let mut large = Vec::new();
    let b = if bytes <= small.len() {
        &mut small[..bytes]
    } else {
        large.resize(bytes, 0);
        &mut large[..]
    };
    rand::rng().fill_bytes(b);
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
        s.push(hex_digit(b >> 4));
        s.push(hex_digit(b & 0xf));
    }
    s
}

/// The lowercase hex digit of `n` (0..=15), without a branch or a table lookup on the digest
/// of a secret (the client-secret check hashes the presented secret with it).
fn hex_digit(n: u8) -> char {
    // 0..=9 -> '0'..='9'; 10..=15 -> 'a'..='f': add 39 ('a' - '0' - 10) when n > 9.
    let above_nine = 9u8.wrapping_sub(n) >> 7; // 1 when n > 9, else 0
    char::from(b'0' + n + above_nine * 39)
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

/// Argon2 working memory kept between verifications while logins keep coming: one block array
/// (about 19 MiB at Writ's parameters) for each verification that may run at once, so that
/// under load a login does not allocate, zero and page-fault its 19 MiB anew (that cost a
/// fifth of the login rate). Argon2 writes every block before it reads it, so a reused array
/// needs no clearing. When the last running verification ends, the kept arrays are freed: an
/// idle server holds none. Arrays of other sizes (an imported argon2 hash at other parameters)
/// are allocated for the one verification.
struct Scratch {
    state: Mutex<Kept>,
    /// How many arrays are kept at most: the pool's concurrency.
    keep: usize,
    /// The block count at Writ's parameters: the only size kept.
    blocks: usize,
}

/// The arrays kept, and how many verifications hold one now.
#[derive(Default)]
struct Kept {
    free: Vec<Vec<Block>>,
    running: usize,
}

/// One verification's array, handed back to its [`Scratch`] when dropped.
struct Lease<'a> {
    scratch: &'a Scratch,
    memory: Vec<Block>,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        self.scratch.give(std::mem::take(&mut self.memory));
    }
}

impl Scratch {
    fn new(keep: usize) -> Self {
        Scratch {
            state: Mutex::default(),
            keep,
            blocks: Params::default().block_count(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An array of `blocks` blocks for a verification: a kept one when there is one of that
    /// size. It goes back when the lease is dropped, even by a panic, so the count of running
    /// verifications cannot drift.
    fn take(&self, blocks: usize) -> Lease<'_> {
        let kept = {
            let mut k = self.lock();
            k.running += 1;
            if blocks == self.blocks {
                k.free.pop()
            } else {
                None
            }
        };
        Lease {
            scratch: self,
            memory: kept.unwrap_or_else(|| vec![Block::default(); blocks]),
        }
    }

    /// Takes an array back at the end of a verification (a [`Lease`] dropped): kept when
    /// others are running, it is of Writ's size and fewer than `keep` are kept; when none is
    /// running, every kept array is freed (outside the lock).
    fn give(&self, memory: Vec<Block>) {
        let freed = {
            let mut k = self.lock();
            k.running = k.running.saturating_sub(1);
            if k.running == 0 {
                std::mem::take(&mut k.free)
            } else {
                if memory.len() == self.blocks && k.free.len() < self.keep {
                    k.free.push(memory);
                    return;
                }
                Vec::new()
            }
        };
        drop((freed, memory));
    }

    /// Verifies `password` against the argon2 PHC string `phc` at the parameters it names (as
    /// the argon2 crate's `verify_password` does, with the comparison in constant time by its
    /// `Output`), in kept memory.
    fn verify(&self, password: &[u8], phc: &str) -> bool {
        let Ok(hash) = PasswordHash::new(phc) else {
            return false;
        };
        let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
            return false;
        };
        let (Ok(algorithm), Ok(version), Ok(params)) = (
            Algorithm::try_from(hash.algorithm.as_str()),
            hash.version
                .map_or(Ok(Version::default()), Version::try_from),
            Params::try_from(&hash),
        ) else {
            return false;
        };
        let mut out = [0u8; Output::MAX_LENGTH];
        let Some(out) = out.get_mut(..expected.len()) else {
            return false;
        };
        let mut lease = self.take(params.block_count());
        let computed = argon2::Argon2::new(algorithm, version, params)
            .hash_password_into_with_memory(password, salt.as_ref(), out, &mut lease.memory[..]);
        drop(lease);
        computed.is_ok() && Output::new(out).is_ok_and(|o| o == *expected)
    }
}

/// Argon2id hashing with OWASP's parameters, at most `n` at once, on blocking threads.
#[derive(Clone)]
pub struct PasswordHasherPool {
    permits: Arc<Semaphore>,
    /// The working memory of the verifications (see [`Scratch`]).
    scratch: Arc<Scratch>,
    /// A real hash of a random password, verified when the user does not exist so that
    /// response time does not reveal whether an email is registered.
    dummy: Arc<String>,
    /// Argon2id verifications at Writ's parameters so far (dummy ones included).
    verifications: Arc<AtomicU64>,
}

fn argon() -> argon2::Argon2<'static> {
    argon2::Argon2::default()
}

/// The start of every argon2id hash at Writ's current parameters.
static CURRENT_PREFIX: LazyLock<String> = LazyLock::new(|| {
    let p = argon2::Params::default();
    format!(
        "$argon2id$v=19$m={},t={},p={}$",
        p.m_cost(),
        p.t_cost(),
        p.p_cost()
    )
});

/// Whether `stored` is an argon2id hash at Writ's current parameters.
pub fn is_current(stored: &str) -> bool {
    stored.starts_with(CURRENT_PREFIX.as_str())
}

/// What a password check does for a stored form.
enum Check {
    /// No usable hash (unknown email, no password, unreadable value): the dummy, then fail.
    Nothing,
    /// Writ's own argon2id.
    Current(String),
    /// Legacy hash of the password from the descriptor, then argon2id of that.
    Wrapped(String, String),
    /// A bare form stored before wrapping (or argon2 at other parameters): the dummy, then it.
    Bare(String),
}

impl Check {
    fn of(stored: Option<&str>) -> Self {
        match stored {
            None => Check::Nothing,
            Some(s) if is_current(s) => Check::Current(s.to_owned()),
            Some(s) if imported::is_wrapped(s) => match imported::wrapped_parts(s) {
                Some((d, phc)) => Check::Wrapped(d, phc.to_owned()),
                None => Check::Nothing,
            },
            Some(s) if imported::is_imported_form(s) || s.starts_with("$argon2") => {
                Check::Bare(s.to_owned())
            }
            Some(_) => Check::Nothing,
        }
    }
}

impl PasswordHasherPool {
    pub fn new(n: usize) -> Self {
        let dummy = argon()
            .hash_password(random_token(16).as_bytes())
            .expect("argon2 hash")
            .to_string();
        Self {
            permits: Arc::new(Semaphore::new(n.max(1))),
            scratch: Arc::new(Scratch::new(n.max(1))),
            dummy: Arc::new(dummy),
            verifications: Arc::default(),
        }
    }

    /// How many argon2id verifications at Writ's parameters this pool has run: one per
    /// password check, whatever the stored form (for tests and metrics).
    pub fn argon2_verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }

    /// A place on the blocking pool, under the pool's concurrency bound.
    async fn permit(&self) -> tokio::sync::SemaphorePermit<'_> {
        self.permits
            .acquire()
            .await
            .expect("semaphore never closed")
    }

    /// Hashes a password to a PHC string.
    pub async fn hash(&self, password: &str) -> Result<String, argon2::password_hash::Error> {
        let _permit = self.permit().await;
        let pw = password.to_owned();
        tokio::task::spawn_blocking(move || {
            argon().hash_password(pw.as_bytes()).map(|h| h.to_string())
        })
        .await
        .expect("hashing task panicked")
    }

    /// Verifies a password against a stored hash: Writ's argon2id, a wrapped imported form, or
    /// a bare one ([`imported`]: bcrypt, PBKDF2, `$writ-…`, argon2 at other parameters). With
    /// `None` (or an unreadable value), verifies the dummy hash and fails. Every case runs
    /// exactly one argon2id verification at Writ's parameters, on the blocking pool under the
    /// same concurrency bound, so response times do not tell the cases apart.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> bool {
        let _permit = self.permit().await;
        let pw = password.to_owned();
        let check = Check::of(stored);
        let dummy = self.dummy.clone();
        let counter = self.verifications.clone();
        let scratch = self.scratch.clone();
        tokio::task::spawn_blocking(move || {
            let argon2_verify = |input: &[u8], phc: &str| {
                counter.fetch_add(1, Ordering::Relaxed);
                scratch.verify(input, phc)
            };
            match check {
                Check::Nothing => {
                    let _ = argon2_verify(pw.as_bytes(), &dummy);
                    false
                }
                Check::Current(phc) => argon2_verify(pw.as_bytes(), &phc),
                Check::Wrapped(descriptor, phc) => match imported::derive(&descriptor, &pw) {
                    Some(legacy) => argon2_verify(&legacy, &phc),
                    None => {
                        let _ = argon2_verify(pw.as_bytes(), &dummy);
                        false
                    }
                },
                Check::Bare(stored) => {
                    let _ = argon2_verify(pw.as_bytes(), &dummy);
                    if stored.starts_with("$argon2") {
                        scratch.verify(pw.as_bytes(), &stored)
                    } else {
                        imported::verify(&pw, &stored)
                    }
                }
            }
        })
        .await
        .unwrap_or(false)
    }

    /// The form the users import stores for an imported hash: Writ's argon2id as is, anything
    /// else [`imported`] verifies wrapped in argon2id (one argon2id hash, on the pool).
    /// `None` for a value that is not an importable hash.
    pub async fn wrap_imported(&self, stored: &str) -> Option<String> {
        if is_current(stored) {
            return Some(stored.to_owned());
        }
        let (descriptor, hash) = imported::split_for_wrap(stored)?;
        let _permit = self.permit().await;
        let phc = tokio::task::spawn_blocking(move || {
            argon().hash_password(&hash).map(|h| h.to_string())
        })
        .await
        .ok()?
        .ok()?;
        Some(imported::wrapped(&descriptor, &phc))
    }

    /// Whether `stored` already holds the imported hash `legacy` (the same string, or `legacy`
    /// wrapped), so that importing it again changes nothing. Costs one argon2id verification
    /// when `stored` is wrapped with the same parameters.
    pub async fn holds_imported(&self, stored: &str, legacy: &str) -> bool {
        if stored == legacy {
            return true;
        }
        let (Some((descriptor, phc)), Some((new_descriptor, hash))) = (
            imported::wrapped_parts(stored),
            imported::split_for_wrap(legacy),
        ) else {
            return false;
        };
        if descriptor != new_descriptor {
            return false;
        }
        let _permit = self.permit().await;
        let phc = phc.to_owned();
        let counter = self.verifications.clone();
        let scratch = self.scratch.clone();
        tokio::task::spawn_blocking(move || {
            counter.fetch_add(1, Ordering::Relaxed);
            scratch.verify(&hash, &phc)
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
        // Only if the stored hash is still the one verified: an admin's password change or
        // block made meanwhile is never undone, and a re-hash is not a password change (no
        // session ends, no authz version moves).
        let Some(old) = stored else { return };
        match store.rehash_password(&user.user_id, old, &hash).await {
            Ok(true) => {
                tracing::info!(user_id = %user.user_id, "imported password hash upgraded to argon2id")
            }
            Ok(false) => {
                tracing::info!(user_id = %user.user_id, "password changed meanwhile; re-hash skipped")
            }
            Err(e) => {
                tracing::warn!(error = %e, user_id = %user.user_id, "password re-hash not stored")
            }
        }
    }
}

/// Whether a stored password hash should be replaced by argon2id after the next successful
/// login: every form but argon2id at Writ's parameters (imported bcrypt, PBKDF2, digests,
/// wrapped or not, and argon2 at other parameters).
pub fn needs_rehash(stored: &str) -> bool {
    !is_current(stored)
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
    fn sha256_hex_is_lowercase_hex_of_the_digest() {
        // FIPS 180-2 test vector.
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let digits: String = (0..16).map(hex_digit).collect();
        assert_eq!(digits, "0123456789abcdef");
        assert_eq!(random_token(48).len(), 64);
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

    /// Verification in kept memory answers as the argon2 crate's own `verify_password` does,
    /// whatever the memory held before (the previous verification's blocks, or a wrong
    /// password's), for argon2id at Writ's parameters and argon2 at others; arrays are kept
    /// only while verifications overlap, at most the bound of them, all of Writ's size.
    #[test]
    fn scratch_memory_verifies_like_the_crate_and_stays_bounded() {
        use argon2::password_hash::PasswordVerifier;
        let scratch = Scratch::new(2);
        // Another verification running throughout: what a verification gives back is kept,
        // and the next one reuses it.
        let running = scratch.take(scratch.blocks);
        let ours = argon().hash_password(b"correct horse").unwrap().to_string();
        let other_params = argon2::Argon2::new(
            Algorithm::Argon2i,
            Version::V0x10,
            Params::new(4096, 3, 2, Some(24)).unwrap(),
        )
        .hash_password(b"battery staple")
        .unwrap()
        .to_string();
        for _ in 0..3 {
            for (phc, pw) in [(&ours, "correct horse"), (&other_params, "battery staple")] {
                let crate_says = |p: &str| {
                    argon()
                        .verify_password(p.as_bytes(), &PasswordHash::new(phc).unwrap())
                        .is_ok()
                };
                assert!(crate_says(pw));
                assert!(scratch.verify(pw.as_bytes(), phc), "{phc}");
                assert!(!crate_says("wrong"));
                assert!(!scratch.verify(b"wrong", phc), "{phc}");
            }
        }
        // Truncated, foreign or malformed strings fail without a panic.
        for bad in [
            &ours[..ours.len() - 4],
            "$argon2id$v=19$m=19456,t=2,p=1$",
            "$scrypt$x",
            "",
        ] {
            assert!(!scratch.verify(b"correct horse", bad), "{bad}");
        }
        {
            let k = scratch.lock();
            assert_eq!(
                (k.free.len(), k.running),
                (1, 1),
                "one array reused throughout"
            );
            assert!(k.free.iter().all(|m| m.len() == scratch.blocks));
        }
        let reused = scratch.lock().free[0].as_ptr();
        let again = scratch.take(scratch.blocks);
        assert_eq!(
            again.memory.as_ptr(),
            reused,
            "the kept array is handed out again"
        );
        let more: Vec<_> = (0..4).map(|_| scratch.take(scratch.blocks)).collect();
        drop(more);
        assert_eq!(scratch.lock().free.len(), 2, "at most the bound is kept");
        // A verification that panics still hands its lease back.
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _lease = scratch.take(scratch.blocks);
            panic!("in the middle of a verification");
        }));
        assert!(panicked.is_err());
        assert_eq!(scratch.lock().running, 2);
        drop(again);
        drop(running);
        let k = scratch.lock();
        assert_eq!(
            (k.free.len(), k.running),
            (0, 0),
            "an idle pool keeps nothing"
        );
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

    /// One stored form per supported legacy algorithm, with its password (the vectors of
    /// `imported`'s tests).
    fn legacy_forms() -> Vec<(&'static str, String, &'static str)> {
        use serde_json::json;
        let custom = |v: serde_json::Value| {
            imported::from_auth0(&serde_json::from_value(v).unwrap()).unwrap()
        };
        let argon2i = {
            let params = argon2::Params::new(8192, 1, 1, None).unwrap();
            argon2::Argon2::new(argon2::Algorithm::Argon2i, argon2::Version::V0x13, params)
                .hash_password(b"hello")
                .unwrap()
                .to_string()
        };
        let weak_argon2id = {
            let params = argon2::Params::new(8192, 1, 1, None).unwrap();
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
                .hash_password(b"hello")
                .unwrap()
                .to_string()
        };
        vec![
            ("bcrypt", "$2b$10$nFguVi9LsCAcvTZFKQlRKeLVydo8ETv483lkNsSFI/Wl1Rz1Ypo1K".into(), "hello"),
            ("bcrypt $2y$ cost 4", bcrypt::hash("hello", 4).unwrap().replacen("$2b$", "$2y$", 1), "hello"),
            ("pbkdf2-sha1", "$pbkdf2-sha1$i=4096,l=20$c2FsdA$SwB5AbdlSJq+rUnZJvch0GWkKcE".into(), "password"),
            ("pbkdf2-sha256", "$pbkdf2-sha256$i=1000,l=32$TmFDbC1zYWx0LTEyMw$ua8Y0lZXyvXdWdEFG4AkWWcXpXgxWp9bD1eFos0o4L4".into(), "correct horse"),
            ("pbkdf2-sha512", "$pbkdf2-sha512$i=1000,l=64$TmFDbC1zYWx0LTEyMw$q/Of3ssYdHni1lWIbe6N7BnNYVRx2Xd8iioJG+kHffh993Uxc9nK363n6Qg+cOM63qOZFNTqoJlocTnCEUJ8tA".into(), "correct horse"),
            ("sha256", custom(json!({"algorithm": "sha256", "hash": {"value": "9972B132A172BE00B57558C5C49AE78854F53D86CC03B0AED888A853E65A3D17", "encoding": "hex"}, "salt": {"value": "abc123", "position": "prefix"}})), "hello"),
            ("md5", custom(json!({"algorithm": "md5", "hash": {"value": "6967321c83e9f01a33e7edecce748877", "encoding": "hex"}, "salt": {"value": "pepper", "position": "suffix"}})), "hello"),
            ("sha1", custom(json!({"algorithm": "sha1", "hash": {"value": "1185488f80ad48c193c1564872c84ae2d03ad2bb", "encoding": "hex"}, "salt": {"value": "abc123", "position": "prefix"}})), "hello"),
            ("sha512", custom(json!({"algorithm": "sha512", "hash": {"value": "JdyaV3UHB5dsZSJfv2JOCvCVvkSHGSFugaluBleicEV7UgO1w7w/kWlcKGGIRVk5l2GdFu+jDFOL/56E7L/ieQ==", "encoding": "base64"}, "salt": {"value": "a1b2c3", "encoding": "hex", "position": "suffix"}})), "hello"),
            ("md4", custom(json!({"algorithm": "md4", "hash": {"value": "a448017aaf21d8525fc10ae87aa6729d", "encoding": "hex"}})), "abc"),
            ("sha256 utf16le", custom(json!({"algorithm": "sha256", "hash": {"value": "7f72dcf08ef92c0582b018a06d8a1bebf1e5098b5c72c8ad53db57def1bf8bdb", "encoding": "hex"}, "password": {"encoding": "utf16le"}})), "héllo"),
            ("hmac", custom(json!({"algorithm": "hmac", "hash": {"value": "98e7ffb964bb5a3f902db1fc101a5baa98b6f2cd56858210c9d70f26ac762fc7", "encoding": "hex", "digest": "sha256", "key": {"value": "secret-key"}}})), "hello"),
            ("ldap", custom(json!({"algorithm": "ldap", "hash": {"value": "{SSHA}grxCdHfw6tJZU1HC60FmsOqn6vpzNGx0", "encoding": "utf8"}})), "hello"),
            ("argon2i", argon2i, "hello"),
            ("argon2id, other parameters", weak_argon2id, "hello"),
        ]
    }

    /// Every legacy form wraps; the wrapped form verifies the right password only, with one
    /// argon2id verification, and keeps nothing of the legacy hash.
    #[tokio::test]
    async fn wrapped_legacy_forms_verify_with_one_argon2_each() {
        let p = PasswordHasherPool::new(2);
        for (name, legacy, pw) in legacy_forms() {
            assert!(
                p.verify(pw, Some(&legacy)).await,
                "{name}: bare form verifies"
            );
            let wrapped = p.wrap_imported(&legacy).await.expect(name);
            assert!(wrapped.starts_with("$writ-wrap$"), "{name}: {wrapped}");
            assert!(
                wrapped.contains("$argon2id$v=19$m=19456,t=2,p=1$"),
                "{name}"
            );
            let (descriptor, _) = imported::wrapped_parts(&wrapped).unwrap();
            let hash_part = legacy.rsplit('$').next().unwrap();
            assert!(!descriptor.contains(hash_part), "{name}: {descriptor}");
            assert!(!wrapped.contains(hash_part), "{name}");
            assert!(needs_rehash(&wrapped), "{name}");
            for (candidate, expected) in [(pw, true), ("wrong password", false)] {
                let before = p.argon2_verifications();
                assert_eq!(
                    p.verify(candidate, Some(&wrapped)).await,
                    expected,
                    "{name}"
                );
                assert_eq!(p.argon2_verifications() - before, 1, "{name}");
            }
            // Importing the same hash again is recognised; another one is not.
            assert!(p.holds_imported(&wrapped, &legacy).await, "{name}");
            let other = p.wrap_imported(&legacy).await.unwrap();
            assert_ne!(other, wrapped, "a fresh argon2 salt each time");
            assert!(
                !p.holds_imported(
                    &wrapped,
                    "$pbkdf2-sha1$i=4096,l=20$c2FsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAA"
                )
                .await
            );
        }
        // Writ's own argon2id is stored as it is.
        let h = p.hash("correct horse").await.unwrap();
        assert_eq!(p.wrap_imported(&h).await.as_deref(), Some(h.as_str()));
        assert!(p.wrap_imported("not a hash").await.is_none());
    }

    /// Every stored form, bare legacy and unknown users included, costs exactly one argon2id
    /// verification at Writ's parameters.
    #[tokio::test]
    async fn every_stored_form_costs_one_argon2_verification() {
        let p = PasswordHasherPool::new(2);
        let current = p.hash("hello").await.unwrap();
        let mut stored: Vec<Option<String>> = legacy_forms()
            .into_iter()
            .map(|(_, s, _)| Some(s))
            .collect();
        stored.push(Some(current));
        stored.push(None);
        stored.push(Some("garbage".into()));
        stored.push(Some("$writ-wrap$!!!$argon2id$".into()));
        stored.push(Some(
            "$writ-wrap$JDJiJDEw$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA".into(),
        ));
        for s in &stored {
            for pw in ["hello", "wrong"] {
                let before = p.argon2_verifications();
                p.verify(pw, s.as_deref()).await;
                assert_eq!(p.argon2_verifications() - before, 1, "{s:?}");
            }
        }
    }
}
