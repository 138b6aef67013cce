//! Route rules: which permissions a request needs, read from a small text file so that the
//! gate can protect an API it knows nothing about.
//!
//! ```text
//! # METHOD  PATH           => WHAT IS NEEDED
//! GET       /api/todos/*   => read:todos
//! POST      /api/todos     => write:todos
//! DELETE    /api/todos/*   => write:todos admin:todos      # all of them
//! GET       /api/reports   => read:reports | admin:todos   # any one of them
//! GET       /api/me        => authenticated                # a valid token, no permission
//! GET       /api/health    => public                       # no token at all
//! DELETE    /api/admin/*   => admin:todos +mfa             # and a login with a second factor
//! GET       /api/secrets   => +mfa                         # a valid token from an MFA login
//! ```
//!
//! `+mfa` (with any need but `public`) also requires the token's `amr` to hold `mfa`: the user
//! logged in with a second factor (the API must be one whose tokens carry `amr`, see Writ's
//! `WRIT_MFA_AMR_AUDIENCES`); otherwise the answer is 401 `insufficient_user_authentication`.
//!
//! The first matching rule wins; a request no rule matches is refused (403). `METHOD` is an HTTP
//! method or `*`; `PATH` is matched exactly, or ends in `/*` to match the prefix (and the bare
//! prefix itself: `/api/todos/*` matches `/api/todos` too). The query string is ignored.
//! Requests are matched on their [`NormalPath`] (percent-encoded unreserved characters decoded,
//! tricks such as `..` or `%2F` refused before any rule is read), and each rule's path is
//! normalized the same way when the file is read, so `/api/%61dmin` and `/api/admin` are one
//! route for the rules as for the upstream.

use std::fmt;

use writ_guard::RequirePermissions;

use crate::path::NormalPath;

/// What a route needs.
#[derive(Clone, Debug)]
pub enum Need {
    /// No token needed.
    Public,
    /// A valid token; [`RequirePermissions::authenticated`] or a permission check.
    Token(RequirePermissions),
}

/// One rule of the file.
#[derive(Clone, Debug)]
struct Rule {
    method: Option<http::Method>,
    path: PathPattern,
    need: Need,
}

#[derive(Clone, Debug)]
enum PathPattern {
    Exact(String),
    /// `/api/todos/*` is stored as `/api/todos`.
    Prefix(String),
}

impl PathPattern {
    fn matches(&self, path: &str) -> bool {
        match self {
            PathPattern::Exact(p) => p == path,
            PathPattern::Prefix(p) => {
                path == p
                    || path
                        .strip_prefix(p.as_str())
                        .is_some_and(|r| r.starts_with('/'))
            }
        }
    }
}

/// The rules of a gate. [`Rules::default`] (no file) asks a valid token of every request.
#[derive(Clone, Debug, Default)]
pub struct Rules {
    /// `None`: no rules file, every request needs a valid token.
    rules: Option<Vec<Rule>>,
}

/// A line of the rules file that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct RuleError {
    pub line: usize,
    pub reason: String,
}

impl Rules {
    /// Parses a rules file's text.
    pub fn parse(text: &str) -> Result<Rules, RuleError> {
        let mut rules = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let err = |reason: String| RuleError {
                line: i + 1,
                reason,
            };
            let (route, need) = line
                .split_once("=>")
                .ok_or_else(|| err("expected `METHOD PATH => PERMISSIONS`".into()))?;
            let mut parts = route.split_whitespace();
            let (Some(method), Some(path), None) = (parts.next(), parts.next(), parts.next())
            else {
                return Err(err(
                    "expected a method and a path before `=>` (e.g. `GET /api/todos/*`)".into(),
                ));
            };
            let method = match method {
                "*" => None,
                m => Some(
                    http::Method::from_bytes(m.to_ascii_uppercase().as_bytes())
                        .map_err(|_| err(format!("`{m}` is not an HTTP method")))?,
                ),
            };
            if !path.starts_with('/') {
                return Err(err(format!("the path `{path}` must start with `/`")));
            }
            let normal = |p: &str| {
                NormalPath::parse(p)
                    .map(NormalPath::into_string)
                    .map_err(|e| err(format!("the path `{path}`: {e}")))
            };
            let path = match path.strip_suffix("/*") {
                Some("") => PathPattern::Prefix(String::new()),
                Some(prefix) if prefix.contains('*') => {
                    return Err(err(format!(
                        "`*` may only end a path, after a `/` (in `{path}`)"
                    )));
                }
                Some(prefix) => PathPattern::Prefix(normal(prefix)?),
                None if path.contains('*') => {
                    return Err(err(format!(
                        "`*` may only end a path, after a `/` (in `{path}`)"
                    )));
                }
                None => PathPattern::Exact(normal(path)?),
            };
            let need = parse_need(need.trim()).map_err(err)?;
            rules.push(Rule { method, path, need });
        }
        Ok(Rules { rules: Some(rules) })
    }

    /// What a request for `path` needs; `None` when no rule matches (refuse it).
    pub fn need(&self, method: &http::Method, path: &NormalPath) -> Option<Need> {
        let Some(rules) = &self.rules else {
            return Some(Need::Token(RequirePermissions::authenticated()));
        };
        let path = path.as_str();
        rules
            .iter()
            .find(|r| r.method.as_ref().is_none_or(|m| m == method) && r.path.matches(path))
            .map(|r| r.need.clone())
    }

    /// How many rules were read (`None` without a rules file).
    pub fn count(&self) -> Option<usize> {
        self.rules.as_ref().map(Vec::len)
    }
}

