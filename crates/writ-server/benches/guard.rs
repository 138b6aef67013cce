//! What an API pays per request with writ-guard, against the bare signature check.
//!
//! - `guard/<alg>`: `Guard::verify_cached` (typ/kid/alg checks, iss/aud/exp/nbf validation,
//!   claims deserialized) + the freshness lookup (the subject is among 100,000 subjects the
//!   event feed has reported, at an older version, so the lookup hits and passes) + a
//!   `RequirePermissions::all(["write:todos"])` check. Everything the guard does per request.
//! - `guard_async/<alg>`: the same through the async `Guard::verify`, polled on a
//!   current-thread Tokio runtime (what an axum handler sees).
//! - `raw_verify/<alg>`: `jsonwebtoken::decode::<AccessClaims>` with a `DecodingKey` from the
//!   same JWK and a minimal `Validation` (signature and `exp` only): the floor.
//!
//! Target: `guard` ≤ 1.2 × `raw_verify`, same run; RS256 ≥ 30,000 verifications per second
//! per core (≤ 33 µs).
//!
//! Run: `cargo bench -p writ-server --bench guard`.

mod common;

use std::hint::black_box;

use axum::Router;
use axum::routing::get;
use criterion::Criterion;
use jsonwebtoken::{DecodingKey, Validation};
use writ_core::SigningAlg;
use writ_core::claims::{AccessClaims, Audience};
use writ_guard::{Guard, GuardOptions, RequirePermissions};

const AUDIENCE: &str = "https://todos.bench.example/api";

fn claims(issuer: &str) -> AccessClaims {
    let iat = chrono::Utc::now().timestamp();
    AccessClaims {
        iss: issuer.into(),
        sub: "usr_bench0000000042".into(),
        aud: Audience::Many(vec![AUDIENCE.into(), format!("{issuer}userinfo")]),
        iat,
        exp: iat + 86_400,
        jti: "0123456789abcdef0123456789abcdef".into(),
        client_id: "spa0123456789abcdef0123456789ab".into(),
        azp: "spa0123456789abcdef0123456789ab".into(),
        scope: "openid profile read:todos write:todos".into(),
        permissions: Some(common::todo_permissions()),
        gty: None,
        authz_ver: Some(7),
        amr: None,
    }
}

/// One algorithm's token, and the stock check of its key.
struct Case {
    alg: SigningAlg,
    token: String,
    raw_decoding: DecodingKey,
    raw_validation: Validation,
}

/// The benchmark group `name`: `f` of each case, one function per algorithm.
fn per_alg<R>(c: &mut Criterion, name: &str, cases: &[Case], f: impl Fn(&Case) -> R) {
    let mut g = c.benchmark_group(name);
    for case in cases {
        g.bench_function(case.alg.as_str(), |b| b.iter(|| f(case)));
    }
    g.finish();
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (_, records, ring) = common::key_ring();

    // A JWKS endpoint on loopback, so the Guard is built the way an API builds it.
    let issuer = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}/", listener.local_addr().unwrap());
        let jwks = ring.all_public.clone();
        let app = Router::new().route("/jwks.json", get(move || async move { axum::Json(jwks) }));
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        issuer
    });
    // A guard of it that knows 100,000 subjects' versions.
    let new_guard = || {
        rt.block_on(async {
            let g = Guard::from_jwks_uri(
                &issuer,
                AUDIENCE,
                &format!("{issuer}jwks.json"),
                GuardOptions {
                    refresh_interval: None,
                    ..Default::default()
                },
            )
            .await
            .expect("guard");
            for i in 0..100_000 {
                g.record_version(&format!("usr_bench{i:010}"), 5);
            }
            g
        })
    };
    let guard = new_guard();
    let require = RequirePermissions::all(["write:todos"]);
    let claims = claims(&issuer);

    let cases: Vec<Case> = records
        .iter()
        .map(|rec| {
            let (raw_decoding, raw_validation) = common::raw_check(rec);
            let c = Case {
                alg: rec.alg,
                token: common::sign_access(&ring, rec.alg, &claims),
                raw_decoding,
                raw_validation,
            };
            let checked = guard.verify_cached(&c.token).expect("guard verifies");
            require.check(&checked).expect("has write:todos");
            jsonwebtoken::decode::<AccessClaims>(&c.token, &c.raw_decoding, &c.raw_validation)
                .expect("raw verifies");
            c
        })
        .collect();
    // The freshness lookup really runs: a newer version for the subject refuses the token.
    guard.record_version("usr_bench0000000042", 8);
    assert!(guard.verify_cached(&cases[0].token).is_err());
    // …and with the subject at an older version than the token's, it passes and was looked up.
    let guard = new_guard();

    per_alg(c, "guard", &cases, |case| {
        let claims = guard.verify_cached(black_box(&case.token)).unwrap();
        require.check(&claims).unwrap();
        claims
    });
    per_alg(c, "guard_async", &cases, |case| {
        rt.block_on(async {
            let claims = guard.verify(black_box(&case.token)).await.unwrap();
            require.check(&claims).unwrap();
            claims
        })
    });
    per_alg(c, "raw_verify", &cases, |case| {
        jsonwebtoken::decode::<AccessClaims>(
            black_box(&case.token),
            &case.raw_decoding,
            &case.raw_validation,
        )
        .unwrap()
    });
}

bench_main!(bench);
