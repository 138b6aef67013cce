//! writ-guard's token verification ([`writ_guard::Verifier::verify`]) with a real key set:
//! an ES256 and an EdDSA key generated at start (aws-lc-rs) and a fixed RS256 public key.
//!
//! Two kinds of input: arbitrary text as the token, and structured tokens whose header and
//! claims are JSON objects built from the input — each field left out, set to its expected
//! value, or to an arbitrary JSON value — base64url-encoded and signed with a real key (or
//! given a bad signature), so the fuzzer gets past the base64, JSON and signature layers to
//! the header rules and the claims. Invariants: never a panic; a token verifies only if the
//! target signed it with a key of the set under the algorithm pinned to that key's `kid`, and
//! then its claims have the issuer, the audience and an unexpired `exp`.
#![no_main]

use std::sync::LazyLock;

use arbitrary::{Arbitrary, Unstructured};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::{Algorithm, EncodingKey};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Number, Value, json};
use writ_guard::{KeySet, Verifier, VerifierConfig};

const ISSUER: &str = "https://writ.fuzz/";
const AUDIENCE: &str = "https://todos.fuzz/api";
const LEEWAY: u64 = 30;
/// A public RSA key (no private half exists anywhere): tokens naming it can never verify.
const RSA_N: &str = "q5VcTaOSiIS9Qb277KvJZYa8Xj1GAgCNC9IITJ5Swae3UiMHCmLk4EzucsV6Z7JO3zBt0mmIqjB5MhtvoIOgspW0fzQSeoBnEumg0cbgsOIaV1brxeBoHK2NLi3sOjH35qKM3bSsTu2w3-IoAszZo2j1MyeRU7LhO6k2jUofkY__BSFHoWZqr53QSs1Q1iQe_yfSz8JkOkaG5PriWEEZZEG8A8S066TOLXenAoLh7rJ7-6eUK3amdd77tOq2piy7A0Eyrui_3m75aOjnsXnv0lC6rzJBZY2eta7ymX7h_bDwnDhiKO4i-XQN5ZX_Gm85_6aKcB4hWy4aXoOl_UpxKw";

struct Keys {
    verifier: Verifier,
    es256: EncodingKey,
    eddsa: EncodingKey,
}

static KEYS: LazyLock<Keys> = LazyLock::new(|| {
    let rng = SystemRandom::new();
    let ec_doc =
        EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let ec = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, ec_doc.as_ref())
        .unwrap();
    let point = ec.public_key().as_ref(); // 0x04 || x || y
    let ed_doc = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let ed = Ed25519KeyPair::from_pkcs8(ed_doc.as_ref()).unwrap();
    let jwks = json!({"keys": [
        {"kty": "EC", "crv": "P-256", "kid": "es", "use": "sig", "alg": "ES256",
         "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..65])},
        {"kty": "OKP", "crv": "Ed25519", "kid": "ed", "use": "sig", "alg": "EdDSA",
         "x": B64.encode(ed.public_key().as_ref())},
        {"kty": "RSA", "kid": "rs", "use": "sig", "alg": "RS256", "n": RSA_N, "e": "AQAB"},
    ]});
    let keys = KeySet::from_jwks(&jwks).unwrap();
    assert_eq!(keys.len(), 3);
    let mut cfg = VerifierConfig::new(ISSUER, AUDIENCE);
    cfg.leeway_secs = LEEWAY;
    Keys {
        verifier: Verifier::new(cfg, keys),
        es256: EncodingKey::from_ec_der(ec_doc.as_ref()),
        eddsa: EncodingKey::from_ed_der(ed_doc.as_ref()),
    }
});

fn now() -> i64 {
    jsonwebtoken::get_current_timestamp() as i64
}

/// An arbitrary JSON value, shallow enough to stay cheap.
#[derive(Debug)]
struct Json(Value);

impl<'a> Arbitrary<'a> for Json {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        fn value(u: &mut Unstructured<'_>, depth: u32) -> arbitrary::Result<Value> {
            let kinds = if depth >= 3 { 6 } else { 8 };
            Ok(match u.choose_index(kinds)? {
                0 => Value::Null,
                1 => Value::Bool(u.arbitrary()?),
                2 => Value::from(u.arbitrary::<i64>()?),
                3 => Number::from_f64(u.arbitrary()?).map_or(Value::Null, Value::Number),
                4 => Value::String(u.arbitrary()?),
                5 => Value::from(u.arbitrary::<u64>()?),
                6 => {
                    let n = u.int_in_range(0..=4)?;
                    Value::Array(
                        (0..n)
                            .map(|_| value(u, depth + 1))
                            .collect::<Result<_, _>>()?,
                    )
                }
                _ => {
                    let n = u.int_in_range(0..=4)?;
                    let mut m = Map::new();
                    for _ in 0..n {
                        m.insert(u.arbitrary()?, value(u, depth + 1)?);
                    }
                    Value::Object(m)
                }
            })
        }
        value(u, 0).map(Json)
    }
}

