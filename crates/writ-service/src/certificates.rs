//! Self-signed X.509 certificates for the signing keys, in the shape Auth0's signing-keys API
//! answers with (`cert` PEM, `pkcs7` PEM, `fingerprint`, `thumbprint`): Auth0's SDKs parse
//! these fields, and some verifiers pin a key by its certificate.
//!
//! A certificate is made from the key itself (rcgen over aws-lc-rs, no hand-written crypto):
//! subject `CN=<issuer host>`, serial from the key id, valid from the key's creation for 20
//! years. ES256 signatures are randomized (two signings of one certificate differ), so a
//! certificate is made once per key, when it is first viewed, and its DER kept in the store
//! (`signing_keys.certificate`; the first node to write it wins a race): every node and every
//! restart shows the same certificate and fingerprint. Each process also caches it by kid.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine;
use rcgen::{CertificateParams, DnType, KeyPair, SerialNumber};
use sha1::Digest;
use writ_core::{SigningAlg, SigningKey};

use crate::Writ;

/// A signing key's certificate as Auth0 shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyCertificate {
    /// The certificate, PEM.
    pub cert: String,
    /// The certificate in a degenerate PKCS #7 SignedData (certificates only), PEM.
    pub pkcs7: String,
    /// SHA-1 of the certificate's DER, upper-case hex in pairs (`CC:FB:…`).
    pub fingerprint: String,
    /// SHA-1 of the certificate's DER, lower-case hex.
    pub thumbprint: String,
}

/// Certificates made so far, by key id.
#[derive(Default)]
pub struct CertificateCache {
    map: Mutex<HashMap<String, Arc<KeyCertificate>>>,
}

/// The certificate of `key`: the one kept in the store, else made now and kept (then cached
/// by this process); `None` when its private key cannot be opened, a certificate cannot be
/// made for it, or the store cannot be reached (logged).
pub async fn of(w: &Writ, key: &SigningKey) -> Option<Arc<KeyCertificate>> {
    if let Some(c) = w
        .certificates
        .map
        .lock()
        .expect("certificates")
        .get(&key.kid)
    {
        return Some(c.clone());
    }
    let kept = match stored_or_made(w, key).await {
        Ok(der) => der,
        Err(e) => {
            tracing::warn!(kid = %key.kid, error = %e, "no certificate for a signing key");
            return None;
        }
    };
    let c = Arc::new(from_der(&kept));
    w.certificates
        .map
        .lock()
        .expect("certificates")
        .insert(key.kid.clone(), c.clone());
    Some(c)
}

/// The DER of `key`'s kept certificate, made and kept first if there is none.
async fn stored_or_made(w: &Writ, key: &SigningKey) -> Result<Vec<u8>, String> {
    if let Some(der) = w
        .store
        .key_certificate(&key.kid)
        .await
        .map_err(|e| e.to_string())?
    {
        return Ok(der);
    }
    let pkcs8 = w
        .cipher
        .open(&key.kid, &key.private_der)
        .ok_or_else(|| "the private key cannot be opened".to_owned())?;
    let made = make_der(
        &pkcs8,
        key.alg,
        &key.kid,
        &subject(&w.config.issuer),
        &key.created_at,
    )?;
    w.store
        .keep_key_certificate(&key.kid, &made)
        .await
        .map_err(|e| e.to_string())
}

/// The certificate's common name: the issuer's host (`writ.example.com`).
fn subject(issuer: &str) -> String {
    url::Url::parse(issuer)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| issuer.to_owned())
}

/// Makes the self-signed certificate of the PKCS #8 key `pkcs8`.
pub fn make(
    pkcs8: &[u8],
    alg: SigningAlg,
    kid: &str,
    common_name: &str,
    created_at: &str,
) -> Result<KeyCertificate, String> {
    Ok(from_der(&make_der(
        pkcs8,
        alg,
        kid,
        common_name,
        created_at,
    )?))
}

/// Makes the DER of the self-signed certificate of the PKCS #8 key `pkcs8`.
fn make_der(
    pkcs8: &[u8],
    alg: SigningAlg,
    kid: &str,
    common_name: &str,
    created_at: &str,
) -> Result<Vec<u8>, String> {
    let sign_alg = match alg {
        SigningAlg::RS256 => &rcgen::PKCS_RSA_SHA256,
        SigningAlg::ES256 => &rcgen::PKCS_ECDSA_P256_SHA256,
        SigningAlg::EdDSA => &rcgen::PKCS_ED25519,
    };
    let der = rustls_pki_types::PrivatePkcs8KeyDer::from(pkcs8);
    let key = KeyPair::from_pkcs8_der_and_sign_algo(&der, sign_alg).map_err(|e| e.to_string())?;
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(|e| e.to_string())?;
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    // A positive serial of 16 bytes derived from the key id.
    let mut serial = sha2::Sha256::digest(kid.as_bytes())[..16].to_vec();
    serial[0] &= 0x7f;
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    let (y, m, d) = ymd(created_at);
    params.not_before = rcgen::date_time_ymd(y, m, d);
    params.not_after = rcgen::date_time_ymd(y + 20, m, d);
    let cert = params.self_signed(&key).map_err(|e| e.to_string())?;
    Ok(cert.der().to_vec())
}

