//! Starting a node: open the store (SQLite, creating its folder, or PostgreSQL), read or create
//! the key-encryption key, provision what must exist (keys, the Management API, the bootstrap
//! and console clients) and build the [`Writ`] handle.

use std::path::Path;

use crate::{Config, Writ, bootstrap, crypto};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("database {url}: {source}")]
    Database {
        url: String,
        source: writ_store::StoreError,
    },
    #[error("{0}")]
    Io(String),
}

/// Reads or creates the key-encryption key: from config, else a file beside the database.
fn key_cipher(config: &Config) -> Result<crypto::KeyCipher, StartError> {
    if let Some(k) = &config.key_encryption_key {
        return Ok(crypto::KeyCipher::new(k));
    }
    let Some(db) = config.sqlite_path() else {
        // In-memory databases keep their keys in memory too: a random key is enough.
        let mut k = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut k);
        return Ok(crypto::KeyCipher::new(&k));
    };
    let path = db.with_extension("kek");
    let read = |p: &Path| -> Result<Option<[u8; 32]>, StartError> {
        match std::fs::read_to_string(p) {
            Ok(s) => crypto::decode_kek(&s)
                .map(Some)
                .ok_or_else(|| StartError::Io(format!("{} is not a valid key file", p.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StartError::Io(format!("cannot read {}: {e}", p.display()))),
        }
    };
    if let Some(k) = read(&path)? {
        return Ok(crypto::KeyCipher::new(&k));
    }
    let text = crypto::random_token(32);
    write_private(&path, &text)
        .map_err(|e| StartError::Io(format!("cannot write {}: {e}", path.display())))?;
    Ok(crypto::KeyCipher::new(
        &crypto::decode_kek(&text).expect("fresh key decodes"),
    ))
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts.open(path)?.write_all(text.as_bytes())
}

/// Creates the folder of a SQLite database file, if missing.
pub fn ensure_database_folder(config: &Config) -> Result<(), StartError> {
    if let Some(p) = config.sqlite_path()
        && let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir).map_err(|e| {
            StartError::Io(format!(
                "cannot create database folder {}: {e}",
                dir.display()
            ))
        })?;
    }
    Ok(())
}

/// Opens the store (SQLite, creating its folder, or PostgreSQL), provisions, and builds the state.
pub async fn prepare(config: Config) -> Result<(Writ, bootstrap::Bootstrapped), StartError> {
    ensure_database_folder(&config)?;
    let db_err = |source| StartError::Database {
        url: config.database_url_redacted(),
        source,
    };
    // SQLite or PostgreSQL, by the URL's scheme.
    let store = writ_store::open(&config.database_url)
        .await
        .map_err(db_err)?;
    let cipher = key_cipher(&config)?;
    let boot = bootstrap::bootstrap(&config, &*store, &cipher)
        .await
        .map_err(db_err)?;
    // Opened before anything is served: a stream that cannot be written stops the start.
    let audit_sink = match &config.audit_stream {
        Some(t) => Some(crate::audit_stream::Sink::open(t).map_err(StartError::Io)?),
        None => None,
    };
    let state = Writ::new(config.clone(), store, cipher, audit_sink)
        .await
        .map_err(db_err)?;
    Ok((state, boot))
}