/// One field of a header or claims object.
#[derive(Arbitrary, Debug)]
enum Field {
    /// Left out.
    Absent,
    /// The value a valid token has.
    Good,
    /// One of a few values close to the good one (another key, a near-expired `exp`…).
    Near(u8),
    /// Anything.
    Any(Json),
}

#[derive(Arbitrary, Debug)]
enum Signer {
    Es256,
    EdDsa,
}

#[derive(Arbitrary, Debug)]
enum Signature {
    /// A real signature over the token's first two parts.
    Valid,
    /// A real signature, then one byte of the token flipped.
    Flipped(u16),
    /// Arbitrary bytes.
    Bytes(Vec<u8>),
    /// No third part at all.
    Missing,
}

#[derive(Arbitrary, Debug)]
struct Structured {
    signer: Signer,
    alg: Field,
    kid: Field,
    typ: Field,
    /// `jku`, `jwk`, `x5u`, `x5c`, `crit`, `cty`: refused or ignored.
    header_extra: Vec<(u8, Json)>,
    iss: Field,
    sub: Field,
    aud: Field,
    exp: Field,
    nbf: Field,
    iat: Field,
    jti: Field,
    client_id: Field,
    azp: Field,
    scope: Field,
    permissions: Field,
    authz_ver: Field,
    claims_extra: Vec<(String, Json)>,
    /// Replace the claims with this JSON (a non-object, say), or the header.
    claims_raw: Option<Json>,
    header_raw: Option<Json>,
    signature: Signature,
}

#[derive(Arbitrary, Debug)]
enum Input {
    Raw(String),
    Structured(Box<Structured>),
}

fn set(obj: &mut Map<String, Value>, name: &str, field: &Field, good: Value, near: &[Value]) {
    let v = match field {
        Field::Absent => return,
        Field::Good => good,
        Field::Near(i) => near
            .get(usize::from(*i) % near.len().max(1))
            .cloned()
            .unwrap_or(good),
        Field::Any(Json(v)) => v.clone(),
    };
    obj.insert(name.to_owned(), v);
}

