//! Password hashes imported from other systems, so that migrated users keep their passwords.
//!
//! Auth0's bulk-import format describes a user's hash either as a bcrypt string
//! (`password_hash`) or as a `custom_password_hash` object naming an algorithm, encodings,
//! a salt and its position, an HMAC key, and the password's encoding. [`from_auth0`] checks
//! such a description and turns it into one **self-describing string**, and [`verify`] checks
//! a password against that string. The import job stores it wrapped in argon2id (see *Wrapped
//! forms* below) in the user's `password_hash` column. After the first successful login, the
//! server replaces it with a plain argon2id hash (see [`super::needs_rehash`]).
//!
//! # Self-describing forms
//!
//! | imported as | stored as |
//! |---|---|
//! | bcrypt | the bcrypt string itself: `$2a$…`, `$2b$…` or `$2y$…` |
//! | argon2 | the PHC string itself: `$argon2id$…`, `$argon2i$…`, `$argon2d$…` |
//! | pbkdf2 | a PHC string with explicit parameters: `$pbkdf2-<digest>$i=<iterations>,l=<length>$<salt>$<hash>` |
//! | md4, md5, sha1, sha256, sha512, ldap | `$writ-<digest>$pos=<prefix\|suffix\|none>[,pw=<enc>]$<salt>$<hash>` |
//! | hmac | `$writ-hmac-<digest>$k=<key>,pos=<prefix\|suffix\|none>[,pw=<enc>]$<salt>$<mac>` |
//!
//! In the `$writ-…` forms (Writ's own), `<digest>` is one of `md4`, `md5`, `sha1`, `sha224`,
//! `sha256`, `sha384`, `sha512`; salt, key and hash are standard base64 without padding (the
//! PHC "B64" encoding), the salt empty when `pos=none`. `pos` says where the salt went:
//! `prefix` hashes `salt ‖ password`, `suffix` hashes `password ‖ salt`. `pw` is the byte
//! encoding the original system hashed the password in, as Auth0 names them: `utf16le`
//! (UTF-16 little-endian) or `latin1` (each UTF-16 code unit's low byte, as Node.js does for
//! `latin1`, `binary` and `ascii`); absent means UTF-8. LDAP's RFC 2307 values
//! (`{SSHA}…`) are stored in this form too: a salted LDAP scheme is the digest of
//! `password ‖ salt`.
//!
//! Every primitive comes from a RustCrypto or bcrypt crate, and every comparison is
//! constant-time ([`subtle`]). Work factors are bounded at import time (bcrypt cost ≤ 16,
//! PBKDF2 ≤ 10,000,000 iterations, argon2 ≤ 256 MiB and t ≤ 20), since verification runs on
//! the login path.
//!
//! # Wrapped forms: what the import job stores
//!
//! The forms above verify in very different times (a salted SHA-256 in a microsecond, PBKDF2
//! with 1,000 iterations in under one millisecond, argon2id at Writ's parameters in ~20 ms), so
//! a login's response time would tell whether an email belongs to an imported user. The users
//! import therefore stores each of them **wrapped** in argon2id, at Writ's parameters:
//!
//! ```text
//! $writ-wrap$<descriptor, base64 without padding>$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>
//! ```
//!
//! The descriptor is the form above with its hash zeroed (same length): the algorithm and its
//! parameters (salt, iterations, key, encodings), and nothing that verifies a password. The
//! argon2id part hashes the original hash bytes — for bcrypt the 31 characters of its hash
//! part. A password is checked by computing the legacy hash of it from the descriptor
//! ([`derive`]) and verifying that with argon2id: every stored form costs one argon2id
//! verification (plus the legacy algorithm's own cost, negligible for the cheap forms), like
//! an unknown email, and a stolen database no longer holds the fast-to-crack legacy hash.
//! `$writ-wrap$` is Writ's own prefix, distinct from every other form here. The first
//! successful login replaces it with a plain argon2id hash, as for every imported form.
//!
//! Forms stored before wrapping existed (bare) keep verifying: the hasher then runs one
//! argon2id verification of a dummy hash besides them, for the same cost.

use base64::Engine;
use base64::alphabet;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use hmac::{KeyInit, Mac};
use serde::Deserialize;
use subtle::ConstantTimeEq;

/// Why a hash description cannot be imported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportHashError {
    /// An algorithm or option Writ cannot verify (the user would never be able to log in).
    #[error("unsupported algorithm: {0}")]
    Unsupported(String),
    /// A malformed description or hash value.
    #[error("{0}")]
    Invalid(String),
}

use ImportHashError::{Invalid, Unsupported};

/// Auth0's `custom_password_hash` object.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomPasswordHash {
    /// `argon2`, `bcrypt`, `hmac`, `ldap`, `md4`, `md5`, `sha1`, `sha256`, `sha512`, `pbkdf2`
    /// or `scrypt`.
    pub algorithm: String,
    pub hash: HashSpec,
    pub salt: Option<SaltSpec>,
    pub password: Option<PasswordSpec>,
}

/// `custom_password_hash.hash`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HashSpec {
    pub value: String,
    /// `base64`, `hex` or `utf8`.
    pub encoding: Option<String>,
    /// The HMAC's digest (`hmac` only).
    pub digest: Option<String>,
    /// The HMAC's key (`hmac` only).
    pub key: Option<KeySpec>,
    /// Auth0's reference table also documents the salt here; accepted in either place.
    pub salt: Option<SaltSpec>,
}

/// `custom_password_hash.hash.key`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySpec {
    pub value: String,
    /// `base64`, `hex` or `utf8` (default).
    pub encoding: Option<String>,
}

/// `custom_password_hash.salt`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaltSpec {
    pub value: String,
    /// `base64`, `hex` or `utf8` (default).
    pub encoding: Option<String>,
    /// `prefix` or `suffix`.
    pub position: Option<String>,
}