/// A certificate's Auth0 fields from its DER.
pub fn from_der(der: &[u8]) -> KeyCertificate {
    let sha1 = sha1::Sha1::digest(der);
    KeyCertificate {
        // Line feeds, as rcgen writes it; the PKCS #7 keeps Auth0's CRLF.
        cert: pem("CERTIFICATE", der).replace("\r\n", "\n"),
        pkcs7: pem("PKCS7", &pkcs7_of(der)),
        fingerprint: sha1
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":"),
        thumbprint: sha1.iter().map(|b| format!("{b:02x}")).collect(),
    }
}

/// Year, month, day of an RFC 3339 time (`2026-12-04T…`); 2026-01-01 if unreadable.
fn ymd(t: &str) -> (i32, u8, u8) {
    let year = t.get(0..4).and_then(|s| s.parse::<i32>().ok());
    let month = t.get(5..7).and_then(|s| s.parse::<u8>().ok());
    let day = t.get(8..10).and_then(|s| s.parse::<u8>().ok());
    match (year, month, day) {
        (Some(y), Some(m), Some(d)) if (1..=12).contains(&m) && d >= 1 => (y, m, d.min(28)),
        _ => (2026, 1, 1),
    }
}

/// A DER element: `tag`, its length, `content`.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes: Vec<u8> = n
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

/// RFC 2315's degenerate SignedData carrying one certificate (`openssl crl2pkcs7 -nocrl`):
/// `ContentInfo { signedData, [0] SignedData { 1, {}, { data }, [0] { cert }, {} } }`.
fn pkcs7_of(cert_der: &[u8]) -> Vec<u8> {
    const SIGNED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];
    const DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01];
    let signed = [
        tlv(0x02, &[1]),
        tlv(0x31, &[]),
        tlv(0x30, &tlv(0x06, DATA)),
        tlv(0xa0, cert_der),
        tlv(0x31, &[]),
    ]
    .concat();
    tlv(
        0x30,
        &[tlv(0x06, SIGNED_DATA), tlv(0xa0, &tlv(0x30, &signed))].concat(),
    )
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\r\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push_str("\r\n");
    }
    out.push_str(&format!("-----END {label}-----\r\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_algorithm_gets_a_certificate_rsa_and_eddsa_the_same_every_time() {
        for alg in SigningAlg::ALL {
            let (pkcs8, _) = crate::signing_keys::generate(alg, "kid-1").unwrap();
            let a = make(&pkcs8, alg, "kid-1", "writ.example", "2026-12-04T10:00:00Z").unwrap();
            assert!(a.cert.starts_with("-----BEGIN CERTIFICATE-----"), "{alg:?}");
            assert!(a.pkcs7.starts_with("-----BEGIN PKCS7-----"));
            assert_eq!(a.fingerprint.len(), 59);
            assert_eq!(a.thumbprint, a.fingerprint.replace(':', "").to_lowercase());
            let b = make(&pkcs8, alg, "kid-1", "writ.example", "2026-12-04T10:00:00Z").unwrap();
            if alg != SigningAlg::ES256 {
                assert_eq!(a, b, "{alg:?}");
            }
            // Read back from its DER (as kept in the store), it is the same certificate.
            let der =
                make_der(&pkcs8, alg, "kid-1", "writ.example", "2026-12-04T10:00:00Z").unwrap();
            let kept = from_der(&der);
            assert_eq!(from_der(&der), kept);
            assert!(kept.cert.starts_with("-----BEGIN CERTIFICATE-----\n"));
            if alg != SigningAlg::ES256 {
                assert_eq!(kept, a, "{alg:?}");
            }
        }
    }

    #[test]
    fn the_pkcs7_wraps_the_certificate() {
        let cert = vec![0x30, 0x03, 0x02, 0x01, 0x05];
        let p = pkcs7_of(&cert);
        assert_eq!(p[0], 0x30);
        assert!(p.windows(cert.len()).any(|w| w == cert.as_slice()));
        let long = vec![0xab; 300];
        assert_eq!(&tlv(0x04, &long)[..4], &[0x04, 0x82, 0x01, 0x2c]);
    }

    #[test]
    fn dates_are_read_or_defaulted() {
        assert_eq!(ymd("2026-12-04T10:00:00Z"), (2026, 12, 4));
        assert_eq!(ymd("2024-02-30T00:00:00Z"), (2024, 2, 28));
        assert_eq!(ymd("soon"), (2026, 1, 1));
    }
}