/// The token, and the key and algorithm it was really signed with when its signature is a
/// real one over its own first two parts.
fn build(s: &Structured, keys: &Keys) -> (String, Option<(&'static str, Algorithm)>) {
    let (kid, alg, key) = match s.signer {
        Signer::Es256 => ("es", Algorithm::ES256, &keys.es256),
        Signer::EdDsa => ("ed", Algorithm::EdDSA, &keys.eddsa),
    };
    let now = now();
    let mut h = Map::new();
    let alg_name = if alg == Algorithm::ES256 {
        "ES256"
    } else {
        "EdDSA"
    };
    set(
        &mut h,
        "alg",
        &s.alg,
        json!(alg_name),
        &[
            json!("ES256"),
            json!("EdDSA"),
            json!("RS256"),
            json!("HS256"),
            json!("none"),
            json!("ES384"),
            json!("PS256"),
            json!("es256"),
        ],
    );
    set(
        &mut h,
        "kid",
        &s.kid,
        json!(kid),
        &[json!("es"), json!("ed"), json!("rs"), json!("")],
    );
    set(
        &mut h,
        "typ",
        &s.typ,
        json!("at+jwt"),
        &[
            json!("JWT"),
            json!("application/at+jwt"),
            json!("AT+JWT"),
            json!("jwt"),
            json!(""),
        ],
    );
    for (which, Json(v)) in &s.header_extra {
        let name =
            ["jku", "jwk", "x5u", "x5c", "crit", "cty", "x5t", "b64"][usize::from(*which) % 8];
        h.insert(name.to_owned(), v.clone());
    }
    let mut c = Map::new();
    set(
        &mut c,
        "iss",
        &s.iss,
        json!(ISSUER),
        &[
            json!("https://writ.fuzz"),
            json!("https://other.fuzz/"),
            json!([ISSUER]),
        ],
    );
    set(
        &mut c,
        "sub",
        &s.sub,
        json!("usr_fuzz"),
        &[json!(""), json!("m2m@clients")],
    );
    set(
        &mut c,
        "aud",
        &s.aud,
        json!(AUDIENCE),
        &[
            json!([AUDIENCE, "https://writ.fuzz/api/v2/"]),
            json!([]),
            json!("https://other/api"),
            json!([["nested"]]),
        ],
    );
    set(
        &mut c,
        "exp",
        &s.exp,
        json!(now + 3600),
        &[
            json!(now - 3600),
            json!(now - LEEWAY as i64 + 5),
            json!(i64::MAX),
            json!(i64::MIN),
            json!(u64::MAX),
            json!(1.5e300),
            json!((now + 60) as f64 + 0.5),
            json!("9999999999"),
        ],
    );
    set(
        &mut c,
        "nbf",
        &s.nbf,
        json!(now - 10),
        &[
            json!(now + 3600),
            json!(i64::MIN),
            json!(u64::MAX),
            json!(-1.0),
        ],
    );
    set(
        &mut c,
        "iat",
        &s.iat,
        json!(now),
        &[json!(i64::MAX), json!("now"), json!(-1)],
    );
    set(
        &mut c,
        "jti",
        &s.jti,
        json!("jti-1"),
        &[json!(""), json!(7)],
    );
    set(
        &mut c,
        "client_id",
        &s.client_id,
        json!("demo-cli"),
        &[json!(null)],
    );
    set(
        &mut c,
        "azp",
        &s.azp,
        json!("demo-cli"),
        &[json!(["demo-cli"])],
    );
    set(
        &mut c,
        "scope",
        &s.scope,
        json!("openid read:todos"),
        &[json!(""), json!(["a"])],
    );
    set(
        &mut c,
        "permissions",
        &s.permissions,
        json!(["read:todos"]),
        &[json!([]), json!(null), json!("read:todos"), json!([1])],
    );
    set(
        &mut c,
        "authz_ver",
        &s.authz_ver,
        json!(3),
        &[json!(i64::MAX), json!(-1), json!(u64::MAX), json!(1.0)],
    );
    for (name, Json(v)) in &s.claims_extra {
        c.insert(name.clone(), v.clone());
    }
    let header = s
        .header_raw
        .as_ref()
        .map_or(Value::Object(h), |j| j.0.clone());
    let claims = s
        .claims_raw
        .as_ref()
        .map_or(Value::Object(c), |j| j.0.clone());
    let message = format!(
        "{}.{}",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string())
    );
    match &s.signature {
        Signature::Valid => {
            let sig = jsonwebtoken::crypto::sign(message.as_bytes(), key, alg).unwrap();
            (format!("{message}.{sig}"), Some((kid, alg)))
        }
        Signature::Flipped(at) => {
            let sig = jsonwebtoken::crypto::sign(message.as_bytes(), key, alg).unwrap();
            let mut token = format!("{message}.{sig}").into_bytes();
            let i = usize::from(*at) % token.len();
            // Another base64url character (or a dot), so the token stays text.
            token[i] = if token[i] == b'A' { b'B' } else { b'A' };
            (String::from_utf8(token).unwrap(), None)
        }
        Signature::Bytes(b) => (format!("{message}.{}", B64.encode(b)), None),
        Signature::Missing => (message, None),
    }
}

fuzz_target!(|data: &[u8]| {
    let keys = &*KEYS;
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let (token, signed) = match &input {
        Input::Raw(t) => (t.clone(), None),
        Input::Structured(s) => build(s, keys),
    };
    let result = keys.verifier.verify(&token);
    let Ok(claims) = result else {
        return;
    };

    // Verified: the target signed it, and the header named that key and its algorithm.
    let Some((kid, alg)) = signed else {
        panic!("a token the target did not sign verified: {token}");
    };
    let header = jsonwebtoken::decode_header(&token).expect("a verified token has a header");
    assert_eq!(header.kid.as_deref(), Some(kid), "{token}");
    assert_eq!(header.alg, alg, "{token}");
    assert!(header.jku.is_none() && header.jwk.is_none() && header.x5u.is_none());
    assert!(header.x5c.is_none() && header.crit.is_none());
    assert_eq!(claims.iss, ISSUER);
    assert!(claims.aud.contains(AUDIENCE), "{:?}", claims.aud);
    assert!(
        claims.exp.saturating_add(LEEWAY as i64) >= now(),
        "expired: {}",
        claims.exp
    );
});