/// `custom_password_hash.password`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordSpec {
    /// `ascii`, `utf8` (default), `utf16le`, `ucs2`, `latin1` or `binary`.
    pub encoding: Option<String>,
}

const MAX_BCRYPT_COST: u32 = 16;
const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;
const MAX_ARGON2_M_KIB: u32 = 256 * 1024;
const MAX_ARGON2_T: u32 = 20;
const MAX_ARGON2_P: u32 = 16;

/// The digests the `$writ-…` and PBKDF2 forms support.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LegacyDigest {
    Md4,
    Md5,
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl LegacyDigest {
    fn name(self) -> &'static str {
        match self {
            LegacyDigest::Md4 => "md4",
            LegacyDigest::Md5 => "md5",
            LegacyDigest::Sha1 => "sha1",
            LegacyDigest::Sha224 => "sha224",
            LegacyDigest::Sha256 => "sha256",
            LegacyDigest::Sha384 => "sha384",
            LegacyDigest::Sha512 => "sha512",
        }
    }

    /// Our names, plus OpenSSL's aliases that Auth0 accepts for PBKDF2 (`RSA-SHA256`,
    /// `sha256WithRSAEncryption`).
    fn parse(s: &str) -> Option<Self> {
        let s = s.to_ascii_lowercase();
        let s = s.strip_prefix("rsa-").unwrap_or(&s);
        let s = s.strip_suffix("withrsaencryption").unwrap_or(s);
        Some(match s {
            "md4" => LegacyDigest::Md4,
            "md5" => LegacyDigest::Md5,
            "sha1" | "sha" => LegacyDigest::Sha1,
            "sha224" => LegacyDigest::Sha224,
            "sha256" => LegacyDigest::Sha256,
            "sha384" => LegacyDigest::Sha384,
            "sha512" => LegacyDigest::Sha512,
            _ => return None,
        })
    }

    fn len(self) -> usize {
        match self {
            LegacyDigest::Md4 | LegacyDigest::Md5 => 16,
            LegacyDigest::Sha1 => 20,
            LegacyDigest::Sha224 => 28,
            LegacyDigest::Sha256 => 32,
            LegacyDigest::Sha384 => 48,
            LegacyDigest::Sha512 => 64,
        }
    }

    fn digest(self, parts: &[&[u8]]) -> Vec<u8> {
        fn run<D: sha2::Digest>(parts: &[&[u8]]) -> Vec<u8> {
            let mut d = D::new();
            for p in parts {
                d.update(p);
            }
            d.finalize().to_vec()
        }
        match self {
            LegacyDigest::Md4 => run::<md4::Md4>(parts),
            LegacyDigest::Md5 => run::<md5::Md5>(parts),
            LegacyDigest::Sha1 => run::<sha1::Sha1>(parts),
            LegacyDigest::Sha224 => run::<sha2::Sha224>(parts),
            LegacyDigest::Sha256 => run::<sha2::Sha256>(parts),
            LegacyDigest::Sha384 => run::<sha2::Sha384>(parts),
            LegacyDigest::Sha512 => run::<sha2::Sha512>(parts),
        }
    }

    fn hmac(self, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        fn run<D: hmac::EagerHash>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
            let mut m = <hmac::Hmac<D> as KeyInit>::new_from_slice(key)
                .expect("HMAC takes keys of any length");
            for p in parts {
                m.update(p);
            }
            m.finalize().into_bytes().to_vec()
        }
        match self {
            LegacyDigest::Md4 => run::<md4::Md4>(key, parts),
            LegacyDigest::Md5 => run::<md5::Md5>(key, parts),
            LegacyDigest::Sha1 => run::<sha1::Sha1>(key, parts),
            LegacyDigest::Sha224 => run::<sha2::Sha224>(key, parts),
            LegacyDigest::Sha256 => run::<sha2::Sha256>(key, parts),
            LegacyDigest::Sha384 => run::<sha2::Sha384>(key, parts),
            LegacyDigest::Sha512 => run::<sha2::Sha512>(key, parts),
        }
    }

    fn pbkdf2(self, password: &[u8], salt: &[u8], rounds: u32, out: &mut [u8]) {
        use pbkdf2::pbkdf2_hmac as p;
        match self {
            LegacyDigest::Md4 => p::<md4::Md4>(password, salt, rounds, out),
            LegacyDigest::Md5 => p::<md5::Md5>(password, salt, rounds, out),
            LegacyDigest::Sha1 => p::<sha1::Sha1>(password, salt, rounds, out),
            LegacyDigest::Sha224 => p::<sha2::Sha224>(password, salt, rounds, out),
            LegacyDigest::Sha256 => p::<sha2::Sha256>(password, salt, rounds, out),
            LegacyDigest::Sha384 => p::<sha2::Sha384>(password, salt, rounds, out),
            LegacyDigest::Sha512 => p::<sha2::Sha512>(password, salt, rounds, out),
        }
    }
}

/// Where the salt went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pos {
    Prefix,
    Suffix,
    None,
}

/// The bytes the original system hashed for a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PwEnc {
    Utf8,
    Utf16le,
    Latin1,
}

impl PwEnc {
    fn parse(s: Option<&str>) -> Result<Self, ImportHashError> {
        match s.map(str::to_ascii_lowercase).as_deref() {
            None | Some("utf8") | Some("utf-8") => Ok(PwEnc::Utf8),
            Some("utf16le") | Some("ucs2") | Some("ucs-2") | Some("utf-16le") => Ok(PwEnc::Utf16le),
            Some("latin1") | Some("binary") | Some("ascii") => Ok(PwEnc::Latin1),
            Some(o) => Err(Invalid(format!(
                "password.encoding must be one of ascii, utf8, utf16le, ucs2, latin1, binary (got '{o}')"
            ))),
        }
    }

