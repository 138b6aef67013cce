//! The one form of a request path that the gate judges and forwards.
//!
//! Rules compare strings, upstreams route on decoded paths: if the two read a path differently,
//! `/api/%61dmin/users` passes the rule for `/api/*` and reaches the handler of
//! `/api/admin/*`. So a path is normalized once ([`NormalPath::parse`]) and that one string is
//! both matched against the rules and sent upstream (reverse-proxy mode). Normalization
//! follows RFC 3986 §6.2.2: it decodes the percent-encoded unreserved characters
//! (`A-Z a-z 0-9 - . _ ~`) and writes the remaining escapes' hex digits in upper case. It goes
//! one step further, because upstreams (WSGI's `PATH_INFO`, PHP, Rails…) decode the whole path
//! before routing: the other characters a path may hold literally (`! $ & ' ( ) * + , = : @`)
//! are decoded too, and literal non-ASCII characters are percent-encoded (as UTF-8). So every
//! character has one spelling — literal where a path allows it, else `%XX` — and two paths an
//! upstream decodes to the same bytes have the same normal form. Everything an upstream might
//! read as another route is refused rather than guessed at ([`PathError`]):
//!
//! - a path not starting with `/` (`*`, `api/x`, an absolute URI);
//! - an encoded `/` or `\` (`%2F`, `%5C`), a literal `\`, and ASCII that RFC 3986 does not
//!   allow in a path (space, `"`, `<`, `>`, `^`, `` ` ``, `{`, `|`, `}`, `[`, `]`, `#`);
//! - `;` (path parameters, which Tomcat and others strip before routing);
//! - dot segments (`.`, `..`, also encoded: `%2e%2E`) and segments ending in a dot or a space
//!   (`admin.`, `admin%20`, which Windows file systems drop);
//! - empty segments (`//`, `/a//b`), except the last one (a trailing `/`);
//! - NUL and other control characters, literal or encoded;
//! - escapes that are not `%` and two hex digits, or whose bytes are not UTF-8 (overlong
//!   forms such as `%C0%AF` for `/`);
//! - an encoded `%` that starts another escape (`%2561`, `%252F`): decoded twice, as some
//!   upstreams do, it would be `a` or `/`.
//!
//! The query string is not part of the path: it is neither judged nor changed.

use std::fmt;

/// A request path in normal form: starts with `/`, no dot or empty segments (but a trailing
/// `/`), no encoded `/` or `\`, no control characters; a character a path allows literally
/// is never percent-encoded, any other is (upper-case hex). Parsing a normal path returns it
/// as is.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NormalPath(String);

