//! `writ gate`'s path normalizer ([`writ_gate::NormalPath`]): never panics, and a path it
//! accepts is a fixed point, means the same bytes as the input once percent-decoded, is the
//! one normal form of every spelling of those bytes, and holds none of the tricks it exists
//! to refuse.
#![no_main]

use libfuzzer_sys::fuzz_target;
use writ_gate::NormalPath;

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Percent-decodes `s` the way an upstream would (an independent, plain implementation; a
/// `%` not followed by two hex digits stays as it is).
fn decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(hi) = b.get(i + 1).copied().and_then(hex)
            && let Some(lo) = b.get(i + 2).copied().and_then(hex)
        {
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(normal) = NormalPath::parse(raw) else {
        return;
    };
    let s = normal.as_str();
    assert!(s.starts_with('/'), "{raw:?} -> {s:?}");
    assert!(s.is_ascii(), "{raw:?} -> {s:?}");
    let lower = s.to_ascii_lowercase();
    for bad in ["%2f", "%5c", "%2e", "\\", ";", "//", "#", "?", "%00"] {
        assert!(!lower.contains(bad), "{raw:?} -> {s:?} holds {bad:?}");
    }
    let segments: Vec<&str> = s[1..].split('/').collect();
    for (i, seg) in segments.iter().enumerate() {
        assert!(*seg != "." && *seg != "..", "{raw:?} -> {s:?}");
        assert!(!seg.ends_with('.'), "{raw:?} -> {s:?}");
        assert!(
            !seg.is_empty() || i == segments.len() - 1,
            "{raw:?} -> {s:?}"
        );
    }
    // Hex digits of escapes are upper case, and no escape spells a character a path may hold
    // literally (unreserved, sub-delims but `;`, `:`, `@`).
    let b = s.as_bytes();
    for (i, _) in s.match_indices('%') {
        let h = &b[i + 1..i + 3];
        assert!(
            h.iter().all(|c| matches!(c, b'0'..=b'9' | b'A'..=b'F')),
            "{s:?}"
        );
        let v = hex(h[0]).unwrap() << 4 | hex(h[1]).unwrap();
        assert!(
            !(v.is_ascii_alphanumeric() || b"-._~!$&'()*+,=:@".contains(&v)),
            "{s:?}"
        );
    }
    // Normalizing again changes nothing.
    assert_eq!(NormalPath::parse(s).as_ref(), Ok(&normal), "{raw:?}");
    // The upstream decodes both to the same bytes: normalization never changes the route.
    assert_eq!(decode(raw), decode(s), "{raw:?} -> {s:?}");
    // One spelling per decoded path: every byte but `/` percent-encoded (lower-case hex)
    // normalizes to the same path.
    let mut spelt = String::new();
    for &c in &decode(s) {
        if c == b'/' {
            spelt.push('/');
        } else {
            spelt.push_str(&format!("%{c:02x}"));
        }
    }
    assert_eq!(NormalPath::parse(&spelt).as_ref(), Ok(&normal), "{spelt:?}");
    // Decoded once more (a double-decoding upstream) it is still the same path.
    let once = String::from_utf8(decode(s)).expect("the decoded path is UTF-8");
    assert_eq!(decode(&once), once.as_bytes(), "{raw:?} -> {s:?}");
    // The proxy can always build its upstream request from it.
    assert!(http::uri::PathAndQuery::try_from(s).is_ok(), "{s:?}");
});
