//! writ-guard against the RFC 8725 attack list: each forged or misused token is refused, and
//! malformed input never panics.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use writ_guard::{KeySet, Verifier, VerifierConfig, VerifyError};

#[cfg(feature = "remote")]
mod remote;

const ISS: &str = "https://auth.example/";
const AUD: &str = "https://todos.example/api";

struct Key {
    kid: &'static str,
    alg: Algorithm,
    enc: EncodingKey,
    jwk: Value,
}

fn pem(der: &[u8]) -> Vec<u8> {
    let b = base64::engine::general_purpose::STANDARD.encode(der);
    format!("-----BEGIN PRIVATE KEY-----\n{b}\n-----END PRIVATE KEY-----\n").into_bytes()
}

fn key(alg: Algorithm, kid: &'static str) -> Key {
    let enc = match alg {
        Algorithm::ES256 => {
            let der = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
                .unwrap()
                .to_pkcs8v1()
                .unwrap();
            EncodingKey::from_ec_pem(&pem(der.as_ref())).unwrap()
        }
        Algorithm::EdDSA => {
            let der = Ed25519KeyPair::generate().unwrap().to_pkcs8v1().unwrap();
            EncodingKey::from_ed_pem(&pem(der.as_ref())).unwrap()
        }
        Algorithm::RS256 => {
            let kp = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
            EncodingKey::from_rsa_pem(&pem(kp.as_der().unwrap().as_ref())).unwrap()
        }
        _ => unreachable!(),
    };
    let mut jwk = Jwk::from_encoding_key(&enc, alg).unwrap();
    jwk.common.key_id = Some(kid.into());
    Key {
        kid,
        alg,
        enc,
        jwk: serde_json::to_value(jwk).unwrap(),
    }
}

fn claims() -> Value {
    let now = jsonwebtoken::get_current_timestamp() as i64;
    json!({"iss": ISS, "sub": "usr_1", "aud": AUD, "iat": now, "exp": now + 600, "jti": "j", "client_id": "c", "azp": "c",
           "scope": "read:todos", "permissions": ["read:todos"], "authz_ver": 3})
}

fn sign(k: &Key, typ: &str, claims: &Value) -> String {
    let mut h = Header::new(k.alg);
    h.kid = Some(k.kid.into());
    h.typ = Some(typ.into());
    jsonwebtoken::encode(&h, claims, &k.enc).unwrap()
}

