//! `writ export`, `writ import` and `writ backup`: the operator's side of
//! [`writ_store::dump`]. They exist so a deployment can move between SQLite and PostgreSQL
//! (export, then import into an empty database of the other kind) and so a live SQLite
//! database can be copied safely (`VACUUM INTO`) without stopping the server.
//!
//! They work on the database directly, not through a running server: the database comes from
//! `--database-url`, else `WRIT_DATABASE_URL`, else the `--config` file's `database_url`, else
//! the server's default (`sqlite://writ-data/writ.db`).
//!
//! Exit codes: 0 success; 1 the operation failed (database, file, a refused import); 2 a usage
//! or configuration error (including `writ backup` of a PostgreSQL database).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use writ_store::Backend;
use writ_store::dump::{self, Database, DumpError};

/// The dump subcommands (flattened into `writ`'s own).
#[derive(Subcommand)]
pub enum DumpCommand {
    /// Dump the whole database as JSONL, from one consistent snapshot (safe while serving).
    ///
    /// The dump holds password hashes and the still-encrypted signing keys: keep it as safe
    /// as the database.
    Export(ExportArgs),
    /// Restore a dump into a new, empty SQLite or PostgreSQL database.
    ///
    /// In one transaction; a truncated or damaged dump changes nothing. Then run the server on
    /// it with the source's key-encryption key.
    Import(ImportArgs),
    /// Copy a live SQLite database to a new file (consistent, online).
    ///
    /// For PostgreSQL use pg_dump (or writ export).
    Backup(BackupArgs),
}

/// `writ export`.
#[derive(Args)]
pub struct ExportArgs {
    /// The database to export (default: WRIT_DATABASE_URL, or the configuration's).
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// Write the dump to FILE (created with mode 0600; must not exist) instead of stdout.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
}

/// `writ import`.
#[derive(Args)]
pub struct ImportArgs {
    /// The dump to restore (`-` for standard input).
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// The empty database to fill (default: WRIT_DATABASE_URL, or the configuration's); it is
    /// created and migrated if needed.
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
}

/// `writ backup`.
#[derive(Args)]
pub struct BackupArgs {
    /// The new backup file (must not exist).
    #[arg(value_name = "PATH")]
    path: PathBuf,
    /// The SQLite database to copy (default: WRIT_DATABASE_URL, or the configuration's).
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
}

/// A failed command: a usage/configuration error (exit 2) or a failure (exit 1).
enum Failure {
    Usage(String),
    Failed(String),
}

impl From<DumpError> for Failure {
    fn from(e: DumpError) -> Self {
        match e {
            DumpError::Unsupported(m) => Failure::Usage(m),
            e => Failure::Failed(one_line(&e.to_string())),
        }
    }
}

/// Runs one dump command and prints its error, if any, as one line.
pub async fn run(cmd: DumpCommand, config: Option<&Path>) -> ExitCode {
    let result = match cmd {
        DumpCommand::Export(a) => export(a, config).await,
        DumpCommand::Import(a) => import(a, config).await,
        DumpCommand::Backup(a) => backup(a, config).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(m)) => {
            eprintln!("writ: {m}");
            ExitCode::from(2)
        }
        Err(Failure::Failed(m)) => {
            eprintln!("writ: {m}");
            ExitCode::from(1)
        }
    }
}

/// The database URL: the flag, else `WRIT_DATABASE_URL`, else the config file's, else the
/// server's default; with its backend.
fn database_url(flag: Option<String>, config: Option<&Path>) -> Result<(String, Backend), Failure> {
    let from_file = || -> Result<Option<String>, Failure> {
        let Some(p) = config else { return Ok(None) };
        let text = std::fs::read_to_string(p).map_err(|e| {
            Failure::Usage(format!(
                "configuration error: cannot read {}: {e}",
                p.display()
            ))
        })?;
        let v: toml::Table = toml::from_str(&text).map_err(|e| {
            Failure::Usage(format!(
                "configuration error: {}: {}",
                p.display(),
                one_line(e.message())
            ))
        })?;
        Ok(v.get("database_url")
            .and_then(|v| v.as_str())
            .map(str::to_owned))
    };
    let url = match flag.filter(|u| !u.is_empty()) {
        Some(u) => u,
        None => match std::env::var("WRIT_DATABASE_URL")
            .ok()
            .filter(|u| !u.is_empty())
        {
            Some(u) => u,
            None => from_file()?.unwrap_or_else(|| "sqlite://writ-data/writ.db".into()),
        },
    };
    let Some(backend) = Backend::of_url(&url) else {
        return Err(Failure::Usage(format!(
            "database URL '{}': expected a sqlite:// or postgres:// URL",
            redact(&url)
        )));
    };
    Ok((url, backend))
}

/// The file of a `sqlite:` URL (`None` for in-memory databases).
fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && !path.starts_with(":memory:")).then(|| PathBuf::from(path))
}

/// The URL with a password hidden, for messages.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

/// Connects to an existing database (never creating or migrating it).
async fn connect_existing(url: &str) -> Result<Database, Failure> {
    if let Some(p) = sqlite_path(url)
        && !p.exists()
    {
        return Err(Failure::Usage(format!(
            "no database at {} (set --database-url or WRIT_DATABASE_URL)",
            p.display()
        )));
    }
    Database::connect(url).await.map_err(|e| {
        Failure::Failed(format!(
            "database {}: {}",
            redact(url),
            one_line(&e.to_string())
        ))
    })
}

