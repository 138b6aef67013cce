//! Access-token signing and verification cost, per algorithm (RS256, ES256, EdDSA).
//!
//! - `sign/<alg>`: Writ's server path, `KeyRing::signer(alg).sign("at+jwt", &claims)`.
//! - `raw_sign/<alg>`: `jsonwebtoken::encode` with an `EncodingKey` built from the same key and
//!   the same header. As in the server, jsonwebtoken's process-wide provider here is Writ's
//!   caching one (`writ_service::jwt_signer`, installed by `KeyRing::build`), so `sign` - `raw_sign`
//!   is the `Signer` wrapper's own cost.
//! - `stock_sign/<alg>`: the same JWS through jsonwebtoken's stock aws-lc provider, called
//!   explicitly; it parses the private key on every call: what `encode` costs without Writ's
//!   provider.
//! - `preparsed_sign/<alg>`: the same JWS signed with an aws-lc-rs key pair held directly (no
//!   provider, no cache lookup): the floor for this claims set.
//! - `verify/<alg>`: `writ_guard::Verifier::verify` (typ/kid/alg checks, iss/aud/exp/nbf
//!   validation, claims deserialized into `AccessClaims`).
//! - `raw_verify/<alg>`: `jsonwebtoken::decode::<AccessClaims>` with a `DecodingKey` from the
//!   same JWK and a minimal `Validation` (signature and `exp` only).
//!
//! The claims are a realistic user token: issuer, user subject, one audience, jti, client,
//! `scope`, a `permissions` claim of five entries, `gty` and `authz_ver`. Every token is
//! checked by the guard before measuring, and the EdDSA ones (deterministic) must be
//! byte-identical across the four signing paths.
//!
//! Target: `sign` within a few percent of `preparsed_sign` (key parsed once, no wrapper cost)
//! and `verify` within a few percent of `raw_verify`, so that the absolute numbers are the
//! signature primitive's.
//!
//! Run: `cargo bench -p writ-server --bench tokens` (short warm-up/measurement set in code).

mod common;

use std::hint::black_box;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use criterion::Criterion;
use jsonwebtoken::{DecodingKey, Header, Validation};
use writ_core::SigningAlg;
use writ_core::claims::{AccessClaims, Audience};
use writ_guard::{KeySet, Verifier, VerifierConfig};
use writ_service::crypto::{random_alnum, random_token};
use writ_service::signing_keys;

const ISSUER: &str = "https://auth.bench.example/";
const AUDIENCE: &str = "https://todos.bench.example/api";

fn claims() -> AccessClaims {
    let iat = chrono::Utc::now().timestamp();
    let client = random_alnum(32);
    AccessClaims {
        iss: ISSUER.into(),
        sub: format!("usr_{}", random_alnum(16)),
        aud: Audience::One(AUDIENCE.into()),
        iat,
        exp: iat + 86_400,
        jti: random_token(16),
        client_id: client.clone(),
        azp: client,
        scope: "openid profile read:todos write:todos".into(),
        permissions: Some(common::todo_permissions()),
        gty: Some("password".into()),
        authz_ver: Some(3),
        amr: None,
    }
}

/// A private key parsed once, for `preparsed_sign`.
enum Parsed {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

impl Parsed {
    fn new(alg: SigningAlg, pkcs8: &[u8]) -> Self {
        match alg {
            SigningAlg::RS256 => Parsed::Rsa(RsaKeyPair::from_pkcs8(pkcs8).expect("RSA key")),
            SigningAlg::ES256 => Parsed::Ec(
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8).expect("EC key"),
            ),
            SigningAlg::EdDSA => {
                Parsed::Ed(Ed25519KeyPair::from_pkcs8(pkcs8).expect("Ed25519 key"))
            }
        }
    }

    /// `b64(header).b64(claims).b64(signature)`, as `jsonwebtoken::encode` builds it.
    fn sign(&self, header_b64: &str, claims: &AccessClaims, rng: &SystemRandom) -> String {
        let json = serde_json::to_vec(claims).expect("claims serialize");
        let mut out = String::with_capacity(header_b64.len() + json.len() * 4 / 3 + 360);
        out.push_str(header_b64);
        out.push('.');
        B64.encode_string(&json, &mut out);
        let sig = match self {
            Parsed::Rsa(k) => {
                let mut sig = vec![0; k.public_modulus_len()];
                k.sign(&RSA_PKCS1_SHA256, rng, out.as_bytes(), &mut sig)
                    .expect("RSA sign");
                sig
            }
            Parsed::Ec(k) => k
                .sign(rng, out.as_bytes())
                .expect("EC sign")
                .as_ref()
                .to_vec(),
            Parsed::Ed(k) => k.sign(out.as_bytes()).as_ref().to_vec(),
        };
        out.push('.');
        B64.encode_string(&sig, &mut out);
        out
    }
}