    fn encode(self, password: &str) -> Vec<u8> {
        match self {
            PwEnc::Utf8 => password.as_bytes().to_vec(),
            PwEnc::Utf16le => password.encode_utf16().flat_map(u16::to_le_bytes).collect(),
            PwEnc::Latin1 => password.encode_utf16().map(|u| (u & 0xff) as u8).collect(),
        }
    }
}

/// Base64 as other systems write it: standard or URL-safe alphabet, padded or not.
fn b64_lenient(s: &str) -> Option<Vec<u8>> {
    const ENGINE: GeneralPurpose = GeneralPurpose::new(
        &alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );
    let t: String = s
        .trim()
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    ENGINE.decode(t).ok()
}

fn hex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Decodes a value in Auth0's `base64` / `hex` / `utf8` encodings.
fn decode(
    what: &str,
    value: &str,
    encoding: Option<&str>,
    default: &str,
) -> Result<Vec<u8>, ImportHashError> {
    let enc = encoding.unwrap_or(default).to_ascii_lowercase();
    let bytes = match enc.as_str() {
        "utf8" | "utf-8" => Some(value.as_bytes().to_vec()),
        "hex" => hex(value),
        "base64" => b64_lenient(value),
        o => {
            return Err(Invalid(format!(
                "{what}.encoding must be one of base64, hex, utf8 (got '{o}')"
            )));
        }
    };
    bytes.ok_or_else(|| Invalid(format!("{what}.value is not valid {enc}")))
}

fn b64(b: &[u8]) -> String {
    STANDARD_NO_PAD.encode(b)
}

/// A salted digest or HMAC in Writ's `$writ-…` form.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Salted {
    digest: LegacyDigest,
    key: Option<Vec<u8>>,
    pos: Pos,
    pw: PwEnc,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

impl Salted {
    fn encode(&self) -> String {
        let mut params = vec![];
        if let Some(k) = &self.key {
            params.push(format!("k={}", b64(k)));
        }
        params.push(
            match self.pos {
                Pos::Prefix => "pos=prefix",
                Pos::Suffix => "pos=suffix",
                Pos::None => "pos=none",
            }
            .to_owned(),
        );
        match self.pw {
            PwEnc::Utf8 => {}
            PwEnc::Utf16le => params.push("pw=utf16le".into()),
            PwEnc::Latin1 => params.push("pw=latin1".into()),
        }
        format!(
            "$writ-{}{}${}${}${}",
            if self.key.is_some() { "hmac-" } else { "" },
            self.digest.name(),
            params.join(","),
            b64(&self.salt),
            b64(&self.hash),
        )
    }

    fn parse(s: &str) -> Option<Self> {
        let mut it = s.strip_prefix("$writ-")?.split('$');
        let (id, params, salt, hash) = (it.next()?, it.next()?, it.next()?, it.next()?);
        if it.next().is_some() {
            return None;
        }
        let (hmac, digest) = match id.strip_prefix("hmac-") {
            Some(d) => (true, d),
            None => (false, id),
        };
        let digest = LegacyDigest::parse(digest).filter(|d| d.name() == digest)?;
        let (mut key, mut pos, mut pw) = (None, None, PwEnc::Utf8);
        for p in params.split(',') {
            match p.split_once('=')? {
                ("k", v) => key = Some(STANDARD_NO_PAD.decode(v).ok()?),
                ("pos", "prefix") => pos = Some(Pos::Prefix),
                ("pos", "suffix") => pos = Some(Pos::Suffix),
                ("pos", "none") => pos = Some(Pos::None),
                ("pw", "utf16le") => pw = PwEnc::Utf16le,
                ("pw", "latin1") => pw = PwEnc::Latin1,
                _ => return None,
            }
        }
        if hmac != key.is_some() {
            return None;
        }
        let out = Salted {
            digest,
            key,
            pos: pos?,
            pw,
            salt: STANDARD_NO_PAD.decode(salt).ok()?,
            hash: STANDARD_NO_PAD.decode(hash).ok()?,
        };
        (out.hash.len() == digest.len()).then_some(out)
    }

    /// The digest (or HMAC) of `password` with this form's salt and key.
    fn compute(&self, password: &str) -> Vec<u8> {
        let pw = self.pw.encode(password);
        let parts: [&[u8]; 2] = match self.pos {
            Pos::Prefix => [&self.salt, &pw],
            Pos::Suffix => [&pw, &self.salt],
            Pos::None => [&pw, &[]],
        };
        match &self.key {
            Some(k) => self.digest.hmac(k, &parts),
            None => self.digest.digest(&parts),
        }
    }

    fn verify(&self, password: &str) -> bool {
        self.compute(password).ct_eq(&self.hash).into()
    }
}

/// A PBKDF2 hash with explicit parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pbkdf2 {
    digest: LegacyDigest,
    iterations: u32,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

impl Pbkdf2 {
    fn encode(&self) -> String {
        format!(
            "$pbkdf2-{}$i={},l={}${}${}",
            self.digest.name(),
            self.iterations,
            self.hash.len(),
            b64(&self.salt),
            b64(&self.hash)
        )
    }

