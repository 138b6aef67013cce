//! Native TLS (`WRIT_TLS_CERT` / `WRIT_TLS_KEY`) on the real binary, with certificates the test
//! makes (rcgen: a CA and a server certificate for 127.0.0.1 and localhost) and a real client
//! that trusts that CA only (reqwest over rustls, no `danger_*`): discovery and a client
//! credentials token over HTTP/1.1 and HTTP/2 (negotiated by ALPN); a plain-HTTP request to the
//! TLS port fails cleanly and the server carries on; SIGHUP swaps in a certificate from another
//! CA for new connections while an HTTP/2 connection opened before goes on with its own; a
//! broken reload keeps the certificate and says why; SIGTERM lets a request in flight over TLS
//! finish, then ends promptly with idle connections still open. On SQLite and PostgreSQL. And `writ config check` / `writ serve` on bad files.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SerialNumber,
};
use reqwest::Version;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{PgTestDb, client_credentials, free_port, until_ready, writ};

const KEK: &str = "dGxzLXRlc3Qta2V5LWVuY3J5cHRpb24ta2V5LTMyYiE";
const OPS: (&str, &str) = ("tls-ops", "tls-ops-secret-0123456789abcdef");

/// A certificate authority of the test's own.
struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A server certificate (PEM, and DER to compare with what a client was shown) and its key.
struct Leaf {
    cert_pem: String,
    key_pem: String,
    der: Vec<u8>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        Ca {
            issuer: CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap(),
        }
    }

    /// A certificate for 127.0.0.1 and localhost with `serial`, signed by this CA.
    fn leaf(&self, serial: u64) -> Leaf {
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
        params.serial_number = Some(SerialNumber::from(serial));
        params
            .distinguished_name
            .push(DnType::CommonName, format!("writ test {serial}"));
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }

    /// A client that trusts this CA and nothing else, and reports the peer's certificate.
    fn client(&self) -> reqwest::ClientBuilder {
        let root = reqwest::Certificate::from_der(self.issuer.der()).unwrap();
        reqwest::Client::builder()
            .tls_certs_only([root])
            .tls_info(true)
            .timeout(Duration::from_secs(20))
    }
}

/// The certificate the server presented on the connection that answered `r`.
fn peer_cert(r: &reqwest::Response) -> Vec<u8> {
    r.extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|i| i.peer_certificate())
        .expect("TLS info with the peer's certificate")
        .to_vec()
}

fn write_pair(dir: &Path, leaf: &Leaf) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("tls-cert.pem"), dir.join("tls-key.pem"));
    std::fs::write(&cert, &leaf.cert_pem).unwrap();
    std::fs::write(&key, &leaf.key_pem).unwrap();
    (cert, key)
}