async fn export(a: ExportArgs, config: Option<&Path>) -> Result<(), Failure> {
    let (url, _) = database_url(a.database_url, config)?;
    let db = connect_existing(&url).await?;
    let result = match &a.output {
        None => dump::export(&db, std::io::stdout())
            .await
            .map_err(Failure::from),
        Some(path) => export_to_file(&db, path).await,
    };
    db.close().await;
    let summary = result?;
    eprintln!(
        "writ: exported {} rows of {} tables from {} (schema {}){}",
        summary.rows(),
        summary.counts.len(),
        redact(&url),
        summary.schema,
        a.output
            .as_ref()
            .map(|p| format!(" to {}", p.display()))
            .unwrap_or_default()
    );
    Ok(())
}

/// Writes the dump beside `path`, then links it into place: a failed export leaves no file,
/// and an existing file is never overwritten.
async fn export_to_file(db: &Database, path: &Path) -> Result<dump::Summary, Failure> {
    if path.exists() {
        return Err(Failure::Usage(format!("{} already exists", path.display())));
    }
    let partial = {
        let mut name = path.file_name().unwrap_or_default().to_os_string();
        name.push(format!(".partial-{}", std::process::id()));
        path.with_file_name(name)
    };
    let file = create_private(&partial)
        .map_err(|e| Failure::Failed(format!("cannot create {}: {e}", partial.display())))?;
    let written = async {
        let summary = dump::export(db, &file).await?;
        file.sync_all()?;
        Ok::<_, DumpError>(summary)
    }
    .await;
    let placed = written.map_err(Failure::from).and_then(|summary| {
        std::fs::hard_link(&partial, path)
            .or_else(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => Err(e),
                // A filesystem without hard links: rename (checked above that nothing is there).
                _ => std::fs::rename(&partial, path),
            })
            .map_err(|e| Failure::Failed(format!("cannot write {}: {e}", path.display())))?;
        Ok(summary)
    });
    let _ = std::fs::remove_file(&partial);
    placed
}

/// Creates a new file readable by its owner only.
fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts.open(path)
}

async fn import(a: ImportArgs, config: Option<&Path>) -> Result<(), Failure> {
    let (url, _) = database_url(a.database_url, config)?;
    let input: Box<dyn BufRead> = if a.file.as_os_str() == "-" {
        Box::new(BufReader::new(std::io::stdin()))
    } else {
        let f = std::fs::File::open(&a.file)
            .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", a.file.display())))?;
        Box::new(BufReader::with_capacity(1 << 16, f))
    };
    if let Some(dir) = sqlite_path(&url)
        .as_deref()
        .and_then(Path::parent)
        .filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir).map_err(|e| {
            Failure::Failed(format!(
                "cannot create database folder {}: {e}",
                dir.display()
            ))
        })?;
    }
    let db = Database::open(&url).await.map_err(|e| {
        Failure::Failed(format!(
            "database {}: {}",
            redact(&url),
            one_line(&e.to_string())
        ))
    })?;
    let result = dump::import(&db, input).await;
    db.close().await;
    let summary = result?;
    eprintln!(
        "writ: imported {} rows of {} tables (a {} dump, schema {}) into {}",
        summary.rows(),
        summary.counts.len(),
        match summary.source {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        },
        summary.schema,
        redact(&url)
    );
    let or_key_file = match sqlite_path(&url) {
        Some(db) => format!(
            ", or copy the source's key file to {}",
            db.with_extension("kek").display()
        ),
        None => String::new(),
    };
    eprintln!(
        "writ: the signing keys are still sealed with the source's key-encryption key: run writ \
         on this database with the same WRIT_KEY_ENCRYPTION_KEY{or_key_file} (a SQLite source \
         without that variable keeps its key in the .kek file beside its database)"
    );
    Ok(())
}

async fn backup(a: BackupArgs, config: Option<&Path>) -> Result<(), Failure> {
    let (url, backend) = database_url(a.database_url, config)?;
    if backend == Backend::Postgres {
        return Err(Failure::Usage(
            "writ backup copies SQLite databases; for PostgreSQL use pg_dump -Fc (with \
             point-in-time recovery for continuous backups), or writ export"
                .into(),
        ));
    }
    let Some(source) = sqlite_path(&url) else {
        return Err(Failure::Usage(
            "an in-memory database cannot be backed up".into(),
        ));
    };
    let kek_target = a.path.with_extension("kek");
    for p in [&a.path, &kek_target] {
        if p.exists() {
            return Err(Failure::Usage(format!("{} already exists", p.display())));
        }
    }
    let db = connect_existing(&url).await?;
    let result = dump::backup(&db, &a.path).await;
    db.close().await;
    result?;
    // The signing keys in the copy are sealed with the key file beside the database (unless
    // WRIT_KEY_ENCRYPTION_KEY is used): copy it, named after the backup, so the backup
    // restores as it is.
    let kek_source = source.with_extension("kek");
    let kek_note = if kek_source.exists() {
        copy_private(&kek_source, &kek_target).map_err(|e| {
            Failure::Failed(format!(
                "the backup is at {}, but copying the key file {} failed: {e}",
                a.path.display(),
                kek_source.display()
            ))
        })?;
        format!(
            "; its key-encryption key file is copied to {} (keep both as safe as the database)",
            kek_target.display()
        )
    } else {
        "; restore it with the same WRIT_KEY_ENCRYPTION_KEY".into()
    };
    eprintln!(
        "writ: backed up {} to {}{kek_note}",
        source.display(),
        a.path.display()
    );
    Ok(())
}

fn copy_private(from: &Path, to: &Path) -> std::io::Result<()> {
    let key = std::fs::read(from)?;
    let mut f = create_private(to)?;
    f.write_all(&key)?;
    f.sync_all()
}

/// Errors are printed on one line.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
