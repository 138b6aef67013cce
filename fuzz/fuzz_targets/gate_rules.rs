//! `writ gate`'s rules-file parser ([`writ_gate::Rules::parse`]): never panics; an error names
//! a line of the input; a file that parses has at most one rule per line, and every rule's own
//! route is matched by some rule (so no rule is unreachable by construction).
#![no_main]

use http::Method;
use libfuzzer_sys::fuzz_target;
use writ_gate::{NormalPath, Rules};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lines = text.lines().count();
    let rules = match Rules::parse(text) {
        Ok(r) => r,
        Err(e) => {
            assert!(e.line >= 1 && e.line <= lines, "line {} of {lines}", e.line);
            assert!(!e.reason.is_empty());
            return;
        }
    };
    let count = rules.count().expect("a parsed file has a count");
    assert!(count <= lines, "{count} rules from {lines} lines");
    for m in [
        Method::GET,
        Method::DELETE,
        Method::from_bytes(b"X-CUSTOM").unwrap(),
    ] {
        for p in ["/", "/api", "/api/todos/7", "/api/admin/", "/%C3%A9"] {
            if let Some(need) = rules.need(&m, &NormalPath::parse(p).unwrap()) {
                let _ = need.to_string();
            }
        }
    }
    // Each rule's own route (its method, or GET for `*`; its path, or the bare prefix) is
    // matched by some rule.
    for raw in text.lines() {
        let line = raw.split('#').next().unwrap_or("").trim();
        let Some((route, _)) = line.split_once("=>") else {
            continue;
        };
        let mut parts = route.split_whitespace();
        let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
            continue;
        };
        let method = match method {
            "*" => Method::GET,
            m => Method::from_bytes(m.to_ascii_uppercase().as_bytes()).unwrap(),
        };
        let path = match path.strip_suffix("/*") {
            Some("") => "/",
            Some(prefix) => prefix,
            None => path,
        };
        let path = NormalPath::parse(path).expect("a rule's path is normalizable");
        assert!(
            rules.need(&method, &path).is_some(),
            "no rule matches {method} {path}, a rule's own route"
        );
    }
});