/// `writ serve` over TLS, its stderr in `dir/log`; killed when dropped.
struct TlsServer {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl TlsServer {
    async fn start(dir: &Path, ca: &Ca, extra: &[(&str, &str)]) -> TlsServer {
        let port = free_port();
        let base = format!("https://127.0.0.1:{port}");
        let log = dir.join("log");
        let child = writ(dir, port, &["serve"], extra)
            .env("WRIT_ISSUER", format!("{base}/"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut server = TlsServer { child, base, log };
        let http = ca.client().build().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = http.get(format!("{}/healthz", server.base)).send().await
                && r.status() == 200
            {
                return server;
            }
            let exited = server.child.try_wait().unwrap();
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "not ready ({exited:?}): {}",
                server.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn signal(&self, sig: &str) {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args([sig, &pid])
                .status()
                .unwrap()
                .success()
        );
    }

    /// Waits until the log has `n` lines containing `needle`.
    async fn wait_log(&self, needle: &str, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.log().matches(needle).count() < n {
            assert!(
                Instant::now() < deadline,
                "no {needle:?} (x{n}) in the log: {}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn discovery_and_token(http: &reqwest::Client, base: &str, version: Version) {
    let r = http
        .get(format!("{base}/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.version(), version);
    assert_eq!(r.status(), 200);
    let d: Value = r.json().await.unwrap();
    assert_eq!(d["issuer"], format!("{base}/"));
    assert_eq!(d["token_endpoint"], format!("{base}/oauth/token"));
    let aud = format!("{base}/api/v2/");
    let r = client_credentials(http, base, OPS, &aud)
        .send()
        .await
        .unwrap();
    assert_eq!(r.version(), version);
    assert_eq!(r.status(), 200);
    let t: Value = r.json().await.unwrap();
    assert_eq!(t["token_type"], "Bearer");
    // The token works against the Management API, on the same connection kind.
    let r = http
        .get(format!("{base}/api/v2/clients"))
        .bearer_auth(t["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.version(), version);
    assert_eq!(r.status(), 200);
}

/// Plain HTTP to the TLS port: no HTTP answer, the connection closed at once (not left hanging).
fn plain_http_is_refused(base: &str) {
    use std::io::{Read, Write};
    let host = base.strip_prefix("https://").unwrap();
    let mut s = std::net::TcpStream::connect(host).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // The server may close before the whole request is written: a broken pipe or a reset
    // here is that close, not a failure.
    if let Err(e) = write!(
        s,
        "GET /healthz HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    ) {
        use std::io::ErrorKind::{BrokenPipe, ConnectionReset};
        assert!(matches!(e.kind(), BrokenPipe | ConnectionReset), "{e}");
        return;
    }
    let mut buf = Vec::new();
    let started = Instant::now();
    // The server closes (or resets) the connection; a read timeout would mean it hangs.
    match s.read_to_end(&mut buf) {
        Ok(_) => {}
        Err(e) => assert_ne!(e.kind(), std::io::ErrorKind::WouldBlock, "{e}"),
    }
    assert!(started.elapsed() < Duration::from_secs(4));
    assert!(
        !buf.starts_with(b"HTTP/"),
        "{:?}",
        String::from_utf8_lossy(&buf)
    );
}

async fn tls_end_to_end(db: &str) {
    let dir = tempfile::tempdir().unwrap();
    let ca1 = Ca::new("writ test CA 1");
    let leaf1 = ca1.leaf(1);
    let (cert, key) = write_pair(dir.path(), &leaf1);
    let env = [
        ("WRIT_DATABASE_URL", db),
        ("WRIT_KEY_ENCRYPTION_KEY", KEK),
        ("WRIT_BOOTSTRAP_CLIENT_ID", OPS.0),
        ("WRIT_BOOTSTRAP_CLIENT_SECRET", OPS.1),
        ("WRIT_TLS_CERT", cert.to_str().unwrap()),
        ("WRIT_TLS_KEY", key.to_str().unwrap()),
    ];
    let server = TlsServer::start(dir.path(), &ca1, &env).await;
    let base = server.base.clone();

    // 1. HTTP/2 by ALPN, and an HTTP/1.1-only client.
    let h2 = ca1.client().build().unwrap();
    discovery_and_token(&h2, &base, Version::HTTP_2).await;
    let h1 = ca1.client().http1_only().build().unwrap();
    discovery_and_token(&h1, &base, Version::HTTP_11).await;
    // A client that does not trust the CA refuses the server.
    let stranger = Ca::new("another CA").client().build().unwrap();
    assert!(
        stranger
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_err()
    );

    // 2. Plain HTTP to the TLS port fails, and the server goes on serving.
    plain_http_is_refused(&base);
    let r = h1.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        reqwest::get(format!("http{}/healthz", &base[5..]))
            .await
            .is_err()
    );
    // Over HTTP/2, once the node is ready (on PostgreSQL, once its `LISTEN` connection is up).
    until_ready(&h2, &base).await;

    // 3. Reload. An HTTP/2 connection opened now, kept in `kept`, which trusts CA 1 only.
    let kept = ca1.client().build().unwrap();
    let r = kept.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(r.version(), Version::HTTP_2);
    assert_eq!(peer_cert(&r), leaf1.der);
    // A new certificate, with a new key, from another CA.
    let ca2 = Ca::new("writ test CA 2");
    let leaf2 = ca2.leaf(2);
    write_pair(dir.path(), &leaf2);
    server.signal("-HUP");
    let fresh = || ca2.client().pool_max_idle_per_host(0).build().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(r) = fresh().get(format!("{base}/healthz")).send().await {
            assert_eq!(peer_cert(&r), leaf2.der);
            break;
        }
        assert!(Instant::now() < deadline, "not reloaded: {}", server.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.wait_log("TLS certificate reloaded", 1).await;
    // New handshakes present the new certificate: CA 1 alone no longer verifies them.
    let r = fresh().get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(peer_cert(&r), leaf2.der);
    assert_eq!(r.version(), Version::HTTP_2);
    let e = ca1
        .client()
        .build()
        .unwrap()
        .get(format!("{base}/healthz"))
        .send()
        .await
        .unwrap_err();
    assert!(e.is_connect(), "{e:?}");
    // The connection opened before the reload still serves requests, with the old certificate
    // (a new connection would have failed: `kept` trusts CA 1 only).
    for _ in 0..3 {
        let r = kept
            .get(format!("{base}/.well-known/jwks.json"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.version(), Version::HTTP_2);
        assert_eq!(peer_cert(&r), leaf1.der);
    }
    discovery_and_token(&fresh(), &base, Version::HTTP_2).await;

    // 4. A broken reload (garbage certificate) keeps the certificate and logs an error; then a
    // key that is not the certificate's, the same.
    std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n").unwrap();
    server.signal("-HUP");
    server.wait_log("TLS certificate not reloaded", 1).await;
    let leaf3 = ca2.leaf(3);
    std::fs::write(&cert, &leaf3.cert_pem).unwrap();
    server.signal("-HUP");
    server.wait_log("TLS certificate not reloaded", 2).await;
    let log = server.log();
    assert!(log.contains("WRIT_TLS_CERT"), "{log}");
    assert!(
        log.contains("is not the private key of the certificate"),
        "{log}"
    );
    assert!(log.contains("ERROR"), "{log}");
    assert!(!log.contains("PRIVATE KEY"), "no key material logged");
    let r = fresh().get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(peer_cert(&r), leaf2.der, "the previous certificate is kept");
    assert_eq!(server.log().matches("TLS certificate reloaded").count(), 1);
    // Both files fixed: reloaded.
    std::fs::write(&key, &leaf3.key_pem).unwrap();
    server.signal("-HUP");
    server.wait_log("TLS certificate reloaded", 2).await;
    let r = fresh().get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(peer_cert(&r), leaf3.der);

    // SIGTERM during a request (its body half sent, over TLS), with HTTP/2 and HTTP/1.1
    // connections open and idle: the request completes, then a prompt, clean exit.
    let mut conn = raw_tls(&base, &ca2).await;
    let aud = format!("{base}/api/v2/");
    let body = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}&audience={}",
        OPS.0,
        OPS.1,
        url_encode(&aud)
    );
    let (first, rest) = body.split_at(body.len() / 2);
    let host = base.strip_prefix("https://").unwrap();
    let head = format!(
        "POST /oauth/token HTTP/1.1\r\nHost: {host}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    conn.write_all(format!("{head}{first}").as_bytes())
        .await
        .unwrap();
    conn.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut server = server;
    server.signal("-TERM");
    server.wait_log("shutting down", 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(server.child.try_wait().unwrap().is_none(), "waits for it");
    conn.write_all(rest.as_bytes()).await.unwrap();
    conn.flush().await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut answer))
        .await
        .expect("the answer, then the connection closed")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    assert!(answer.contains("\"access_token\""), "{answer}");
    let started = Instant::now();
    let status = loop {
        if let Some(s) = server.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "still running: {}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "{}", server.log());
    assert!(server.log().contains("stopped"));
    drop((kept, h1, h2));
}

/// A TLS connection to `base` (HTTP/1.1 by ALPN) trusting `ca` only, for requests written by
/// hand.
async fn raw_tls(base: &str, ca: &Ca) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    use tokio_rustls::rustls;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.issuer.der().clone()).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let host = base.strip_prefix("https://").unwrap();
    let tcp = tokio::net::TcpStream::connect(host).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(name, tcp)
        .await
        .unwrap()
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_http2_and_reload_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/writ.db", dir.path().display());
    tls_end_to_end(&db).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_http2_and_reload_on_postgres() {
    let pg = PgTestDb::create("writ_tls").await;
    tls_end_to_end(&pg.url).await;
}

/// `writ config check` reads the files (`writ serve` too): a missing file, garbage, a key that
/// is not the certificate's, one setting without the other: exit 2 and one clear line.
#[test]
fn config_check_reads_the_tls_files() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("writ test CA");
    let leaf = ca.leaf(7);
    let other = ca.leaf(8);
    let (cert, key) = write_pair(dir.path(), &leaf);
    let (c, k) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let run = |args: &[&str], vars: &[(&str, &str)]| {
        writ(dir.path(), free_port(), args, vars)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    };
    let out = run(
        &["config", "check"],
        &[("WRIT_TLS_CERT", c), ("WRIT_TLS_KEY", k)],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok\n");
    let shown = run(
        &["config", "show"],
        &[("WRIT_TLS_CERT", c), ("WRIT_TLS_KEY", k)],
    );
    let shown = String::from_utf8_lossy(&shown.stdout).into_owned();
    assert!(shown.contains(&format!("tls_key = \"{k}\"")), "{shown}");
    assert!(!shown.contains("PRIVATE KEY"), "{shown}");

    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "hello\n").unwrap();
    let mismatched = dir.path().join("other-key.pem");
    std::fs::write(&mismatched, &other.key_pem).unwrap();
    let (g, m) = (garbage.to_str().unwrap(), mismatched.to_str().unwrap());
    let cases: [(&[(&str, &str)], &str); 6] = [
        (
            &[
                ("WRIT_TLS_CERT", "/nonexistent/cert.pem"),
                ("WRIT_TLS_KEY", k),
            ],
            "WRIT_TLS_CERT /nonexistent/cert.pem: cannot read it",
        ),
        (
            &[("WRIT_TLS_CERT", g), ("WRIT_TLS_KEY", k)],
            "no PEM certificate",
        ),
        (
            &[("WRIT_TLS_CERT", c), ("WRIT_TLS_KEY", g)],
            "no PEM private key",
        ),
        (
            &[("WRIT_TLS_CERT", c), ("WRIT_TLS_KEY", m)],
            "is not the private key of the certificate",
        ),
        (
            &[("WRIT_TLS_CERT", k), ("WRIT_TLS_KEY", k)],
            "no PEM certificate",
        ),
        (&[("WRIT_TLS_CERT", c)], "set both"),
    ];
    for (vars, expect) in cases {
        for args in [&["config", "check"][..], &["serve"][..]] {
            let out = run(args, vars);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?} {vars:?}: {err}");
            assert!(err.contains(expect), "{args:?} {vars:?}: {err}");
            assert_eq!(err.trim().lines().count(), 1, "{err}");
            assert!(err.starts_with("writ: configuration error: "), "{err}");
            assert!(!err.contains("PRIVATE KEY"), "{err}");
            assert!(out.stdout.is_empty());
        }
    }
}