    /// Parses the PHC form (`$pbkdf2-sha256$i=…,l=…$salt$hash`, Auth0's defaults `i=100000`,
    /// `l=64` when omitted) and passlib's (`$pbkdf2-sha256$29000$salt$hash`, "ab64" encoding);
    /// `$pbkdf2$` without a digest is PBKDF2-HMAC-SHA1.
    fn parse(s: &str) -> Result<Self, ImportHashError> {
        let bad = |why: &str| Invalid(format!("not a PBKDF2 PHC string ({why})"));
        let mut it = s
            .strip_prefix("$pbkdf2")
            .ok_or_else(|| bad("it must start with $pbkdf2-<digest>$"))?
            .split('$');
        let id = it.next().unwrap_or_default();
        let digest = match id.strip_prefix('-') {
            Some(d) => LegacyDigest::parse(d)
                .ok_or_else(|| Unsupported(format!("pbkdf2 with digest {d}")))?,
            None if id.is_empty() => LegacyDigest::Sha1,
            None => return Err(bad("it must start with $pbkdf2-<digest>$")),
        };
        let parts: Vec<&str> = it.collect();
        let [params, salt, hash] = parts[..] else {
            return Err(bad("expected $pbkdf2-<digest>$<params>$<salt>$<hash>"));
        };
        let (mut iterations, mut len) = (100_000u32, None);
        if !params.is_empty() && params.bytes().all(|b| b.is_ascii_digit()) {
            iterations = params.parse().map_err(|_| bad("iterations"))?;
        } else {
            for p in params.split(',').filter(|p| !p.is_empty()) {
                match p.split_once('=') {
                    Some(("i", v)) => iterations = v.parse().map_err(|_| bad("i"))?,
                    Some(("l", v)) => len = Some(v.parse::<usize>().map_err(|_| bad("l"))?),
                    _ => return Err(bad(&format!("unknown parameter '{p}'"))),
                }
            }
        }
        // passlib's "ab64" writes '.' for '+'.
        let dec = |v: &str| b64_lenient(&v.replace('.', "+"));
        let salt = dec(salt).ok_or_else(|| bad("the salt is not base64"))?;
        let hash = dec(hash).ok_or_else(|| bad("the hash is not base64"))?;
        if let Some(l) = len
            && l != hash.len()
        {
            return Err(bad(&format!("l={l} but the hash has {} bytes", hash.len())));
        }
        if !(8..=256).contains(&hash.len()) {
            return Err(bad("the hash must be 8 to 256 bytes"));
        }
        if iterations == 0 || iterations > MAX_PBKDF2_ITERATIONS {
            return Err(bad(&format!(
                "iterations must be 1 to {MAX_PBKDF2_ITERATIONS}"
            )));
        }
        Ok(Pbkdf2 {
            digest,
            iterations,
            salt,
            hash,
        })
    }

    fn verify(&self, password: &str) -> bool {
        let mut out = vec![0u8; self.hash.len()];
        self.digest
            .pbkdf2(password.as_bytes(), &self.salt, self.iterations, &mut out);
        out.ct_eq(&self.hash).into()
    }
}

/// Checks a bcrypt string (`$2a$`, `$2b$`, `$2y$`) and returns it.
pub fn bcrypt_hash(value: &str) -> Result<String, ImportHashError> {
    let v = value.trim();
    if !["$2a$", "$2b$", "$2y$"].iter().any(|p| v.starts_with(p)) {
        return Err(Invalid(
            "a bcrypt hash must start with $2a$, $2b$ or $2y$".into(),
        ));
    }
    let parts: bcrypt::HashParts = v
        .parse()
        .map_err(|e| Invalid(format!("not a bcrypt hash: {e}")))?;
    if parts.get_cost() > MAX_BCRYPT_COST {
        return Err(Invalid(format!(
            "bcrypt cost {} is above {MAX_BCRYPT_COST}",
            parts.get_cost()
        )));
    }
    Ok(v.to_owned())
}

/// Checks an argon2 PHC string and returns it.
fn argon2_hash(value: &str) -> Result<String, ImportHashError> {
    use argon2::password_hash::phc::PasswordHash;
    let h = PasswordHash::new(value.trim())
        .map_err(|e| Invalid(format!("not an argon2 PHC string: {e}")))?;
    argon2::Algorithm::new(h.algorithm.as_str())
        .map_err(|_| Invalid(format!("not an argon2 algorithm: {}", h.algorithm)))?;
    let p = argon2::Params::try_from(&h)
        .map_err(|e| Invalid(format!("invalid argon2 parameters: {e}")))?;
    if h.salt.is_none() || h.hash.is_none() {
        return Err(Invalid("the argon2 string needs a salt and a hash".into()));
    }
    if p.m_cost() > MAX_ARGON2_M_KIB || p.t_cost() > MAX_ARGON2_T || p.p_cost() > MAX_ARGON2_P {
        return Err(Invalid(format!(
            "argon2 parameters above m={MAX_ARGON2_M_KIB}, t={MAX_ARGON2_T}, p={MAX_ARGON2_P}"
        )));
    }
    Ok(value.trim().to_owned())
}

/// An LDAP `userPassword` value (RFC 2307 §5.3): `{MD5}`, `{SMD5}`, `{SHA}`, `{SSHA}`,
/// `{SHA256}`, `{SSHA256}`, `{SHA384}`, `{SSHA384}`, `{SHA512}`, `{SSHA512}`.
fn ldap_hash(value: &str) -> Result<Salted, ImportHashError> {
    let v = value.trim();
    let (scheme, data) = v
        .strip_prefix('{')
        .and_then(|r| r.split_once('}'))
        .ok_or_else(|| Invalid("an LDAP hash must look like {SCHEME}base64".into()))?;
    let upper = scheme.to_ascii_uppercase();
    let (salted, name) = match upper.strip_prefix('S') {
        Some(rest) if rest.starts_with("SHA") || rest == "MD5" => (true, rest),
        _ => (false, upper.as_str()),
    };
    let digest = match name {
        "MD5" => LegacyDigest::Md5,
        "SHA" | "SHA1" => LegacyDigest::Sha1,
        "SHA224" => LegacyDigest::Sha224,
        "SHA256" => LegacyDigest::Sha256,
        "SHA384" => LegacyDigest::Sha384,
        "SHA512" => LegacyDigest::Sha512,
        _ => return Err(Unsupported(format!("ldap {{{scheme}}}"))),
    };
    let raw = b64_lenient(data).ok_or_else(|| Invalid("the LDAP hash is not base64".into()))?;
    if raw.len() < digest.len() || (!salted && raw.len() != digest.len()) {
        return Err(Invalid(format!(
            "the LDAP {{{scheme}}} value has the wrong length"
        )));
    }
    let (hash, salt) = raw.split_at(digest.len());
    Ok(Salted {
        digest,
        key: None,
        pos: if salted { Pos::Suffix } else { Pos::None },
        pw: PwEnc::Utf8,
        salt: salt.to_vec(),
        hash: hash.to_vec(),
    })
}

