//! The console's HTTP details: where a request came from (the client address the server's
//! middleware worked out, as a [`writ_service::proxies::ClientAddr`] extension), the audit
//! [`Peer`] of a console request, and its cookies — named and shaped by the rules of
//! [`writ_core::protocol::cookie`], like every cookie of Writ (`HttpOnly`, `Path=/`, no
//! `Domain`; `__Host-` and `Secure` on https issuers, `Secure` too behind an https proxy).

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use writ_core::protocol::cookie;
use writ_service::Writ;
use writ_service::audit::Peer;
use writ_service::proxies::ClientAddr;

/// The client of a request: the server's answer (behind trusted proxies, the real client),
/// else the TCP peer, else (a request without any address) `0.0.0.0`.
pub struct Client(pub ClientAddr);

impl Client {
    pub fn of_parts(parts: &Parts) -> ClientAddr {
        if let Some(a) = parts.extensions.get::<ClientAddr>() {
            return *a;
        }
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| {
                c.0.ip().to_canonical()
            });
        ClientAddr { ip, https: false }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(Client(Client::of_parts(parts)))
    }
}

/// The audit [`Peer`] of a console request: the admin's address and browser, on the console's
/// channel.
pub fn peer(parts: &Parts) -> Peer {
    let ua = parts
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    Peer {
        channel: Some("console"),
        ..Peer::new(Client::of_parts(parts).ip, ua)
    }
}

/// `SameSite`: `Strict` for the session (only the console's own pages post), `Lax` for a
/// sign-in in progress (its callback arrives by a redirect that may have started elsewhere).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    Strict,
    Lax,
}

/// The value of the cookie `base` sent with a request, if any.
pub fn get_cookie(w: &Writ, headers: &HeaderMap, base: &str) -> Option<String> {
    let name = cookie::name(&w.config.issuer, base);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// Adds `Set-Cookie: base=value` to a response, expiring after `max_age` seconds when given.
pub fn set_cookie(
    r: &mut Response,
    w: &Writ,
    addr: &ClientAddr,
    base: &str,
    value: &str,
    same_site: SameSite,
    max_age: Option<i64>,
) {
    let issuer = &w.config.issuer;
    let mut c = format!(
        "{}={value}; Path=/; HttpOnly; SameSite={}",
        cookie::name(issuer, base),
        match same_site {
            SameSite::Strict => "Strict",
            SameSite::Lax => "Lax",
        }
    );
    if let Some(s) = max_age {
        c.push_str(&format!("; Max-Age={s}"));
    }
    if cookie::secure(issuer, addr.https) {
        c.push_str("; Secure");
    }
    if let Ok(v) = HeaderValue::from_str(&c) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// Adds a `Set-Cookie` that deletes the cookie `base`.
pub fn clear_cookie(
    r: &mut Response,
    w: &Writ,
    addr: &ClientAddr,
    base: &str,
    same_site: SameSite,
) {
    set_cookie(r, w, addr, base, "", same_site, Some(0));
}

/// The origin (`scheme://host[:port]`) of a URL, or `""`.
pub fn origin_of(url: &str) -> String {
    url::Url::parse(url)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_peers_come_from_the_client_address() {
        let mut req = axum::http::Request::builder()
            .header(header::USER_AGENT, "curl/8")
            .body(())
            .unwrap();
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([203, 0, 113, 9], 4000))));
        let (parts, _) = req.into_parts();
        let p = peer(&parts);
        assert_eq!(p.ip, Some(IpAddr::from([203, 0, 113, 9])));
        assert_eq!(p.user_agent.as_deref(), Some("curl/8"));
        assert_eq!(p.channel, Some("console"));
        // The server's answer (behind a trusted proxy) wins over the TCP peer.
        let mut req = axum::http::Request::builder().body(()).unwrap();
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 4000))));
        req.extensions_mut().insert(ClientAddr {
            ip: IpAddr::from([198, 51, 100, 7]),
            https: true,
        });
        let (parts, _) = req.into_parts();
        assert_eq!(peer(&parts).ip, Some(IpAddr::from([198, 51, 100, 7])));
        assert!(Client::of_parts(&parts).https);
    }

    #[test]
    fn origins() {
        assert_eq!(origin_of("https://a.example/x?y"), "https://a.example");
        assert_eq!(origin_of("http://127.0.0.1:3000/"), "http://127.0.0.1:3000");
        assert_eq!(origin_of("not a url"), "");
    }
}
