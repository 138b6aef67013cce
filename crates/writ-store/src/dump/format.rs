//! The dump's JSONL lines (see the format in the parent module's docs): writing the header,
//! one line per row and the trailer; reading them back with their line numbers, refusing
//! anything that is not a complete writ dump: no header, a damaged or non-object line, a
//! missing trailer, content after it, or row counts that differ from the trailer's.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use serde_json::{Map, Value};

use super::{DumpError, FORMAT_VERSION, Result};
use crate::Backend;

/// The name of a backend in the header's `source`.
fn backend_name(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    }
}

// ---------------------------------------------------------------------------------------------
// Writing.

// The three kinds of line, as structs so their keys come in this order (a `Map` would sort
// them): `head -1` shows `{"writ_dump":1,…` and a row starts with its table.

#[derive(serde::Serialize)]
struct HeaderLine {
    writ_dump: i64,
    created_at: String,
    source: &'static str,
    schema: i64,
    writ_version: &'static str,
}

#[derive(serde::Serialize)]
struct RowLine<'a> {
    table: &'a str,
    row: &'a Map<String, Value>,
}

#[derive(serde::Serialize)]
struct TrailerLine<'a> {
    writ_dump_end: bool,
    counts: &'a BTreeMap<String, u64>,
    sequences: &'a BTreeMap<String, i64>,
}

/// Writes the header line of a dump taken from `source` at schema version `schema`.
pub(super) fn write_header(out: &mut impl Write, source: Backend, schema: i64) -> Result<()> {
    write_line(
        out,
        &HeaderLine {
            writ_dump: FORMAT_VERSION,
            created_at: crate::common::now_rfc3339(),
            source: backend_name(source),
            schema,
            writ_version: env!("CARGO_PKG_VERSION"),
        },
    )
}

/// Writes the line of one row of `table`.
pub(super) fn write_row(out: &mut impl Write, table: &str, row: &Map<String, Value>) -> Result<()> {
    write_line(out, &RowLine { table, row })
}

/// Writes the trailer line: rows per table, and the highest value of each generated key.
pub(super) fn write_trailer(
    out: &mut impl Write,
    counts: &BTreeMap<String, u64>,
    sequences: &BTreeMap<String, i64>,
) -> Result<()> {
    write_line(
        out,
        &TrailerLine {
            writ_dump_end: true,
            counts,
            sequences,
        },
    )
}