/// Checks Auth0's `custom_password_hash` and returns the string to store.
pub fn from_auth0(c: &CustomPasswordHash) -> Result<String, ImportHashError> {
    let alg = c.algorithm.to_ascii_lowercase();
    let salt = c.salt.as_ref().or(c.hash.salt.as_ref());
    let pw = PwEnc::parse(c.password.as_ref().and_then(|p| p.encoding.as_deref()))?;
    let enc = c.hash.encoding.as_deref().map(str::to_ascii_lowercase);
    let self_describing = |what: &str| -> Result<(), ImportHashError> {
        if !matches!(enc.as_deref(), None | Some("utf8") | Some("utf-8")) {
            return Err(Invalid(format!("hash.encoding must be utf8 for {what}")));
        }
        if salt.is_some() {
            return Err(Invalid(format!("salt is not allowed for {what}")));
        }
        if pw != PwEnc::Utf8 {
            return Err(Unsupported(format!(
                "{what} with a non-UTF-8 password encoding"
            )));
        }
        if c.hash.digest.is_some() || c.hash.key.is_some() {
            return Err(Invalid(format!(
                "hash.digest and hash.key are only for hmac, not {what}"
            )));
        }
        Ok(())
    };
    match alg.as_str() {
        "bcrypt" => {
            self_describing("bcrypt")?;
            bcrypt_hash(&c.hash.value)
        }
        "argon2" => {
            self_describing("argon2")?;
            argon2_hash(&c.hash.value)
        }
        "pbkdf2" => {
            self_describing("pbkdf2")?;
            Pbkdf2::parse(c.hash.value.trim()).map(|p| p.encode())
        }
        "ldap" => {
            self_describing("ldap")?;
            ldap_hash(&c.hash.value).map(|s| s.encode())
        }
        "md4" | "md5" | "sha1" | "sha256" | "sha512" | "hmac" => {
            let digest = if alg == "hmac" {
                let d = c
                    .hash
                    .digest
                    .as_deref()
                    .ok_or_else(|| Invalid("hash.digest is required for hmac".into()))?;
                LegacyDigest::parse(d)
                    .ok_or_else(|| Unsupported(format!("hmac with digest {d}")))?
            } else {
                if c.hash.digest.is_some() || c.hash.key.is_some() {
                    return Err(Invalid(format!(
                        "hash.digest and hash.key are only for hmac, not {alg}"
                    )));
                }
                LegacyDigest::parse(&alg).expect("listed above")
            };
            let key = if alg == "hmac" {
                let k = c
                    .hash
                    .key
                    .as_ref()
                    .ok_or_else(|| Invalid("hash.key is required for hmac".into()))?;
                Some(decode("hash.key", &k.value, k.encoding.as_deref(), "utf8")?)
            } else {
                None
            };
            let hash = match enc.as_deref() {
                Some("hex") | Some("base64") => {
                    decode("hash", &c.hash.value, enc.as_deref(), "hex")?
                }
                _ => {
                    return Err(Invalid(format!(
                        "hash.encoding must be hex or base64 for {alg}"
                    )));
                }
            };
            if hash.len() != digest.len() {
                return Err(Invalid(format!(
                    "hash.value has {} bytes, a {} digest has {}",
                    hash.len(),
                    digest.name(),
                    digest.len()
                )));
            }
            let (salt, pos) = match salt {
                None => (vec![], Pos::None),
                Some(s) => {
                    let pos = match s.position.as_deref() {
                        Some("prefix") => Pos::Prefix,
                        Some("suffix") => Pos::Suffix,
                        _ => {
                            return Err(Invalid("salt.position must be prefix or suffix".into()));
                        }
                    };
                    (
                        decode("salt", &s.value, s.encoding.as_deref(), "utf8")?,
                        pos,
                    )
                }
            };
            Ok(Salted {
                digest,
                key,
                pos,
                pw,
                salt,
                hash,
            }
            .encode())
        }
        "scrypt" => Err(Unsupported("scrypt".into())),
        other => Err(Invalid(format!(
            "algorithm must be one of argon2, bcrypt, hmac, ldap, md4, md5, sha1, sha256, sha512, pbkdf2 (got '{other}')"
        ))),
    }
}

/// The prefix of a wrapped legacy hash (see the module doc).
pub const WRAPPED_PREFIX: &str = "$writ-wrap$";

/// Whether `stored` is a wrapped legacy hash.
pub fn is_wrapped(stored: &str) -> bool {
    stored.starts_with(WRAPPED_PREFIX)
}

/// A wrapped hash's descriptor and argon2id PHC string.
pub fn wrapped_parts(stored: &str) -> Option<(String, &str)> {
    let rest = stored.strip_prefix(WRAPPED_PREFIX)?;
    let i = rest.find('$')?;
    let descriptor = String::from_utf8(STANDARD_NO_PAD.decode(&rest[..i]).ok()?).ok()?;
    Some((descriptor, &rest[i..]))
}

/// Builds the wrapped form from a descriptor and the argon2id PHC string of its hash.
pub fn wrapped(descriptor: &str, phc: &str) -> String {
    format!("{WRAPPED_PREFIX}{}{phc}", b64(descriptor.as_bytes()))
}

