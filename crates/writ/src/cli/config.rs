//! Where `writ login` keeps what later commands need: the server URL, the client id, the
//! Management API token and its expiry, and (only with `--save-secret`) the client secret to
//! renew the token. One JSON file, readable by its owner only (mode 0600, folder 0700).
//!
//! The folder is `$WRIT_CONFIG_DIR` when set, else `$XDG_CONFIG_HOME/writ`, else
//! `~/.config/writ`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::CliError;

/// The cached login.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Credentials {
    /// The issuer URL, ending in `/`.
    pub url: String,
    pub client_id: String,
    pub access_token: String,
    /// Unix seconds.
    pub expires_at: i64,
    /// Saved only with `writ login --save-secret`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

/// The folder of the credentials file.
pub fn dir() -> Result<PathBuf, CliError> {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    if let Some(d) = env("WRIT_CONFIG_DIR") {
        return Ok(PathBuf::from(d));
    }
    if let Some(d) = env("XDG_CONFIG_HOME") {
        return Ok(PathBuf::from(d).join("writ"));
    }
    if let Some(h) = env("HOME") {
        return Ok(PathBuf::from(h).join(".config").join("writ"));
    }
    Err(CliError::Usage(
        "cannot find a configuration folder: set WRIT_CONFIG_DIR or HOME".into(),
    ))
}

/// The credentials file.
pub fn path() -> Result<PathBuf, CliError> {
    Ok(dir()?.join("credentials.json"))
}

/// Reads the cached login; a clear usage error when there is none.
pub fn load() -> Result<Credentials, CliError> {
    let p = path()?;
    let text = match std::fs::read_to_string(&p) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(CliError::Usage(
                "not logged in: run `writ login --url URL --client-id ID` first".into(),
            ));
        }
        Err(e) => {
            return Err(CliError::Usage(format!("cannot read {}: {e}", p.display())));
        }
    };
    serde_json::from_str(&text).map_err(|e| {
        CliError::Usage(format!(
            "{} is damaged ({e}): run `writ login` again",
            p.display()
        ))
    })
}

/// Writes the login (0600, replacing the previous one atomically).
pub fn save(c: &Credentials) -> Result<PathBuf, CliError> {
    let d = dir()?;
    let fail = |what: &str, e: std::io::Error| CliError::Usage(format!("cannot {what}: {e}"));
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(&d)
        .map_err(|e| fail(&format!("create {}", d.display()), e))?;
    let p = d.join("credentials.json");
    let tmp = d.join(".credentials.json.tmp");
    let _ = std::fs::remove_file(&tmp);
    {
        use std::io::Write;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts
            .open(&tmp)
            .map_err(|e| fail(&format!("write {}", tmp.display()), e))?;
        let text = serde_json::to_string_pretty(c).expect("credentials serialize");
        f.write_all(text.as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(|e| fail(&format!("write {}", tmp.display()), e))?;
    }
    std::fs::rename(&tmp, &p).map_err(|e| fail(&format!("write {}", p.display()), e))?;
    Ok(p)
}

/// Deletes the login; whether there was one.
pub fn delete() -> Result<Option<PathBuf>, CliError> {
    let p = path()?;
    match std::fs::remove_file(&p) {
        Ok(()) => Ok(Some(p)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CliError::Usage(format!(
            "cannot remove {}: {e}",
            p.display()
        ))),
    }
}