/// `encode` as jsonwebtoken builds it, but with its stock aws-lc provider's signer (a fresh
/// key parse per call) instead of the process-wide provider.
fn stock_sign(
    alg: jsonwebtoken::Algorithm,
    key: &jsonwebtoken::EncodingKey,
    header_b64: &str,
    claims: &AccessClaims,
) -> String {
    let signer = (jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.signer_factory)(&alg, key)
        .expect("stock signer");
    let mut out = String::with_capacity(1024);
    out.push_str(header_b64);
    out.push('.');
    B64.encode_string(
        serde_json::to_vec(claims).expect("claims serialize"),
        &mut out,
    );
    let sig = signer.try_sign(out.as_bytes()).expect("stock sign");
    out.push('.');
    B64.encode_string(&sig, &mut out);
    out
}

/// One algorithm's keys, all derived from one generated key.
struct Alg {
    alg: SigningAlg,
    parsed: Parsed,
    header_b64: String,
    raw_key: jsonwebtoken::EncodingKey,
    raw_header: Header,
    raw_decoding: DecodingKey,
    raw_validation: Validation,
}

fn bench(c: &mut Criterion) {
    let (cipher, records, ring) = common::key_ring();
    let verifier = Verifier::new(
        VerifierConfig::new(ISSUER, AUDIENCE),
        KeySet::from_jwks(&ring.all_public).expect("jwks"),
    );
    assert_eq!(verifier.config().audience, AUDIENCE);

    let algs: Vec<Alg> = records
        .iter()
        .map(|rec| {
            let der = cipher.open(&rec.kid, &rec.private_der).expect("key opens");
            let raw_key = signing_keys::encoding_key(rec.alg, &der).expect("encoding key");
            let mut raw_header = Header::new(signing_keys::jwt_alg(rec.alg));
            raw_header.kid = Some(rec.kid.clone());
            raw_header.typ = Some("at+jwt".into());
            let (raw_decoding, raw_validation) = common::raw_check(rec);
            let header_b64 =
                B64.encode(serde_json::to_vec(&raw_header).expect("header serializes"));
            let parsed = Parsed::new(rec.alg, &der);
            Alg {
                alg: rec.alg,
                parsed,
                header_b64,
                raw_key,
                raw_header,
                raw_decoding,
                raw_validation,
            }
        })
        .collect();

    let claims = claims();
    let rng = SystemRandom::new();
    // Tokens to verify, signed once per algorithm by the server path; checked by both paths.
    let tokens: Vec<String> = algs
        .iter()
        .map(|a| {
            let t = common::sign_access(&ring, a.alg, &claims);
            assert_eq!(verifier.verify(&t).expect("guard verifies"), claims);
            jsonwebtoken::decode::<AccessClaims>(&t, &a.raw_decoding, &a.raw_validation)
                .expect("raw verifies");
            let raw = jsonwebtoken::encode(&a.raw_header, &claims, &a.raw_key).expect("raw sign");
            verifier
                .verify(&raw)
                .expect("guard verifies raw-signed token");
            let stock = stock_sign(a.raw_header.alg, &a.raw_key, &a.header_b64, &claims);
            assert_eq!(
                verifier
                    .verify(&stock)
                    .expect("guard verifies stock-signed token"),
                claims
            );
            let pre = a.parsed.sign(&a.header_b64, &claims, &rng);
            assert_eq!(
                verifier
                    .verify(&pre)
                    .expect("guard verifies preparsed-signed token"),
                claims
            );
            if a.alg == SigningAlg::EdDSA {
                // Deterministic signatures: every path must produce the same bytes.
                assert_eq!(raw, t);
                assert_eq!(stock, t);
                assert_eq!(pre, t);
            }
            t
        })
        .collect();

    let mut g = c.benchmark_group("sign");
    for a in &algs {
        let signer = ring.signer(a.alg).expect("signer");
        g.bench_function(a.alg.as_str(), |b| {
            b.iter(|| signer.sign("at+jwt", black_box(&claims)).unwrap())
        });
    }
    g.finish();

    let mut g = c.benchmark_group("raw_sign");
    for a in &algs {
        g.bench_function(a.alg.as_str(), |b| {
            b.iter(|| jsonwebtoken::encode(&a.raw_header, black_box(&claims), &a.raw_key).unwrap())
        });
    }
    g.finish();

    let mut g = c.benchmark_group("stock_sign");
    for a in &algs {
        g.bench_function(a.alg.as_str(), |b| {
            b.iter(|| {
                stock_sign(
                    a.raw_header.alg,
                    &a.raw_key,
                    &a.header_b64,
                    black_box(&claims),
                )
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("preparsed_sign");
    for a in &algs {
        g.bench_function(a.alg.as_str(), |b| {
            b.iter(|| a.parsed.sign(&a.header_b64, black_box(&claims), &rng))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("verify");
    for (a, t) in algs.iter().zip(&tokens) {
        g.bench_function(a.alg.as_str(), |b| {
            b.iter(|| verifier.verify(black_box(t)).unwrap())
        });
    }
    g.finish();

    let mut g = c.benchmark_group("raw_verify");
    for (a, t) in algs.iter().zip(&tokens) {
        g.bench_function(a.alg.as_str(), |b| {
            b.iter(|| {
                jsonwebtoken::decode::<AccessClaims>(
                    black_box(t),
                    &a.raw_decoding,
                    &a.raw_validation,
                )
                .unwrap()
            })
        });
    }
    g.finish();
}

bench_main!(bench);