/// Splits a bare imported form (bcrypt, PBKDF2, `$writ-…`, argon2 at other parameters) into
/// its descriptor (the same form with the hash zeroed) and its hash bytes, which argon2id then
/// wraps. `None` for anything else.
pub fn split_for_wrap(stored: &str) -> Option<(String, Vec<u8>)> {
    if is_wrapped(stored) {
        None
    } else if stored.starts_with("$2") {
        let parts: bcrypt::HashParts = stored.parse().ok()?;
        let full = parts.format_for_version(bcrypt::Version::TwoB);
        let hash = full.get(29..)?.as_bytes().to_vec();
        Some((
            format!("{}{}", stored.get(..29)?, ".".repeat(hash.len())),
            hash,
        ))
    } else if stored.starts_with("$pbkdf2") {
        let p = Pbkdf2::parse(stored).ok()?;
        let hash = p.hash.clone();
        let zeroed = Pbkdf2 {
            hash: vec![0; hash.len()],
            ..p
        };
        Some((zeroed.encode(), hash))
    } else if stored.starts_with("$writ-") {
        let s = Salted::parse(stored)?;
        let hash = s.hash.clone();
        let zeroed = Salted {
            hash: vec![0; hash.len()],
            ..s
        };
        Some((zeroed.encode(), hash))
    } else if stored.starts_with("$argon2") {
        use argon2::password_hash::phc::PasswordHash;
        let h = PasswordHash::new(stored).ok()?;
        let hash = h.hash?.as_bytes().to_vec();
        let (head, _) = stored.rsplit_once('$')?;
        Some((format!("{head}${}", b64(&vec![0; hash.len()])), hash))
    } else {
        None
    }
}

/// The legacy hash of `password` under a descriptor from [`split_for_wrap`]: what argon2id
/// verifies for a wrapped form. `None` for a descriptor that does not parse. CPU-bound (as
/// costly as the legacy algorithm): call it on a blocking thread.
pub fn derive(descriptor: &str, password: &str) -> Option<Vec<u8>> {
    if descriptor.starts_with("$2") {
        let parts: bcrypt::HashParts = descriptor.parse().ok()?;
        let computed = bcrypt::hash_with_salt(password, parts.get_cost(), parts.get_salt_raw())
            .ok()?
            .format_for_version(bcrypt::Version::TwoB);
        Some(computed.get(29..)?.as_bytes().to_vec())
    } else if descriptor.starts_with("$pbkdf2") {
        let p = Pbkdf2::parse(descriptor).ok()?;
        let mut out = vec![0u8; p.hash.len()];
        p.digest
            .pbkdf2(password.as_bytes(), &p.salt, p.iterations, &mut out);
        Some(out)
    } else if descriptor.starts_with("$writ-") {
        Some(Salted::parse(descriptor)?.compute(password))
    } else if descriptor.starts_with("$argon2") {
        use argon2::password_hash::phc::PasswordHash;
        let h = PasswordHash::new(descriptor).ok()?;
        let alg = argon2::Algorithm::new(h.algorithm.as_str()).ok()?;
        let version = match h.version {
            Some(v) => argon2::Version::try_from(v).ok()?,
            None => argon2::Version::default(),
        };
        let params = argon2::Params::try_from(&h).ok()?;
        let mut out = vec![0u8; h.hash?.len()];
        argon2::Argon2::new(alg, version, params)
            .hash_password_into(password.as_bytes(), h.salt?.as_ref(), &mut out)
            .ok()?;
        Some(out)
    } else {
        None
    }
}

/// Whether `stored` is one of the forms this module verifies (not argon2, which the pool
/// verifies itself, nor wrapped forms, which the pool verifies with [`derive`]).
pub fn is_imported_form(stored: &str) -> bool {
    !is_wrapped(stored)
        && (stored.starts_with("$2")
            || stored.starts_with("$pbkdf2")
            || stored.starts_with("$writ-"))
}

