//! The client's address and scheme, worked out once per request, so that everything deciding
//! or recording something by IP (brute-force limits, sign-up limits, the audit log, the admin
//! console's calls) agrees, and so that Writ behind a reverse proxy sees its users rather than
//! the proxy.
//!
//! Without `WRIT_TRUSTED_PROXIES` the client is the TCP peer, and it used https when the
//! connection is Writ's own TLS ([`TlsConnection`]). When the peer is one of the
//! trusted proxies (a list of CIDR ranges), the client is read from the one forwarding header
//! the proxies are said to set (`WRIT_TRUSTED_PROXY_HEADER`): `X-Forwarded-For` by default (what
//! nginx, HAProxy, Traefik, Caddy and the cloud load balancers append), or `Forwarded` (RFC
//! 7239, its `for=` parameter). The other header is never read: a client could send it, and a
//! proxy that only appends to one passes the other through untouched. Each proxy appends the
//! address it received the request from, so the list is walked from the right, skipping trusted
//! proxies: the first address that is not trusted is the client (when all of them are trusted,
//! the left-most). Entries left of it were written by the client itself and are never read. The
//! scheme comes from `X-Forwarded-Proto` with the first, from the chosen element's `proto=` with
//! the second (when the proxy does not say, the scheme of its own connection to Writ). From any
//! other peer these headers are ignored entirely: anyone can send them.
//!
//! A header Writ cannot read where it matters (an entry that is not an address, like `unknown`
//! or an obfuscated identifier, before the client was found) is ignored as a whole, and the
//! peer is used. Parsing never fails otherwise: IPv6 in brackets, ports, quoted values and
//! several header lines are understood. Elements are split at every `,` and `;`, quoted or not:
//! no value Writ reads can contain them, and this keeps an unbalanced quote sent by the client
//! from swallowing what the proxies appended.
//!
//! [`annotate`] (called by the router's middleware, `request_id::layer`) computes a
//! [`ClientAddr`] and stores it in the request's extensions; handlers take it as an extractor.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, Request};
use axum::http::HeaderMap;
use axum::http::request::Parts;
pub use writ_service::proxies::{ForwardingHeader, TrustedProxies};

use crate::state::AppState;

/// How many forwarding entries are looked at, at most, from the right (a longer chain of
/// trusted proxies is a misconfiguration or an attack).
const MAX_HOPS: usize = 32;

/// A request extension: the request arrived over a TLS connection Writ terminated itself
/// (`WRIT_TLS_CERT`, see [`crate::run_tls_with`]), so its scheme is https.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlsConnection;

/// Where a request came from, as far as Writ can tell: the client's IP and whether the client
/// used https (over Writ's own TLS, or as a trusted proxy says).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr {
    /// The client's address (IPv4-mapped IPv6 addresses are given as IPv4).
    pub ip: IpAddr,
    /// Whether the client used https: to Writ itself, or to the (trusted) proxy.
    pub https: bool,
}

impl ClientAddr {
    /// The client of a request received from `peer` with `headers`, over TLS or not.
    pub fn resolve(peer: IpAddr, tls: bool, headers: &HeaderMap, trusted: &TrustedProxies) -> Self {
        let peer = peer.to_canonical();
        let direct = ClientAddr {
            ip: peer,
            https: tls,
        };
        if trusted.is_empty() || !trusted.contains(peer) {
            return direct;
        }
        let lines = |name: &str| -> Vec<&str> {
            headers
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect()
        };
        match trusted.header() {
            ForwardingHeader::Forwarded => match from_forwarded(&lines("forwarded"), trusted) {
                Some((ip, proto)) => ClientAddr {
                    ip,
                    https: proto.unwrap_or(tls),
                },
                None => direct,
            },
            ForwardingHeader::XForwardedFor => {
                let https = forwarded_proto(&lines("x-forwarded-proto")).unwrap_or(tls);
                ClientAddr {
                    ip: from_x_forwarded_for(&lines("x-forwarded-for"), trusted).unwrap_or(peer),
                    https,
                }
            }
        }
    }