/// Why a path was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("the path must start with `/`")]
    NotAbsolute,
    #[error("a `%` must be followed by two hex digits")]
    BadEscape,
    #[error("an encoded `/` (%2F) is not accepted in a path")]
    EncodedSlash,
    #[error("`\\` (literal or %5C) is not accepted in a path")]
    Backslash,
    #[error("control characters are not accepted in a path")]
    Control,
    #[error("`{0}` is not accepted in a path; percent-encode it")]
    Char(char),
    #[error("`;` path parameters are not accepted")]
    PathParameter,
    #[error("the percent-encoded bytes of the path are not UTF-8")]
    NotUtf8,
    #[error("an encoded `%` that starts another escape (double encoding) is not accepted")]
    DoubleEncoding,
    #[error("`.` and `..` segments are not accepted in a path")]
    DotSegment,
    #[error("a path segment may not end in a dot or a space")]
    TrailingDot,
    #[error("empty path segments (`//`) are not accepted")]
    EmptySegment,
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// ASCII a normal path holds literally (all else is `%XX`): RFC 3986's unreserved characters,
/// its sub-delims but `;`, and `:`, `@`, `/`.
fn is_allowed_literal(b: u8) -> bool {
    is_unreserved(b)
        || matches!(
            b,
            b'!' | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b'='
                | b':'
                | b'@'
                | b'/'
        )
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn push_escape(out: &mut String, b: u8) {
    out.push('%');
    out.push(HEX[usize::from(b >> 4)] as char);
    out.push(HEX[usize::from(b & 0xf)] as char);
}

impl NormalPath {
    /// Normalizes a request path (without its query string), or says why it is refused.
    pub fn parse(raw: &str) -> Result<NormalPath, PathError> {
        if !raw.starts_with('/') {
            return Err(PathError::NotAbsolute);
        }
        let bytes = raw.as_bytes();
        let mut out = String::with_capacity(raw.len());
        // The path fully decoded, to check that its escapes spell UTF-8.
        let mut decoded = Vec::with_capacity(raw.len());
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            if b == b'%' {
                let (Some(hi), Some(lo)) = (
                    bytes.get(i + 1).copied().and_then(hex_value),
                    bytes.get(i + 2).copied().and_then(hex_value),
                ) else {
                    return Err(PathError::BadEscape);
                };
                let d = hi << 4 | lo;
                match d {
                    b'/' => return Err(PathError::EncodedSlash),
                    b'\\' => return Err(PathError::Backslash),
                    0..=0x1f | 0x7f => return Err(PathError::Control),
                    // `;` stays encoded: as a literal it would start path parameters.
                    d if d != b';' && is_allowed_literal(d) => out.push(d as char),
                    d => push_escape(&mut out, d),
                }
                decoded.push(d);
                i += 3;
                continue;
            }
            match b {
                b'\\' => return Err(PathError::Backslash),
                b';' => return Err(PathError::PathParameter),
                0..=0x1f | 0x7f => return Err(PathError::Control),
                b if is_allowed_literal(b) => out.push(b as char),
                0x80.. => {
                    // A literal non-ASCII character (the input is UTF-8): percent-encoded.
                    let c = raw[i..]
                        .chars()
                        .next()
                        .unwrap_or(char::REPLACEMENT_CHARACTER);
                    if c.is_control() {
                        return Err(PathError::Control);
                    }
                    let n = c.len_utf8();
                    for &cb in &bytes[i..i + n] {
                        push_escape(&mut out, cb);
                        decoded.push(cb);
                    }
                    i += n;
                    continue;
                }
                b => return Err(PathError::Char(b as char)),
            }
            decoded.push(b);
            i += 1;
        }
        match std::str::from_utf8(&decoded) {
            Ok(s) if s.chars().any(char::is_control) => return Err(PathError::Control),
            Ok(_) => {}
            Err(_) => return Err(PathError::NotUtf8),
        }
        if starts_double_escape(&out) {
            return Err(PathError::DoubleEncoding);
        }
        let segments: Vec<&str> = out[1..].split('/').collect();
        let last = segments.len() - 1;
        for (n, seg) in segments.iter().enumerate() {
            if *seg == "." || *seg == ".." {
                return Err(PathError::DotSegment);
            }
            if seg.ends_with('.') || seg.ends_with("%20") {
                return Err(PathError::TrailingDot);
            }
            if seg.is_empty() && n != last {
                return Err(PathError::EmptySegment);
            }
        }
        Ok(NormalPath(out))
    }

    /// The normalized path.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The normalized path, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// Whether `%25` (an encoded `%`) is followed by two hex digits anywhere in `s`.
fn starts_double_escape(s: &str) -> bool {
    let b = s.as_bytes();
    b.windows(5).any(|w| {
        w[0] == b'%'
            && w[1] == b'2'
            && w[2] == b'5'
            && hex_value(w[3]).is_some()
            && hex_value(w[4]).is_some()
    })
}

impl fmt::Display for NormalPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for NormalPath {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(p: &str) -> Result<String, PathError> {
        NormalPath::parse(p).map(NormalPath::into_string)
    }

    #[test]
    fn unreserved_escapes_are_decoded_and_others_upper_cased() {
        for (raw, want) in [
            ("/", "/"),
            ("/api/%61dmin/users", "/api/admin/users"),
            ("/api/%41%5a%30%2D%2e%5F%7e", "/api/AZ0-._~"),
            ("/a%2e%2eb", "/a..b"),
            ("/caf%c3%a9", "/caf%C3%A9"),
            ("/café", "/caf%C3%A9"),
            ("/a%20b", "/a%20b"),
            ("/a%3bb", "/a%3Bb"),
            ("/a%3fb%23c%5b%5D", "/a%3Fb%23c%5B%5D"),
            (
                "/v1/things%3Asearch%40x%21%24%26%27%28%29%2A%2B%2C%3D",
                "/v1/things:search@x!$&'()*+,=",
            ),
            ("/api/todos/", "/api/todos/"),
            (
                "/v1/things:search@x!$&'()*+,=",
                "/v1/things:search@x!$&'()*+,=",
            ),
            ("/.well-known/jwks.json", "/.well-known/jwks.json"),
            ("/100%25", "/100%25"),
            ("/%25zz", "/%25zz"),
        ] {
            assert_eq!(norm(raw).as_deref(), Ok(want), "{raw}");
            assert_eq!(
                norm(want).as_deref(),
                Ok(want),
                "{want} is not a fixed point"
            );
        }
    }

    #[test]
    fn every_spelling_of_a_path_has_one_normal_form() {
        // An upstream decodes each of these to `/api/admin:export/é`.
        let want = "/api/admin:export/%C3%A9";
        for raw in [
            "/api/admin:export/é",
            "/api/admin%3Aexport/%c3%a9",
            "/%61%70%69/%61dmin%3aexport/%C3%A9",
            "/api/admin%3Aex%70ort/\u{e9}",
        ] {
            assert_eq!(norm(raw).as_deref(), Ok(want), "{raw}");
        }
    }

    #[test]
    fn tricks_are_refused_with_a_reason() {
        use PathError as E;
        for (raw, why) in [
            ("", E::NotAbsolute),
            ("*", E::NotAbsolute),
            ("api/x", E::NotAbsolute),
            ("http://h/api", E::NotAbsolute),
            ("%2Fapi", E::NotAbsolute),
            ("/a%2Fb", E::EncodedSlash),
            ("/a%2fb", E::EncodedSlash),
            ("/a%5Cb", E::Backslash),
            ("/a%5cb", E::Backslash),
            ("/a\\b", E::Backslash),
            ("/a;b=1", E::PathParameter),
            ("/a/./b", E::DotSegment),
            ("/a/../b", E::DotSegment),
            ("/a/%2e%2E/b", E::DotSegment),
            ("/a/.%2e", E::DotSegment),
            ("/..", E::DotSegment),
            ("/a/.", E::DotSegment),
            ("/admin./x", E::TrailingDot),
            ("/admin%2E", E::TrailingDot),
            ("/a/...", E::TrailingDot),
            ("/admin%20/x", E::TrailingDot),
            ("//a", E::EmptySegment),
            ("/a//b", E::EmptySegment),
            ("/a//", E::EmptySegment),
            ("/a%00", E::Control),
            ("/a%0A", E::Control),
            ("/a%7f", E::Control),
            ("/a\u{7f}", E::Control),
            ("/a\u{85}", E::Control),
            ("/a%C2%85", E::Control),
            ("/a\tb", E::Control),
            ("/a%", E::BadEscape),
            ("/a%4", E::BadEscape),
            ("/a%zz", E::BadEscape),
            ("/a%+1", E::BadEscape),
            ("/a%C0%AF", E::NotUtf8),
            ("/a%E0%80%AF", E::NotUtf8),
            ("/a%ff", E::NotUtf8),
            ("/a%ED%A0%80", E::NotUtf8),
            ("/a%C3", E::NotUtf8),
            ("/%2561dmin", E::DoubleEncoding),
            ("/%252F", E::DoubleEncoding),
            ("/%25%36%31dmin", E::DoubleEncoding),
            ("/%2525", E::DoubleEncoding),
            ("/a b", E::Char(' ')),
            ("/a#b", E::Char('#')),
            ("/a?b", E::Char('?')),
            ("/a\"b", E::Char('"')),
            ("/{a}", E::Char('{')),
            ("/a|b", E::Char('|')),
            ("/a[0]", E::Char('[')),
            ("/a^b", E::Char('^')),
            ("/a`b", E::Char('`')),
            ("/a<b>", E::Char('<')),
        ] {
            assert_eq!(norm(raw), Err(why.clone()), "{raw:?}");
            // The reason reads as a sentence.
            assert!(!why.to_string().is_empty());
        }
    }
}