/// Verifies a password against a bcrypt, PBKDF2 or `$writ-…` string; false for anything else.
/// CPU-bound: call it on a blocking thread.
pub fn verify(password: &str, stored: &str) -> bool {
    if is_wrapped(stored) {
        false
    } else if stored.starts_with("$2") {
        bcrypt::verify(password.as_bytes(), stored).unwrap_or(false)
    } else if stored.starts_with("$pbkdf2") {
        Pbkdf2::parse(stored).is_ok_and(|p| p.verify(password))
    } else {
        Salted::parse(stored).is_some_and(|s| s.verify(password))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn custom(v: serde_json::Value) -> Result<String, ImportHashError> {
        from_auth0(&serde_json::from_value(v).expect("schema"))
    }

    /// Imports, then checks the right password verifies and a wrong one does not.
    fn roundtrip(v: serde_json::Value, password: &str) -> String {
        let stored = custom(v).expect("importable");
        assert!(
            verify(password, &stored),
            "{stored} should verify {password}"
        );
        assert!(!verify("wrong password", &stored), "{stored}");
        stored
    }

    #[test]
    fn bcrypt_auth0_documented_vector() {
        // From Auth0's bulk-import documentation: generated from "hello" with cost 10.
        let h = "$2b$10$nFguVi9LsCAcvTZFKQlRKeLVydo8ETv483lkNsSFI/Wl1Rz1Ypo1K";
        assert_eq!(bcrypt_hash(h).unwrap(), h);
        assert!(verify("hello", h));
        assert!(!verify("hellO", h));
        let stored = roundtrip(
            json!({"algorithm": "bcrypt", "hash": {"value": h, "encoding": "utf8"}}),
            "hello",
        );
        assert_eq!(stored, h);
        // $2y$ (PHP) is the same algorithm.
        assert!(verify("hello", &h.replacen("$2b$", "$2y$", 1)));
        assert!(bcrypt_hash("$2x$10$abc").is_err());
        assert!(
            bcrypt_hash("$2b$31$nFguVi9LsCAcvTZFKQlRKeLVydo8ETv483lkNsSFI/Wl1Rz1Ypo1K").is_err()
        );
    }

    #[test]
    fn pbkdf2_rfc6070_and_passlib_vectors() {
        // RFC 6070: PBKDF2-HMAC-SHA1("password", "salt", 4096, 20).
        let stored = roundtrip(
            json!({"algorithm": "pbkdf2", "hash": {"value": "$pbkdf2-sha1$i=4096,l=20$c2FsdA$SwB5AbdlSJq+rUnZJvch0GWkKcE"}}),
            "password",
        );
        assert_eq!(
            stored,
            "$pbkdf2-sha1$i=4096,l=20$c2FsdA$SwB5AbdlSJq+rUnZJvch0GWkKcE"
        );
        // passlib's documented pbkdf2_sha256 example ("ab64", rounds without `i=`).
        let stored = roundtrip(
            json!({"algorithm": "pbkdf2", "hash": {"value": "$pbkdf2-sha256$6400$0ZrzXitFSGltTQnBWOsdAw$Y11AchqV4b0sUisdZd0Xr97KWoymNE0LNNrnEgY4H9M"}}),
            "password",
        );
        assert!(
            stored.starts_with("$pbkdf2-sha256$i=6400,l=32$"),
            "{stored}"
        );
        // SHA-256 and SHA-512 (vectors from Python's hashlib.pbkdf2_hmac).
        roundtrip(
            json!({"algorithm": "pbkdf2", "hash": {"value": "$pbkdf2-sha256$i=1000,l=32$TmFDbC1zYWx0LTEyMw$ua8Y0lZXyvXdWdEFG4AkWWcXpXgxWp9bD1eFos0o4L4"}}),
            "correct horse",
        );
        roundtrip(
            json!({"algorithm": "pbkdf2", "hash": {"value": "$pbkdf2-sha512$i=1000,l=64$TmFDbC1zYWx0LTEyMw$q/Of3ssYdHni1lWIbe6N7BnNYVRx2Xd8iioJG+kHffh993Uxc9nK363n6Qg+cOM63qOZFNTqoJlocTnCEUJ8tA"}}),
            "correct horse",
        );
        // l must match, iterations are bounded, unknown digests are unsupported.
        assert!(matches!(
            custom(
                json!({"algorithm": "pbkdf2", "hash": {"value": "$pbkdf2-sha1$i=4096,l=64$c2FsdA$SwB5AbdlSJq+rUnZJvch0GWkKcE"}})
            ),
            Err(Invalid(_))
        ));
        assert!(matches!(
            custom(
                json!({"algorithm": "pbkdf2", "hash": {"value": "$pbkdf2-sha1$i=99999999,l=20$c2FsdA$SwB5AbdlSJq+rUnZJvch0GWkKcE"}})
            ),
            Err(Invalid(_))
        ));
        assert!(matches!(
            custom(
                json!({"algorithm": "pbkdf2", "hash": {"value": "$pbkdf2-whirlpool$i=1,l=20$c2FsdA$SwB5AbdlSJq+rUnZJvch0GWkKcE"}})
            ),
            Err(Unsupported(_))
        ));
    }

    #[test]
    fn salted_digests() {
        // Auth0's example shape: sha256("abc123" ‖ password), hex.
        let stored = roundtrip(
            json!({"algorithm": "sha256",
                   "hash": {"value": "9972B132A172BE00B57558C5C49AE78854F53D86CC03B0AED888A853E65A3D17", "encoding": "hex"},
                   "salt": {"value": "abc123", "position": "prefix"}}),
            "hello",
        );
        assert_eq!(
            stored,
            "$writ-sha256$pos=prefix$YWJjMTIz$mXKxMqFyvgC1dVjFxJrniFT1PYbMA7Cu2IioU+ZaPRc"
        );
        // md5(password ‖ "pepper"), hex.
        roundtrip(
            json!({"algorithm": "md5", "hash": {"value": "6967321c83e9f01a33e7edecce748877", "encoding": "hex"},
                   "salt": {"value": "pepper", "position": "suffix"}}),
            "hello",
        );
        // Unsalted md5, base64.
        roundtrip(
            json!({"algorithm": "md5", "hash": {"value": "XUFAKrxLKna5cZ2REBfFkg==", "encoding": "base64"}}),
            "hello",
        );
        // sha1("abc123" ‖ password).
        roundtrip(
            json!({"algorithm": "sha1", "hash": {"value": "1185488f80ad48c193c1564872c84ae2d03ad2bb", "encoding": "hex"},
                   "salt": {"value": "abc123", "position": "prefix"}}),
            "hello",
        );
        // sha512(password ‖ 0xa1b2c3), base64, hex-encoded salt.
        roundtrip(
            json!({"algorithm": "sha512",
                   "hash": {"value": "JdyaV3UHB5dsZSJfv2JOCvCVvkSHGSFugaluBleicEV7UgO1w7w/kWlcKGGIRVk5l2GdFu+jDFOL/56E7L/ieQ==", "encoding": "base64"},
                   "salt": {"value": "a1b2c3", "encoding": "hex", "position": "suffix"}}),
            "hello",
        );
        // MD4 (RFC 1320: MD4("abc")).
        roundtrip(
            json!({"algorithm": "md4", "hash": {"value": "a448017aaf21d8525fc10ae87aa6729d", "encoding": "hex"}}),
            "abc",
        );
        // The password's encoding: UTF-16LE and Latin-1.
        roundtrip(
            json!({"algorithm": "sha256", "hash": {"value": "7f72dcf08ef92c0582b018a06d8a1bebf1e5098b5c72c8ad53db57def1bf8bdb", "encoding": "hex"},
                   "password": {"encoding": "utf16le"}}),
            "héllo",
        );
        let stored = roundtrip(
            json!({"algorithm": "sha1", "hash": {"value": "028db752c14604d624e8b1c121d600c427b8a3ba", "encoding": "hex"},
                   "password": {"encoding": "latin1"}}),
            "héllo",
        );
        assert!(stored.contains("pw=latin1"), "{stored}");
        // Wrong lengths and missing positions are refused.
        assert!(
            custom(json!({"algorithm": "sha256", "hash": {"value": "abcd", "encoding": "hex"}}))
                .is_err()
        );
        assert!(custom(json!({"algorithm": "sha256", "hash": {"value": "9972b132a172be00b57558c5c49ae78854f53d86cc03b0aed888a853e65a3d17", "encoding": "hex"},
                               "salt": {"value": "abc123"}})).is_err());
        assert!(
            custom(json!({"algorithm": "sha256", "hash": {"value": "x", "encoding": "utf8"}}))
                .is_err()
        );
    }

    #[test]
    fn hmac_vectors() {
        // HMAC-SHA256(key "secret-key", "hello"), hex (Python's hmac module).
        let stored = roundtrip(
            json!({"algorithm": "hmac", "hash": {"value": "98e7ffb964bb5a3f902db1fc101a5baa98b6f2cd56858210c9d70f26ac762fc7",
                   "encoding": "hex", "digest": "sha256", "key": {"value": "secret-key"}}}),
            "hello",
        );
        assert!(stored.starts_with("$writ-hmac-sha256$k="), "{stored}");
        // Auth0's example shape: HMAC-SHA1 with a hex key ("shh"), base64 output.
        roundtrip(
            json!({"algorithm": "hmac", "hash": {"value": "RHpOWU6dXBUH7cmsijqZ90XSucQ=", "encoding": "base64",
                   "digest": "sha1", "key": {"value": "736868", "encoding": "hex"}}}),
            "hello",
        );
        assert!(matches!(
            custom(
                json!({"algorithm": "hmac", "hash": {"value": "00", "encoding": "hex", "digest": "whirlpool", "key": {"value": "k"}}})
            ),
            Err(Unsupported(_))
        ));
        assert!(custom(json!({"algorithm": "hmac", "hash": {"value": "00", "encoding": "hex", "digest": "sha1"}})).is_err());
    }

    #[test]
    fn ldap_vectors() {
        for (v, pw) in [
            ("{SSHA}grxCdHfw6tJZU1HC60FmsOqn6vpzNGx0", "hello"),
            ("{SHA}qvTGHdzF6KLavt4PO0gs2a6pQ00=", "hello"),
            ("{SMD5}JuRXcCkT0GgopKjyqvgM8HM0bHQ=", "hello"),
            (
                "{SSHA512}FK64vo2boORVmnVNKJhCRMNU6J8Fh2KRmXXAnt9TRg0TD/PW12GplDwt0sRRhPk5g2rehMXT7quKbQoEf3t+znM0bHQ=",
                "hello",
            ),
        ] {
            roundtrip(
                json!({"algorithm": "ldap", "hash": {"value": v, "encoding": "utf8"}}),
                pw,
            );
        }
        assert!(matches!(
            custom(json!({"algorithm": "ldap", "hash": {"value": "{CRYPT}abc"}})),
            Err(Unsupported(_))
        ));
    }

    #[test]
    fn argon2_is_kept_as_is_and_bounded() {
        use argon2::password_hash::PasswordHasher;
        let params = argon2::Params::new(8192, 1, 1, None).unwrap();
        let h = argon2::Argon2::new(argon2::Algorithm::Argon2i, argon2::Version::V0x13, params)
            .hash_password(b"hello")
            .unwrap()
            .to_string();
        assert!(h.starts_with("$argon2i$"));
        assert_eq!(
            custom(json!({"algorithm": "argon2", "hash": {"value": h}})).unwrap(),
            h
        );
        assert!(custom(json!({"algorithm": "argon2", "hash": {"value": "$argon2id$v=19$m=1048576,t=2,p=1$J6Q/82PCyaNpYKRELJyTZg$m04qUAB8rexWDR4+/0f+SFB+4XMFxt7YAvAq2UycYos"}})).is_err());
        assert!(
            custom(json!({"algorithm": "argon2", "hash": {"value": "$scrypt$ln=1$x$y"}})).is_err()
        );
        assert!(custom(json!({"algorithm": "argon2", "hash": {"value": h}, "salt": {"value": "x", "position": "prefix"}})).is_err());
    }

    #[test]
    fn unsupported_and_unknown_algorithms() {
        assert_eq!(
            custom(json!({"algorithm": "scrypt", "hash": {"value": "x"}})),
            Err(Unsupported("scrypt".into()))
        );
        assert!(matches!(
            custom(json!({"algorithm": "rot13", "hash": {"value": "x"}})),
            Err(Invalid(_))
        ));
    }

    #[test]
    fn stored_forms_parse_strictly() {
        let s = Salted {
            digest: LegacyDigest::Sha256,
            key: Some(b"k".to_vec()),
            pos: Pos::Suffix,
            pw: PwEnc::Utf16le,
            salt: b"salt".to_vec(),
            hash: vec![7; 32],
        };
        assert_eq!(Salted::parse(&s.encode()), Some(s.clone()));
        for bad in [
            "$writ-sha256$pos=prefix$YWJj",
            "$writ-sha256$pos=middle$YWJj$mXKxMqFyvgC1dVjFxJrniFT1PYbMA7Cu2IioU+ZaPRc",
            "$writ-sha999$pos=none$$mXKxMqFyvgC1dVjFxJrniFT1PYbMA7Cu2IioU+ZaPRc",
            "$writ-sha256$pos=none$$AAAA",
            "$writ-hmac-sha256$pos=none$$mXKxMqFyvgC1dVjFxJrniFT1PYbMA7Cu2IioU+ZaPRc",
            "$writ-SHA256$pos=none$$mXKxMqFyvgC1dVjFxJrniFT1PYbMA7Cu2IioU+ZaPRc",
        ] {
            assert_eq!(Salted::parse(bad), None, "{bad}");
            assert!(!verify("hello", bad));
        }
        assert!(!verify("hello", "plaintext"));
        assert!(!verify("hello", ""));
    }
}