    /// The address recorded for a request: its extension when [`layer`] (or an in-process
    /// caller) set one, else the TCP peer.
    pub fn of_parts(parts: &Parts) -> Option<Self> {
        if let Some(a) = parts.extensions.get::<ClientAddr>() {
            return Some(*a);
        }
        parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| ClientAddr {
                ip: c.0.ip().to_canonical(),
                https: parts.extensions.get::<TlsConnection>().is_some(),
            })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = Infallible;

    /// Never fails: a request without any address (only possible for an in-process call that
    /// set none) counts as coming from `0.0.0.0`.
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(ClientAddr::of_parts(parts).unwrap_or(ClientAddr {
            ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            https: false,
        }))
    }
}

/// Computes the request's [`ClientAddr`] from the TCP peer and, for a trusted proxy, its
/// forwarding headers, and puts it in the request's extensions. The router's one middleware
/// ([`crate::http::request_id::layer`]) calls it for every request, which saves a layer per
/// request on the token endpoint's hot path.
pub fn annotate(state: &AppState, req: &mut Request) {
    if let Some(peer) = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
    {
        let tls = req.extensions().get::<TlsConnection>().is_some();
        let addr = ClientAddr::resolve(peer, tls, req.headers(), &state.config.trusted_proxies);
        req.extensions_mut().insert(addr);
        // The same answer for edges mounted on this server that cannot name this type.
        req.extensions_mut()
            .insert(writ_service::proxies::ClientAddr {
                ip: addr.ip,
                https: addr.https,
            });
    }
}

/// Walks addresses from the right (the nearest proxy's entry first) and returns the index of
/// the client: the first untrusted address, or the left-most when all are trusted. `None` when
/// an entry that must be read is not an address.
fn pick(entries: &[Option<IpAddr>], trusted: &TrustedProxies) -> Option<usize> {
    let mut last = None;
    for (i, e) in entries.iter().enumerate().rev().take(MAX_HOPS) {
        let ip = (*e)?;
        if !trusted.contains(ip) {
            return Some(i);
        }
        last = Some(i);
    }
    last
}

/// The client from `Forwarded` lines: its address and, when given, whether its `proto` was
/// https.
fn from_forwarded(lines: &[&str], trusted: &TrustedProxies) -> Option<(IpAddr, Option<bool>)> {
    let elements: Vec<(Option<IpAddr>, Option<bool>)> = lines
        .iter()
        .flat_map(|l| l.split(','))
        .map(forwarded_element)
        .collect();
    let addrs: Vec<Option<IpAddr>> = elements.iter().map(|e| e.0).collect();
    let i = pick(&addrs, trusted)?;
    let (ip, proto) = elements[i];
    Some((ip?, proto))
}

/// One `Forwarded` element (`for=…;proto=…;by=…`): its `for` address, if it is one, and its
/// `proto`, if it is http or https.
fn forwarded_element(element: &str) -> (Option<IpAddr>, Option<bool>) {
    let (mut ip, mut proto) = (None, None);
    for pair in element.split(';') {
        let Some((k, v)) = pair.split_once('=') else {
            continue;
        };
        let v = unquote(v.trim());
        match k.trim().to_ascii_lowercase().as_str() {
            "for" => ip = parse_node(&v),
            "proto" => proto = parse_proto(&v),
            _ => {}
        }
    }
    (ip, proto)
}

/// A token or an RFC 7230 quoted-string (with `\` escapes); an unterminated quote is kept as
/// is (and then fails to parse as anything Writ reads).
fn unquote(v: &str) -> String {
    match v
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .filter(|_| v.len() >= 2)
    {
        Some(inner) => {
            let mut out = String::with_capacity(inner.len());
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    if let Some(n) = chars.next() {
                        out.push(n);
                    }
                } else {
                    out.push(c);
                }
            }
            out
        }
        None => v.to_owned(),
    }
}

/// A node address: `192.0.2.1`, `192.0.2.1:4711`, `[2001:db8::1]`, `[2001:db8::1]:4711` or a
/// bare `2001:db8::1`. Anything else (`unknown`, `_hidden`, garbage) is `None`.
fn parse_node(v: &str) -> Option<IpAddr> {
    let v = v.trim();
    if let Ok(ip) = v.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    let port_ok = |p: &str| p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok();
    if let Some(rest) = v.strip_prefix('[') {
        let (inner, tail) = rest.split_once(']')?;
        let ip: std::net::Ipv6Addr = inner.parse().ok()?;
        if tail.is_empty() || tail.strip_prefix(':').is_some_and(port_ok) {
            return Some(IpAddr::V6(ip).to_canonical());
        }
        return None;
    }
    let (host, port) = v.split_once(':')?;
    if !port_ok(port) {
        return None;
    }
    host.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
}

