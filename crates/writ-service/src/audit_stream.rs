//! The audit log as a stream (`WRIT_AUDIT_STREAM`), as Auth0's log streams: each entry, once
//! appended, is also written as one JSON line — the shape of a `GET /api/v2/logs` entry — to
//! stdout or a file, so it reaches a log pipeline or a SIEM without polling the API.
//!
//! The stream never holds up or fails a request: [`AuditStream::send`] queues the line
//! (bounded) and a thread of its own writes it; a full queue or a failed write drops the line
//! with a warning and counts it (`writ_audit_stream_dropped_total`). The database's audit log
//! stays the record; the stream is a copy.

use std::io::Write;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};

use serde_json::{Map, Value, json};
use writ_store::LogEntry;

/// Lines queued for the writer before new ones are dropped.
pub const QUEUE: usize = 10_000;

/// Where the stream goes (`WRIT_AUDIT_STREAM`: `stdout` or `file:/path`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Stdout,
    /// Appended to (created if missing).
    File(PathBuf),
}

impl Target {
    /// `stdout` or `file:/path`.
    pub fn parse(s: &str) -> Result<Target, String> {
        match s.trim() {
            "stdout" => Ok(Target::Stdout),
            other => match other.strip_prefix("file:") {
                Some(p) if !p.is_empty() => Ok(Target::File(PathBuf::from(p))),
                _ => Err(format!("'{s}' must be stdout or file:/path/to/audit.jsonl")),
            },
        }
    }
}

/// A stream's output, opened (so a path that cannot be written fails the start, not a request).
pub enum Sink {
    Stdout,
    File(std::fs::File),
}

impl Sink {
    /// Opens `target` (a file in append mode, created if missing).
    pub fn open(target: &Target) -> Result<Sink, String> {
        match target {
            Target::Stdout => Ok(Sink::Stdout),
            Target::File(p) => {
                let mut o = std::fs::OpenOptions::new();
                o.create(true).append(true);
                // Audit entries name users and their addresses: a new file is the owner's only.
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
                o.open(p)
                    .map(Sink::File)
                    .map_err(|e| format!("WRIT_AUDIT_STREAM: cannot open {}: {e}", p.display()))
            }
        }
    }
}

/// The stream of a node: nothing, or a queue to its writer thread.
#[derive(Default)]
pub struct AuditStream {
    tx: Option<SyncSender<String>>,
    dropped: Option<::metrics::Counter>,
}

impl AuditStream {
    /// Starts the writer thread for `sink`; lines it cannot write count on `dropped`.
    pub fn start(sink: Option<Sink>, dropped: ::metrics::Counter) -> AuditStream {
        let Some(sink) = sink else {
            return AuditStream::default();
        };
        let (tx, rx) = sync_channel::<String>(QUEUE);
        let counter = dropped.clone();
        let spawned = std::thread::Builder::new()
            .name("writ-audit-stream".into())
            .spawn(move || write_lines(sink, rx, counter));
        match spawned {
            Ok(_) => AuditStream {
                tx: Some(tx),
                dropped: Some(dropped),
            },
            Err(e) => {
                tracing::warn!(error = %e, "cannot start the audit stream's writer; entries are not streamed");
                AuditStream::default()
            }
        }
    }

    /// Queues `entry` for the stream (no-op without one). Never blocks.
    pub fn send(&self, entry: &LogEntry) {
        let Some(tx) = &self.tx else { return };
        match tx.try_send(entry_json(entry).to_string()) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                tracing::warn!(log_id = %entry.log_id, "audit stream queue full: entry not streamed");
                if let Some(c) = &self.dropped {
                    c.increment(1);
                }
            }
            Err(TrySendError::Disconnected(_)) => {
                if let Some(c) = &self.dropped {
                    c.increment(1);
                }
            }
        }
    }
}

/// The writer thread: each line, flushed once the queue is empty; ends with the node.
fn write_lines(sink: Sink, rx: Receiver<String>, dropped: ::metrics::Counter) {
    let mut out: Box<dyn Write> = match sink {
        Sink::Stdout => Box::new(std::io::BufWriter::new(std::io::stdout())),
        Sink::File(f) => Box::new(std::io::BufWriter::new(f)),
    };
    // Warn once per run of failures, not once per line.
    let mut failing = false;
    while let Ok(first) = rx.recv() {
        let mut pending = 1u64;
        let mut result = writeln!(out, "{first}");
        while let Ok(line) = rx.try_recv() {
            pending += 1;
            if result.is_ok() {
                result = writeln!(out, "{line}");
            }
        }
        let result = result.and_then(|()| out.flush());
        match result {
            Ok(()) => failing = false,
            Err(e) => {
                dropped.increment(pending);
                if !failing {
                    tracing::warn!(error = %e, "cannot write to the audit stream; entries are dropped until it works again");
                }
                failing = true;
            }
        }
    }
}

/// An entry in the shape of a `GET /api/v2/logs` entry (Auth0's log event): optional fields
/// left out when unknown.
pub fn entry_json(e: &LogEntry) -> Value {
    let mut m = Map::new();
    m.insert("log_id".into(), json!(e.log_id));
    m.insert("date".into(), json!(e.date));
    m.insert("type".into(), json!(e.log_type));
    m.insert("description".into(), json!(e.description));
    let optional = [
        ("ip", &e.ip),
        ("user_agent", &e.user_agent),
        ("client_id", &e.client_id),
        ("client_name", &e.client_name),
        ("user_id", &e.user_id),
        ("user_name", &e.user_name),
        ("connection", &e.connection),
    ];
    for (k, v) in optional {
        if let Some(v) = v {
            m.insert(k.into(), json!(v));
        }
    }
    m.insert("details".into(), e.details.clone());
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(Target::parse("stdout"), Ok(Target::Stdout));
        assert_eq!(
            Target::parse("file:/var/log/writ/audit.jsonl"),
            Ok(Target::File("/var/log/writ/audit.jsonl".into()))
        );
        assert!(Target::parse("file:").is_err());
        assert!(Target::parse("syslog").is_err());
    }
}