fn write_line(out: &mut impl Write, line: &impl serde::Serialize) -> Result<()> {
    serde_json::to_writer(&mut *out, line).map_err(std::io::Error::from)?;
    out.write_all(b"\n")?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Reading.

/// Lines of the input with their numbers (1-based), for error messages.
pub(super) struct Lines<R> {
    input: R,
    /// The number of the last line read (0 before the first).
    number: usize,
}

impl<R: BufRead> Lines<R> {
    pub(super) fn new(input: R) -> Self {
        Lines { input, number: 0 }
    }

    /// The number of the last line read.
    pub(super) fn number(&self) -> usize {
        self.number
    }

    fn next(&mut self) -> Result<Option<String>> {
        let mut s = String::new();
        match self.input.read_line(&mut s) {
            Ok(0) => Ok(None),
            Ok(_) => {
                self.number += 1;
                if s.ends_with('\n') {
                    s.pop();
                    if s.ends_with('\r') {
                        s.pop();
                    }
                }
                Ok(Some(s))
            }
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => Err(DumpError::Invalid(
                format!("line {}: not UTF-8 text: not a writ dump", self.number + 1),
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// The next line after the header: a row or the trailer. A dump that ends before its
    /// trailer is truncated.
    pub(super) fn next_body_line(&mut self) -> Result<BodyLine> {
        let Some(line) = self.next()? else {
            return Err(DumpError::Invalid(format!(
                "the dump is truncated: it ends after line {} without its trailer line",
                self.number
            )));
        };
        let line_number = self.number;
        let mut object = parse_object(&line, line_number)?;
        if object.contains_key("writ_dump_end") {
            return Ok(BodyLine::Trailer(parse_trailer(object, line_number)?));
        }
        let (Some(Value::String(table)), Some(Value::Object(row))) =
            (object.remove("table"), object.remove("row"))
        else {
            return Err(DumpError::Invalid(format!(
                "line {line_number}: expected {{\"table\": …, \"row\": {{…}}}} or the trailer"
            )));
        };
        Ok(BodyLine::Row { table, row })
    }

    /// Refuses anything but blank lines after the trailer.
    pub(super) fn expect_end(&mut self) -> Result<()> {
        while let Some(line) = self.next()? {
            if !line.trim().is_empty() {
                return Err(DumpError::Invalid(format!(
                    "line {}: content after the trailer",
                    self.number
                )));
            }
        }
        Ok(())
    }
}

/// The parsed header line.
pub(super) struct Header {
    pub(super) source: Backend,
    pub(super) schema: i64,
}

/// A line between the header and the end.
pub(super) enum BodyLine {
    /// `{"table": …, "row": {…}}`, not yet checked against the table list.
    Row {
        table: String,
        row: Map<String, Value>,
    },
    /// The last line.
    Trailer(Trailer),
}

/// The parsed trailer line.
pub(super) struct Trailer {
    /// Rows per table.
    pub(super) counts: BTreeMap<String, u64>,
    /// The highest value each generated key ever had, per table.
    pub(super) sequences: BTreeMap<String, i64>,
}

impl Trailer {
    /// Refuses a dump whose rows per table (`counted` while reading) differ from the
    /// trailer's counts: an incomplete file.
    pub(super) fn check_counts(&self, counted: &BTreeMap<String, u64>) -> Result<()> {
        for (table, &expected) in &self.counts {
            let got = counted.get(table).copied().unwrap_or(0);
            if got != expected {
                return Err(DumpError::Invalid(format!(
                    "the dump is incomplete: the trailer counts {expected} rows of {table}, the \
                     file holds {got}"
                )));
            }
        }
        if let Some(table) = counted.keys().find(|t| !self.counts.contains_key(*t)) {
            return Err(DumpError::Invalid(format!(
                "the trailer does not count the rows of {table}"
            )));
        }
        Ok(())
    }
}

fn parse_object(line: &str, line_number: usize) -> Result<Map<String, Value>> {
    match serde_json::from_str::<Value>(line) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(DumpError::Invalid(format!(
            "line {line_number}: not a JSON object: not a writ dump"
        ))),
        Err(e) => Err(DumpError::Invalid(format!(
            "line {line_number} is not valid JSON ({e}): the dump is damaged or truncated"
        ))),
    }
}

/// Reads and checks the first line.
pub(super) fn read_header(lines: &mut Lines<impl BufRead>) -> Result<Header> {
    let not_a_dump =
        || DumpError::Invalid("not a writ dump: the first line is no writ_dump header".into());
    let Some(line) = lines.next()? else {
        return Err(DumpError::Invalid("the dump is empty".into()));
    };
    let header = serde_json::from_str::<Value>(&line).map_err(|_| not_a_dump())?;
    let Some(version) = header.get("writ_dump") else {
        return Err(not_a_dump());
    };
    if version.as_i64() != Some(FORMAT_VERSION) {
        return Err(DumpError::Invalid(format!(
            "dump format version {version} is not supported (this writ reads version {FORMAT_VERSION})"
        )));
    }
    let source = match header.get("source").and_then(Value::as_str) {
        Some("sqlite") => Backend::Sqlite,
        Some("postgres") => Backend::Postgres,
        _ => {
            return Err(DumpError::Invalid(
                "line 1: the header's source must be sqlite or postgres".into(),
            ));
        }
    };
    let schema = header
        .get("schema")
        .and_then(Value::as_i64)
        .ok_or_else(|| DumpError::Invalid("line 1: the header has no schema version".into()))?;
    Ok(Header { source, schema })
}

fn parse_trailer(mut object: Map<String, Value>, line_number: usize) -> Result<Trailer> {
    let malformed = || DumpError::Invalid(format!("line {line_number}: a malformed trailer"));
    let counts = serde_json::from_value(object.remove("counts").ok_or_else(malformed)?)
        .map_err(|_| malformed())?;
    let sequences = match object.remove("sequences") {
        Some(v) => serde_json::from_value(v).map_err(|_| malformed())?,
        None => BTreeMap::new(),
    };
    Ok(Trailer { counts, sequences })
}