fn parse_proto(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "https" => Some(true),
        "http" => Some(false),
        _ => None,
    }
}

/// The client from `X-Forwarded-For` lines.
fn from_x_forwarded_for(lines: &[&str], trusted: &TrustedProxies) -> Option<IpAddr> {
    let addrs: Vec<Option<IpAddr>> = lines
        .iter()
        .flat_map(|l| l.split(','))
        .map(|e| parse_node(&unquote(e.trim())))
        .collect();
    addrs[pick(&addrs, trusted)?]
}

/// `X-Forwarded-Proto`: the value the nearest proxy wrote (the right-most), when it is http or
/// https.
fn forwarded_proto(lines: &[&str]) -> Option<bool> {
    lines
        .iter()
        .flat_map(|l| l.split(','))
        .next_back()
        .and_then(parse_proto)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn trusted() -> TrustedProxies {
        TrustedProxies::parse("10.0.0.0/8, 127.0.0.1/32, ::1/128").unwrap()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn resolve(peer: &str, pairs: &[(&'static str, &str)]) -> ClientAddr {
        ClientAddr::resolve(ip(peer), false, &headers(pairs), &trusted())
    }

    /// Like [`resolve`], with proxies that set RFC 7239 `Forwarded`.
    fn resolve_forwarded(peer: &str, pairs: &[(&'static str, &str)]) -> ClientAddr {
        ClientAddr::resolve(
            ip(peer),
            false,
            &headers(pairs),
            &trusted().with_header(ForwardingHeader::Forwarded),
        )
    }

    #[test]
    fn parses_the_trusted_list() {
        let t = TrustedProxies::parse(" 10.0.0.0/8,, 192.168.1.7 , fd00::/8 ").unwrap();
        assert!(t.contains(ip("10.1.2.3")));
        assert!(t.contains(ip("192.168.1.7")));
        assert!(!t.contains(ip("192.168.1.8")));
        assert!(t.contains(ip("fd12::1")));
        assert!(
            t.contains(ip("::ffff:10.9.9.9")),
            "IPv4-mapped counts as IPv4"
        );
        assert!(TrustedProxies::parse("").unwrap().is_empty());
        for bad in ["10.0.0.0/33", "nope", "10.0.0.0/8, 1.2.3", "::1/129"] {
            let e = TrustedProxies::parse(bad).unwrap_err();
            assert!(e.contains("is not a CIDR range"), "{bad}: {e}");
        }
    }

    #[test]
    fn untrusted_peers_and_no_list_ignore_the_headers() {
        let h = [
            ("x-forwarded-for", "203.0.113.9"),
            ("forwarded", "for=203.0.113.9;proto=https"),
            ("x-forwarded-proto", "https"),
        ];
        let a = resolve("192.0.2.1", &h);
        assert_eq!(
            a,
            ClientAddr {
                ip: ip("192.0.2.1"),
                https: false
            }
        );
        let none = ClientAddr::resolve(
            ip("127.0.0.1"),
            false,
            &headers(&h),
            &TrustedProxies::default(),
        );
        assert_eq!(none.ip, ip("127.0.0.1"));
        assert!(!none.https);
    }

    #[test]
    fn x_forwarded_for_is_walked_from_the_right() {
        // The client wrote "1.1.1.1"; the outer proxy saw 203.0.113.9; an inner proxy 10.0.0.2.
        let a = resolve(
            "127.0.0.1",
            &[
                ("x-forwarded-for", "1.1.1.1, 203.0.113.9, 10.0.0.2"),
                ("x-forwarded-proto", "https"),
            ],
        );
        assert_eq!(
            a,
            ClientAddr {
                ip: ip("203.0.113.9"),
                https: true
            }
        );
        // Several lines are one list, in order.
        let a = resolve(
            "127.0.0.1",
            &[
                ("x-forwarded-for", "1.1.1.1"),
                ("x-forwarded-for", "198.51.100.4:5555"),
            ],
        );
        assert_eq!(a.ip, ip("198.51.100.4"));
        // All trusted: the left-most.
        assert_eq!(
            resolve("10.0.0.1", &[("x-forwarded-for", "10.0.0.7, 10.0.0.8")]).ip,
            ip("10.0.0.7")
        );
        // IPv6, with and without brackets and ports.
        assert_eq!(
            resolve("::1", &[("x-forwarded-for", "2001:db8::5")]).ip,
            ip("2001:db8::5")
        );
        assert_eq!(
            resolve("::1", &[("x-forwarded-for", "[2001:db8::6]:443")]).ip,
            ip("2001:db8::6")
        );
        // Garbage where it matters: the header is ignored, the peer is the client.
        for bad in [
            "unknown",
            "203.0.113.9, nonsense",
            "1.2.3.4:99999",
            "[::1",
            "",
            " , ",
        ] {
            assert_eq!(
                resolve("127.0.0.1", &[("x-forwarded-for", bad)]).ip,
                ip("127.0.0.1"),
                "{bad:?}"
            );
        }
        // Garbage the client wrote left of the real entry is never read.
        assert_eq!(
            resolve("127.0.0.1", &[("x-forwarded-for", "garbage, 203.0.113.9")]).ip,
            ip("203.0.113.9")
        );
    }

    #[test]
    fn only_the_configured_header_is_read() {
        // Behind nginx (X-Forwarded-For), a Forwarded header the client sent picks nothing.
        let a = resolve(
            "127.0.0.1",
            &[
                ("forwarded", "for=192.0.2.1"),
                ("x-forwarded-for", "198.51.100.1"),
            ],
        );
        assert_eq!(a.ip, ip("198.51.100.1"));
        assert_eq!(
            resolve("127.0.0.1", &[("forwarded", "for=192.0.2.1")]).ip,
            ip("127.0.0.1")
        );
        // Behind a Forwarded proxy, X-Forwarded-For and X-Forwarded-Proto pick nothing.
        let a = resolve_forwarded(
            "127.0.0.1",
            &[
                ("x-forwarded-for", "198.51.100.1"),
                ("x-forwarded-proto", "https"),
            ],
        );
        assert_eq!(
            a,
            ClientAddr {
                ip: ip("127.0.0.1"),
                https: false
            }
        );
        assert_eq!(
            ForwardingHeader::parse("Forwarded"),
            Ok(ForwardingHeader::Forwarded)
        );
        assert!(ForwardingHeader::parse("x-real-ip").is_err());
    }

    #[test]
    fn forwarded_when_configured() {
        let a = resolve_forwarded(
            "127.0.0.1",
            &[
                (
                    "forwarded",
                    r#"for=192.0.2.60;proto=http;by=203.0.113.43, for="[2001:db8:cafe::17]:4711";proto=https"#,
                ),
                ("x-forwarded-for", "198.51.100.1"),
            ],
        );
        assert_eq!(
            a,
            ClientAddr {
                ip: ip("2001:db8:cafe::17"),
                https: true
            }
        );
        // Case-insensitive names, quoted IPv4 with a port, the proto only from `proto=`.
        let a = resolve_forwarded(
            "127.0.0.1",
            &[
                ("forwarded", r#"For="198.51.100.17:8080""#),
                ("x-forwarded-proto", "HTTPS"),
            ],
        );
        assert_eq!(
            a,
            ClientAddr {
                ip: ip("198.51.100.17"),
                https: false
            }
        );
        // Trusted hops are skipped; the element chosen gives the proto.
        let a = resolve_forwarded(
            "10.0.0.1",
            &[
                ("forwarded", "for=198.51.100.2;proto=https"),
                ("forwarded", "for=10.0.0.9;proto=http"),
            ],
        );
        assert_eq!(
            a,
            ClientAddr {
                ip: ip("198.51.100.2"),
                https: true
            }
        );
        // An unreadable Forwarded falls back to the peer (never to another header).
        let a = resolve_forwarded(
            "127.0.0.1",
            &[
                ("forwarded", "for=unknown"),
                ("x-forwarded-for", "198.51.100.3"),
            ],
        );
        assert_eq!(a.ip, ip("127.0.0.1"));
        for bad in [
            "for=_hidden",
            "proto=https",
            "for=\"",
            "for",
            ";;,,",
            "for=\"[::1]:80",
            "for=1.2.3.4.5",
        ] {
            let a = resolve_forwarded("127.0.0.1", &[("forwarded", bad)]);
            assert_eq!(a.ip, ip("127.0.0.1"), "{bad:?}");
        }
        // An unbalanced quote from the client does not hide what the proxy appended.
        let a = resolve_forwarded(
            "127.0.0.1",
            &[("forwarded", "for=\"oops, for=198.51.100.8")],
        );
        assert_eq!(a.ip, ip("198.51.100.8"));
    }

    #[test]
    fn the_scheme_comes_from_the_nearest_proxy() {
        let a = resolve("127.0.0.1", &[("x-forwarded-proto", "https, http")]);
        assert!(!a.https);
        let a = resolve("127.0.0.1", &[("x-forwarded-proto", "http, https")]);
        assert!(a.https);
        assert!(!resolve("127.0.0.1", &[("x-forwarded-proto", "gopher")]).https);
        assert!(resolve("127.0.0.1", &[("x-forwarded-proto", "https")]).https);
        assert_eq!(
            resolve("127.0.0.1", &[("x-forwarded-proto", "https")]).ip,
            ip("127.0.0.1")
        );
    }

    #[test]
    fn writs_own_tls_is_https() {
        let plain = TrustedProxies::default();
        let h = headers(&[("x-forwarded-proto", "http")]);
        // Directly: the connection decides, whatever the client's headers say.
        let a = ClientAddr::resolve(ip("192.0.2.1"), true, &h, &plain);
        assert_eq!(
            a,
            ClientAddr {
                ip: ip("192.0.2.1"),
                https: true
            }
        );
        assert!(!ClientAddr::resolve(ip("192.0.2.1"), false, &headers(&[]), &plain).https);
        // A trusted proxy's word wins; when it says nothing, its own connection's scheme.
        assert!(!ClientAddr::resolve(ip("127.0.0.1"), true, &h, &trusted()).https);
        assert!(ClientAddr::resolve(ip("127.0.0.1"), true, &headers(&[]), &trusted()).https);
        let fwd = trusted().with_header(ForwardingHeader::Forwarded);
        let a = ClientAddr::resolve(
            ip("127.0.0.1"),
            true,
            &headers(&[("forwarded", "for=198.51.100.4")]),
            &fwd,
        );
        assert_eq!(
            a,
            ClientAddr {
                ip: ip("198.51.100.4"),
                https: true
            }
        );
        // Without the middleware's answer, the TCP peer and the connection's scheme.
        let mut req = axum::http::Request::builder().body(()).unwrap();
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([192, 0, 2, 7], 4000))));
        req.extensions_mut().insert(TlsConnection);
        let (parts, _) = req.into_parts();
        assert!(ClientAddr::of_parts(&parts).unwrap().https);
    }

    #[test]
    fn never_panics_on_odd_input() {
        let odd = [
            "",
            ",",
            ";",
            "=",
            "\"",
            "\"\"",
            "for=",
            "for=[",
            "for=[]",
            "for=[]:",
            "for=[::1]x",
            "for=:80",
            "for=1.2.3.4:",
            "for=1.2.3.4:-1",
            "for=\\",
            "for=\"\\\"",
            "for=\"a\\",
            "for=::ffff:1.2.3.4",
            "for=\u{e9}",
        ];
        for v in odd {
            let _ = resolve(
                "127.0.0.1",
                &[
                    ("forwarded", v),
                    ("x-forwarded-for", v),
                    ("x-forwarded-proto", v),
                ],
            );
        }
        let long = vec!["10.0.0.1"; 500].join(",");
        assert_eq!(
            resolve("127.0.0.1", &[("x-forwarded-for", &long)]).ip,
            ip("10.0.0.1")
        );
        // Mapped IPv4 peers and entries are IPv4.
        assert_eq!(
            resolve(
                "::ffff:127.0.0.1",
                &[("x-forwarded-for", "::ffff:198.51.100.9")]
            )
            .ip,
            ip("198.51.100.9")
        );
    }
}