fn verifier(keys: &[&Key]) -> Verifier {
    let jwks = json!({"keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()});
    Verifier::new(
        VerifierConfig::new(ISS, AUD),
        KeySet::from_jwks(&jwks).unwrap(),
    )
}

/// Builds a token from raw header and payload JSON and a given signature.
fn raw(header: Value, payload: &Value, sig: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        B64.encode(header.to_string()),
        B64.encode(payload.to_string()),
        B64.encode(sig)
    )
}

#[test]
fn valid_tokens_verify_for_every_algorithm() {
    for (alg, kid) in [
        (Algorithm::RS256, "r"),
        (Algorithm::ES256, "e"),
        (Algorithm::EdDSA, "o"),
    ] {
        let k = key(alg, kid);
        let v = verifier(&[&k]);
        let c = v.verify(&sign(&k, "at+jwt", &claims())).unwrap();
        assert_eq!(c.sub, "usr_1");
        assert_eq!(c.authz_ver, Some(3));
        assert!(c.has_permission("read:todos"));
    }
}

#[test]
fn attack_list_is_refused() {
    let es = key(Algorithm::ES256, "e");
    let other = key(Algorithm::ES256, "x");
    let v = verifier(&[&es]);
    let c = claims();
    // alg none, unsigned.
    let none = raw(json!({"alg": "none", "typ": "at+jwt", "kid": "e"}), &c, b"");
    assert!(v.verify(&none).is_err());
    // HS256 "signed" with the public key as the HMAC secret.
    let hs_key = EncodingKey::from_secret(es.jwk.to_string().as_bytes());
    let mut h = Header::new(Algorithm::HS256);
    h.kid = Some("e".into());
    h.typ = Some("at+jwt".into());
    let hs = jsonwebtoken::encode(&h, &c, &hs_key).unwrap();
    assert_eq!(v.verify(&hs).unwrap_err(), VerifyError::Algorithm);
    // Header-supplied keys.
    for extra in [
        json!({"jku": "https://evil.example/jwks"}),
        json!({"x5u": "https://evil.example/c"}),
        json!({"jwk": other.jwk}),
    ] {
        let mut h = Header::new(Algorithm::ES256);
        h.kid = Some("e".into());
        h.typ = Some("at+jwt".into());
        let mut hv = serde_json::to_value(&h).unwrap();
        hv.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let t = sign(&es, "at+jwt", &c);
        let sig = B64.decode(t.rsplit('.').next().unwrap()).unwrap();
        assert!(matches!(
            v.verify(&raw(hv, &c, &sig)),
            Err(VerifyError::Header(_))
        ));
    }
    // Signed by a key the verifier does not know (kid unknown, or a known kid with another key).
    assert_eq!(
        v.verify(&sign(&other, "at+jwt", &c)).unwrap_err(),
        VerifyError::UnknownKey
    );
    let mut forged = Header::new(Algorithm::ES256);
    forged.kid = Some("e".into());
    forged.typ = Some("at+jwt".into());
    assert_eq!(
        v.verify(&jsonwebtoken::encode(&forged, &c, &other.enc).unwrap())
            .unwrap_err(),
        VerifyError::Signature
    );
    // Tampered payload.
    let t = sign(&es, "at+jwt", &c);
    let parts: Vec<&str> = t.split('.').collect();
    let mut evil = c.clone();
    evil["permissions"] = json!(["delete:todos"]);
    let tampered = format!("{}.{}.{}", parts[0], B64.encode(evil.to_string()), parts[2]);
    assert_eq!(v.verify(&tampered).unwrap_err(), VerifyError::Signature);
}

#[test]
fn claims_and_type_rules() {
    let k = key(Algorithm::EdDSA, "o");
    let v = verifier(&[&k]);
    let mut c = claims();
    // An ID token (typ JWT) is not an access token; legacy typ only when allowed.
    assert_eq!(
        v.verify(&sign(&k, "JWT", &c)).unwrap_err(),
        VerifyError::Type
    );
    let mut cfg = VerifierConfig::new(ISS, AUD);
    cfg.allow_legacy_typ = true;
    let legacy = Verifier::new(cfg, KeySet::from_jwks(&json!({"keys": [k.jwk]})).unwrap());
    assert!(legacy.verify(&sign(&k, "JWT", &c)).is_ok());
    c["aud"] = json!("https://other.example/");
    assert_eq!(
        v.verify(&sign(&k, "at+jwt", &c)).unwrap_err(),
        VerifyError::Audience
    );
    c["aud"] = json!(["https://other.example/", AUD]);
    assert!(
        v.verify(&sign(&k, "at+jwt", &c)).is_ok(),
        "aud array containing the API"
    );
    let mut c = claims();
    c["iss"] = json!("https://auth.example");
    assert_eq!(
        v.verify(&sign(&k, "at+jwt", &c)).unwrap_err(),
        VerifyError::Issuer,
        "exact iss, trailing slash included"
    );
    let mut c = claims();
    c["exp"] = json!(jsonwebtoken::get_current_timestamp() as i64 - 120);
    assert_eq!(
        v.verify(&sign(&k, "at+jwt", &c)).unwrap_err(),
        VerifyError::Expired
    );
    let mut c = claims();
    c["exp"] = json!("tomorrow");
    assert!(
        v.verify(&sign(&k, "at+jwt", &c)).is_err(),
        "wrongly typed exp"
    );
    let mut c = claims();
    c.as_object_mut().unwrap().remove("exp");
    assert!(v.verify(&sign(&k, "at+jwt", &c)).is_err(), "exp required");
    let mut c = claims();
    c["nbf"] = json!(jsonwebtoken::get_current_timestamp() as i64 + 3600);
    assert_eq!(
        v.verify(&sign(&k, "at+jwt", &c)).unwrap_err(),
        VerifyError::NotYetValid
    );
}

#[test]
fn malformed_and_oversized_input_is_refused_without_panic() {
    let k = key(Algorithm::ES256, "e");
    let v = verifier(&[&k]);
    let huge = format!("{}.{}.{}", "a".repeat(5000), "b".repeat(5000), "c");
    assert_eq!(v.verify(&huge).unwrap_err(), VerifyError::TooLarge);
    for bad in [
        "",
        ".",
        "..",
        "a.b.c",
        "a.b",
        "🦀.🦀.🦀",
        "eyJhbGciOiJFUzI1NiJ9..",
        "eyJ0eXAiOiJhdCtqd3QiLCJhbGciOiJFUzI1NiIsImtpZCI6ImUifQ.e30.AAAA",
    ] {
        assert!(v.verify(bad).is_err(), "{bad}");
    }
}

#[test]
fn key_rotation_swaps_keys_atomically() {
    let a = key(Algorithm::ES256, "a");
    let b = key(Algorithm::ES256, "b");
    let v = verifier(&[&a]);
    let tb = sign(&b, "at+jwt", &claims());
    assert!(v.verify(&tb).is_err());
    v.set_keys(KeySet::from_jwks(&json!({"keys": [a.jwk, b.jwk]})).unwrap());
    assert!(v.verify(&tb).is_ok());
    assert!(v.knows_kid("a") && v.knows_kid("b"));
}
