//! How the CLI prints: tables for people (comfy-table), the server's JSON as is for scripts
//! (`--json`).

use comfy_table::{ContentArrangement, Table, presets};
use serde_json::Value;

/// Prints a JSON value, pretty.
pub fn json(v: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).expect("JSON values serialize")
    );
}

/// A cell: strings bare, arrays one item a line, objects as compact JSON, null empty.
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => if *b { "yes" } else { "no" }.into(),
        Value::Number(n) => n.to_string(),
        Value::Array(a) => a
            .iter()
            .map(|x| match x {
                // Scopes: `value` (and description).
                Value::Object(o) if o.contains_key("value") => {
                    let d = o.get("description").and_then(Value::as_str).unwrap_or("");
                    let v = o["value"].as_str().unwrap_or_default();
                    if d.is_empty() {
                        v.to_owned()
                    } else {
                        format!("{v} ({d})")
                    }
                }
                other => cell(other),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        Value::Object(o) if o.is_empty() => String::new(),
        Value::Object(_) => serde_json::to_string(v).unwrap_or_default(),
    }
}

fn new_table() -> Table {
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    t
}

/// A table of objects: one row each, the given `(header, field)` columns; a field ending in
/// `#` shows the length of the array it names.
pub fn table(columns: &[(&str, &str)], items: &[Value]) {
    if items.is_empty() {
        println!("(none)");
        return;
    }
    let mut t = new_table();
    t.set_header(columns.iter().map(|(h, _)| *h));
    for it in items {
        t.add_row(columns.iter().map(|(_, f)| match f.strip_suffix('#') {
            Some(f) => it[f].as_array().map_or(0, Vec::len).to_string(),
            None => cell(&it[*f]),
        }));
    }
    println!("{t}");
}

/// One object as a two-column table of its properties.
pub fn record(v: &Value) {
    let Some(o) = v.as_object() else {
        println!("{}", cell(v));
        return;
    };
    let mut t = new_table();
    for (k, v) in o {
        t.add_row(vec![k.clone(), cell(v)]);
    }
    println!("{t}");
}

/// The line under a page of a list answered with `include_totals=true`.
pub fn footer(page: &Value, key: &str) {
    let start = page["start"].as_u64().unwrap_or(0);
    let len = page[key].as_array().map_or(0, Vec::len) as u64;
    let total = page["total"].as_u64().unwrap_or(len);
    let limit = page["limit"].as_u64().unwrap_or(50).max(1);
    if len == 0 {
        if total > 0 {
            println!("{total} in all; this page is past the end.");
        }
        return;
    }
    let pages = total.div_ceil(limit);
    let mut line = format!("{}–{} of {total}", start + 1, start + len);
    if pages > 1 {
        line.push_str(&format!(
            " (page {} of 0–{}; see --page and --per-page)",
            start / limit,
            pages - 1
        ));
    }
    println!("{line}");
}
