//! Access-token signing and verification cost, per algorithm (RS256, ES256, EdDSA).
//!
//! - `sign/<alg>`: Writ's server path, `KeyRing::signer(alg).sign("at+jwt", &claims)`.
//! - `raw_sign/<alg>`: `jsonwebtoken::encode` with an `EncodingKey` built from the same key and
//!   the same header, for comparison (the difference is Writ's own overhead).
//! - `verify/<alg>`: `writ_guard::Verifier::verify` (typ/kid/alg checks, iss/aud/exp/nbf
//!   validation, claims deserialized into `AccessClaims`).
//! - `raw_verify/<alg>`: `jsonwebtoken::decode::<AccessClaims>` with a `DecodingKey` from the
//!   same JWK and a minimal `Validation` (signature and `exp` only).
//!
//! The claims are a realistic user token: issuer, user subject, one audience, jti, client,
//! `scope`, a `permissions` claim of five entries, `gty` and `authz_ver`.
//!
//! Target: signing and verification stay within a few percent of raw `jsonwebtoken` (the
//! wrapper adds no measurable cost); the absolute numbers are the signature primitive's.
//!
//! Run: `cargo bench -p writ-server --bench tokens` (short warm-up/measurement set in code).

use std::collections::HashSet;
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{DecodingKey, Header, Validation};
use writ_core::claims::{AccessClaims, Audience};
use writ_core::{KeyState, SigningAlg};
use writ_guard::{KeySet, Verifier, VerifierConfig};
use writ_server::crypto::{KeyCipher, random_alnum, random_token};
use writ_server::keys::{self, KeyRing};

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
        permissions: Some(
            [
                "read:todos",
                "write:todos",
                "delete:todos",
                "read:lists",
                "write:lists",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        ),
        gty: Some("password".into()),
        authz_ver: Some(3),
    }
}

/// One algorithm's keys, all derived from one generated key.
struct Alg {
    alg: SigningAlg,
    raw_key: jsonwebtoken::EncodingKey,
    raw_header: Header,
    raw_decoding: DecodingKey,
    raw_validation: Validation,
}

fn bench(c: &mut Criterion) {
    let cipher = KeyCipher::new(&[7u8; 32]);
    let records: Vec<_> = SigningAlg::ALL
        .iter()
        .map(|&a| keys::new_record(a, KeyState::Current, &cipher).expect("key generation"))
        .collect();
    let in_use: HashSet<SigningAlg> = SigningAlg::ALL.into_iter().collect();
    let ring = KeyRing::build(&records, &cipher, &in_use).expect("key ring");
    let verifier = Verifier::new(
        VerifierConfig::new(ISSUER, AUDIENCE),
        KeySet::from_jwks(&ring.all_public).expect("jwks"),
    );
    assert_eq!(verifier.config().audience, AUDIENCE);

    let algs: Vec<Alg> = records
        .iter()
        .map(|rec| {
            let der = cipher.open(&rec.kid, &rec.private_der).expect("key opens");
            let raw_key = keys::encoding_key(rec.alg, &der).expect("encoding key");
            let mut raw_header = Header::new(keys::jwt_alg(rec.alg));
            raw_header.kid = Some(rec.kid.clone());
            raw_header.typ = Some("at+jwt".into());
            let jwk: Jwk = serde_json::from_value(rec.public_jwk.clone()).expect("jwk");
            let raw_decoding = DecodingKey::from_jwk(&jwk).expect("decoding key");
            let mut raw_validation = Validation::new(keys::jwt_alg(rec.alg));
            raw_validation.validate_aud = false;
            Alg {
                alg: rec.alg,
                raw_key,
                raw_header,
                raw_decoding,
                raw_validation,
            }
        })
        .collect();

    let claims = claims();
    // Tokens to verify, signed once per algorithm by the server path; checked by both paths.
    let tokens: Vec<String> = algs
        .iter()
        .map(|a| {
            let t = ring
                .signer(a.alg)
                .expect("signer")
                .sign("at+jwt", &claims)
                .expect("sign");
            assert_eq!(verifier.verify(&t).expect("guard verifies"), claims);
            jsonwebtoken::decode::<AccessClaims>(&t, &a.raw_decoding, &a.raw_validation)
                .expect("raw verifies");
            let raw = jsonwebtoken::encode(&a.raw_header, &claims, &a.raw_key).expect("raw sign");
            verifier
                .verify(&raw)
                .expect("guard verifies raw-signed token");
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

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    targets = bench
}
criterion_main!(benches);