fn parse_need(s: &str) -> Result<Need, String> {
    let words: Vec<&str> = s.split_whitespace().collect();
    if words.contains(&"+mfa") {
        let rest = words
            .iter()
            .filter(|w| **w != "+mfa")
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        return match parse_need_plain(if rest.is_empty() {
            "authenticated"
        } else {
            &rest
        })? {
            Need::Public => Err(format!("`{s}`: `public` cannot require `+mfa`")),
            Need::Token(r) => Ok(Need::Token(r.with_mfa())),
        };
    }
    parse_need_plain(s)
}

fn parse_need_plain(s: &str) -> Result<Need, String> {
    match s {
        "" => Err("nothing after `=>`: name permissions, `authenticated` or `public`".into()),
        "public" => Ok(Need::Public),
        "authenticated" => Ok(Need::Token(RequirePermissions::authenticated())),
        s if s.contains('|') => {
            let perms: Vec<&str> = s.split('|').map(str::trim).collect();
            if perms
                .iter()
                .any(|p| p.is_empty() || p.contains(char::is_whitespace))
            {
                return Err(format!(
                    "`{s}`: with `|`, give one permission on each side (any-of)"
                ));
            }
            Ok(Need::Token(RequirePermissions::any(perms)))
        }
        s => Ok(Need::Token(RequirePermissions::all(s.split_whitespace()))),
    }
}

