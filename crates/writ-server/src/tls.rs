//! Native TLS for the main listener (`WRIT_TLS_CERT` / `WRIT_TLS_KEY`), for deployments without
//! a TLS-terminating proxy in front: rustls over aws-lc-rs (the crypto the rest of Writ uses),
//! TLS 1.2 and 1.3, HTTP/2 and HTTP/1.1 offered by ALPN.
//!
//! The certificate is swapped without a restart: [`Certificates`] holds the current one
//! behind an [`ArcSwap`], rustls asks it for the certificate at every handshake
//! ([`ResolvesServerCert`]), and [`Certificates::reload`] (the binary calls it on SIGHUP)
//! reads both files again and swaps them in. Connections already open keep the certificate
//! they were made with; a reload that fails (a file missing, half written, or a key that is
//! not the certificate's) changes nothing and says why.
//!
//! [`TlsListener`] accepts TCP connections and runs each handshake in a task of its own, with
//! a time limit ([`HANDSHAKE_TIMEOUT`]): a slow or broken client (or a plain-HTTP request)
//! ends only its own connection, never the accept loop. Connections hand over to
//! `axum::serve` only once their handshake is done, so graceful shutdown, HTTP/2 and the
//! client's address work as on plain HTTP.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use writ_service::config::TlsFiles;

/// How long a client has to complete its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How many handshakes may be under way at once: past it, no connection is accepted until one
/// ends (connections wait in the kernel's backlog), so clients that connect and say nothing
/// cannot pile up tasks beyond this for the handshake timeout.
pub const MAX_PENDING_HANDSHAKES: usize = 1024;

/// The ALPN protocols offered, in the server's order of preference.
const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// Why the certificate or its key cannot be used; the message names the setting and the file.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TlsError(String);

/// The certificate the listener serves and where it comes from; cheap to clone (every clone
/// sees the same current certificate).
#[derive(Clone)]
pub struct Certificates {
    inner: Arc<Inner>,
}

struct Inner {
    files: TlsFiles,
    provider: Arc<CryptoProvider>,
    current: ArcSwap<CertifiedKey>,
}

impl std::fmt::Debug for Certificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificates")
            .field("cert", &self.inner.files.cert)
            .field("key", &self.inner.files.key)
            .finish_non_exhaustive()
    }
}

impl Certificates {
    /// Reads and checks both files (see [`load`]).
    pub fn load(files: &TlsFiles) -> Result<Self, TlsError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let key = load(files, &provider)?;
        Ok(Certificates {
            inner: Arc::new(Inner {
                files: files.clone(),
                provider,
                current: ArcSwap::from_pointee(key),
            }),
        })
    }

    /// Reads both files again and, when they are usable, serves them from the next handshake
    /// on. On an error the certificate served so far stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let key = load(&self.inner.files, &self.inner.provider)?;
        self.inner.current.store(Arc::new(key));
        Ok(())
    }

    /// The files, as configured.
    pub fn files(&self) -> &TlsFiles {
        &self.inner.files
    }

    /// The certificate served now, as DER (the end-entity certificate first).
    pub fn current_chain(&self) -> Vec<CertificateDer<'static>> {
        self.inner.current.load().cert.clone()
    }

    /// The rustls configuration: TLS 1.2 and 1.3, no client certificates, ALPN `h2` then
    /// `http/1.1`, the certificate from `self` at every handshake.
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let mut config = rustls::ServerConfig::builder_with_provider(self.inner.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError(format!("TLS: {e}")))?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(self.clone()));
        config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
        Ok(Arc::new(config))
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.inner.current.load_full())
    }
}

/// Reads the PEM certificate chain and private key of `files` and checks that they fit: the
/// key is one aws-lc-rs can sign with, and it is the end-entity certificate's. Errors name
/// the setting and the file, never the content.
pub fn load(files: &TlsFiles, provider: &CryptoProvider) -> Result<CertifiedKey, TlsError> {
    let read = |var: &str, path: &Path| {
        std::fs::read(path)
            .map_err(|e| TlsError(format!("{var} {}: cannot read it: {e}", path.display())))
    };
    let cert_pem = read("WRIT_TLS_CERT", &files.cert)?;
    let key_pem = read("WRIT_TLS_KEY", &files.key)?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error("WRIT_TLS_CERT", &files.cert, &e))?;
    if chain.is_empty() {
        return Err(TlsError(format!(
            "WRIT_TLS_CERT {}: no PEM certificate in it (-----BEGIN CERTIFICATE-----)",
            files.cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| match e {
        pem::Error::NoItemsFound => TlsError(format!(
            "WRIT_TLS_KEY {}: no PEM private key in it (PKCS #8, PKCS #1 or SEC1)",
            files.key.display()
        )),
        e => pem_error("WRIT_TLS_KEY", &files.key, &e),
    })?;
    CertifiedKey::from_der(chain, key, provider).map_err(|e| {
        TlsError(match e {
            rustls::Error::InconsistentKeys(_) => format!(
                "WRIT_TLS_KEY {} is not the private key of the certificate in WRIT_TLS_CERT {}",
                files.key.display(),
                files.cert.display()
            ),
            rustls::Error::InvalidCertificate(e) => format!(
                "WRIT_TLS_CERT {}: the first certificate cannot be read ({e:?})",
                files.cert.display()
            ),
            e => format!(
                "WRIT_TLS_KEY {}: the key cannot be used ({e})",
                files.key.display()
            ),
        })
    })
}

fn pem_error(var: &str, path: &Path, e: &pem::Error) -> TlsError {
    // The PEM errors name a marker line or a position, never key material.
    TlsError(format!("{var} {}: not valid PEM ({e})", path.display()))
}

/// A TCP listener whose connections are TLS, handed out once their handshake is done: the
/// listener `axum::serve` runs on when TLS is on. Handshakes run concurrently, each in its own
/// task, within [`HANDSHAKE_TIMEOUT`] and at most [`MAX_PENDING_HANDSHAKES`] at once; a failed
/// one is logged at debug level and dropped.
pub struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    handshakes: JoinSet<Option<(TlsStream<TcpStream>, SocketAddr)>>,
}

impl TlsListener {
    /// TLS over `tcp` with `config` (see [`Certificates::server_config`]).
    pub fn new(tcp: TcpListener, config: Arc<rustls::ServerConfig>) -> Self {
        TlsListener {
            tcp,
            acceptor: TlsAcceptor::from(config),
            handshakes: JoinSet::new(),
        }
    }

    fn start_handshake(&mut self, stream: TcpStream, peer: SocketAddr) {
        let acceptor = self.acceptor.clone();
        self.handshakes.spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => Some((tls, peer)),
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    None
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    None
                }
            }
        });
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    /// The next connection whose handshake succeeded. Cancel-safe: pending handshakes stay
    /// in the set (dropping the listener, at shutdown, aborts them).
    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            tokio::select! {
                accepted = self.tcp.accept(),
                    if self.handshakes.len() < MAX_PENDING_HANDSHAKES => match accepted {
                    Ok((stream, peer)) => self.start_handshake(stream, peer),
                    Err(e) => accept_error(e).await,
                },
                Some(done) = self.handshakes.join_next(), if !self.handshakes.is_empty() => {
                    if let Ok(Some(conn)) = done {
                        return conn;
                    }
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}

/// As `axum::serve` does for plain TCP: a connection that went away before it was accepted is
/// ignored; anything else (out of file descriptors) is logged and retried after a second.
async fn accept_error(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accept error");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    /// A self-signed certificate for `localhost` and its (P-256) key, as PEM.
    fn self_signed() -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    }

    #[test]
    fn loads_a_good_pair_and_names_what_is_wrong_otherwise() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = self_signed();
        let (other_cert, _) = self_signed();
        let files = |c: &str, k: &str| TlsFiles {
            cert: write(dir.path(), "c.pem", c),
            key: write(dir.path(), "k.pem", k),
        };
        let ok = Certificates::load(&files(&cert, &key)).unwrap();
        assert_eq!(ok.current_chain().len(), 1);
        ok.server_config().unwrap();
        let err = |c: &str, k: &str| Certificates::load(&files(c, k)).unwrap_err().0;
        let e = err("garbage", &key);
        assert!(
            e.contains("WRIT_TLS_CERT") && e.contains("no PEM certificate"),
            "{e}"
        );
        let e = err(&cert, "garbage");
        assert!(
            e.contains("WRIT_TLS_KEY") && e.contains("no PEM private key"),
            "{e}"
        );
        let e = err(&key, &cert);
        assert!(e.contains("WRIT_TLS_CERT"), "{e}");
        let e = err(&other_cert, &key);
        assert!(
            e.contains("is not the private key of the certificate"),
            "{e}"
        );
        let e = err(
            "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
            &key,
        );
        assert!(e.contains("not valid PEM"), "{e}");
        assert!(!e.contains("PRIVATE KEY"), "{e}");
        let missing = TlsFiles {
            cert: dir.path().join("nope.pem"),
            key: dir.path().join("k.pem"),
        };
        let e = Certificates::load(&missing).unwrap_err().0;
        assert!(e.contains("nope.pem: cannot read it"), "{e}");
    }

    #[test]
    fn a_failed_reload_keeps_the_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = self_signed();
        let files = TlsFiles {
            cert: write(dir.path(), "c.pem", &cert),
            key: write(dir.path(), "k.pem", &key),
        };
        let certs = Certificates::load(&files).unwrap();
        let before = certs.current_chain();
        // Half written: a new certificate, the old key.
        let (cert2, key2) = self_signed();
        write(dir.path(), "c.pem", &cert2);
        assert!(certs.reload().is_err());
        assert_eq!(certs.current_chain(), before);
        write(dir.path(), "k.pem", &key2);
        certs.reload().unwrap();
        assert_ne!(certs.current_chain(), before);
    }
}