impl fmt::Display for Need {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Need::Public => f.write_str("public"),
            Need::Token(r) => write!(f, "{r:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;

    const RULES: &str = "
        # todos
        GET    /api/todos/*  => read:todos
        POST   /api/todos    => write:todos
        delete /api/todos/*  => write:todos admin:todos
        GET    /api/reports  => read:reports | admin:todos
        *      /api/me       => authenticated
        GET    /health       => public
    ";

    fn need(rules: &Rules, m: Method, p: &str) -> String {
        let p = NormalPath::parse(p).unwrap();
        rules
            .need(&m, &p)
            .map(|n| n.to_string())
            .unwrap_or_else(|| "refused".into())
    }

    #[test]
    fn first_match_wins_and_prefixes_match_the_bare_prefix() {
        let r = Rules::parse(RULES).unwrap();
        assert_eq!(r.count(), Some(6));
        assert!(need(&r, Method::GET, "/api/todos").contains("read:todos"));
        assert!(need(&r, Method::GET, "/api/todos/7").contains("read:todos"));
        assert_eq!(need(&r, Method::GET, "/api/todosx"), "refused");
        assert!(need(&r, Method::POST, "/api/todos").contains("write:todos"));
        assert_eq!(need(&r, Method::POST, "/api/todos/7"), "refused");
        let d = need(&r, Method::DELETE, "/api/todos/7");
        assert!(d.contains("write:todos") && d.contains("admin:todos") && d.contains("any: false"));
        assert!(need(&r, Method::GET, "/api/reports").contains("any: true"));
        assert!(need(&r, Method::PATCH, "/api/me").contains("[]"));
        assert_eq!(need(&r, Method::GET, "/health"), "public");
        assert_eq!(need(&r, Method::POST, "/health"), "refused");
    }

    #[test]
    fn rules_match_the_normal_path_and_are_read_in_normal_form() {
        let r = Rules::parse(
            "GET /api/%61dmin/* => delete:todos\nGET /api/café => public\nGET /api/* => read:todos",
        )
        .unwrap();
        for p in ["/api/admin/users", "/api/%61dmin/users", "/api/admin"] {
            assert!(need(&r, Method::GET, p).contains("delete:todos"), "{p}");
        }
        // `%41` is `A`: another route (paths are case-sensitive).
        assert!(need(&r, Method::GET, "/api/%41dmin").contains("read:todos"));
        assert!(need(&r, Method::GET, "/api/adminx").contains("read:todos"));
        assert_eq!(need(&r, Method::GET, "/api/caf%c3%a9"), "public");
        assert_eq!(need(&r, Method::GET, "/api/café"), "public");
        // Upstreams decode `%3A` to `:` before routing: so do the rules.
        let r = Rules::parse("GET /api/admin:export => delete:todos\nGET /api/* => read:todos")
            .unwrap();
        assert!(need(&r, Method::GET, "/api/admin%3aexport").contains("delete:todos"));
    }

    #[test]
    fn rule_paths_that_are_not_normal_are_refused() {
        for text in [
            "GET /a/../b => x",
            "GET /a//b/* => x",
            "GET /a%2Fb => x",
            "GET /a;b => x",
            "GET /a/*/* => x",
            "GET /a\\b => x",
        ] {
            let e = Rules::parse(text).unwrap_err();
            assert_eq!(e.line, 1, "{text}: {e}");
        }
        // `/*` alone: every path.
        let r = Rules::parse("* /* => public").unwrap();
        assert_eq!(need(&r, Method::PUT, "/"), "public");
        assert_eq!(need(&r, Method::GET, "/x/y"), "public");
    }

    #[test]
    fn plus_mfa_requires_a_second_factor() {
        use writ_guard::{AccessClaims, AuthError};
        let r = Rules::parse(
            "DELETE /api/admin/* => admin:todos +mfa\nGET /api/secrets => +mfa\nGET /api/* => read:todos",
        )
        .unwrap();
        let claims = |perms: &[&str], amr: Option<&[&str]>| {
            let mut c: AccessClaims = serde_json::from_value(serde_json::json!({
                "iss": "i/", "sub": "usr_1", "aud": "a", "iat": 0, "exp": 1, "jti": "j",
                "client_id": "c", "azp": "c",
            }))
            .unwrap();
            c.permissions = Some(perms.iter().map(|p| p.to_string()).collect());
            c.amr = amr.map(|a| a.iter().map(|v| v.to_string()).collect());
            c
        };
        let check = |m: Method, p: &str, c: &AccessClaims| match r
            .need(&m, &NormalPath::parse(p).unwrap())
            .unwrap()
        {
            Need::Token(req) => req.check(c),
            Need::Public => Ok(()),
        };
        let mfa = Some(&["pwd", "otp", "mfa"][..]);
        let pwd = Some(&["pwd"][..]);
        assert_eq!(
            check(
                Method::DELETE,
                "/api/admin/x",
                &claims(&["admin:todos"], mfa)
            ),
            Ok(())
        );
        assert_eq!(
            check(
                Method::DELETE,
                "/api/admin/x",
                &claims(&["admin:todos"], pwd)
            ),
            Err(AuthError::MfaRequired)
        );
        assert_eq!(
            check(
                Method::DELETE,
                "/api/admin/x",
                &claims(&["admin:todos"], None)
            ),
            Err(AuthError::MfaRequired)
        );
        assert!(matches!(
            check(Method::DELETE, "/api/admin/x", &claims(&[], mfa)),
            Err(AuthError::InsufficientScope { .. })
        ));
        assert_eq!(
            check(Method::GET, "/api/secrets", &claims(&[], mfa)),
            Ok(())
        );
        assert_eq!(
            check(Method::GET, "/api/secrets", &claims(&[], pwd)),
            Err(AuthError::MfaRequired)
        );
        // Routes without `+mfa` do not look at `amr`.
        assert_eq!(
            check(Method::GET, "/api/x", &claims(&["read:todos"], None)),
            Ok(())
        );
        assert_eq!(Rules::parse("GET /a => public +mfa").unwrap_err().line, 1);
        let e = AuthError::MfaRequired;
        assert_eq!(e.status(), http::StatusCode::UNAUTHORIZED);
        assert!(
            e.www_authenticate()
                .unwrap()
                .contains("insufficient_user_authentication")
        );
    }

    #[test]
    fn without_a_file_every_request_needs_a_token() {
        let r = Rules::default();
        assert_eq!(r.count(), None);
        assert!(matches!(
            r.need(&Method::GET, &NormalPath::parse("/anything").unwrap()),
            Some(Need::Token(_))
        ));
    }

    #[test]
    fn bad_lines_name_their_number() {
        for (text, line) in [
            ("GET /a => x\nGET /b", 2),
            ("GET => x", 1),
            ("\n\nGE(T /a => x", 3),
            ("GET a => x", 1),
            ("GET /a/*/b => x", 1),
            ("GET /a =>", 1),
            ("GET /a => x | y z", 1),
        ] {
            let e = Rules::parse(text).unwrap_err();
            assert_eq!(e.line, line, "{text}: {e}");
        }
    }
}
