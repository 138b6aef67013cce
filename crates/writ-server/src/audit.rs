//! The audit log's HTTP side: where a request came from ([`peer_of`], [`PeerOf`]). Entries are
//! built and appended by [`writ_service::audit`].

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
pub use writ_service::audit::{Entry, Peer, record, types};

use crate::http::client_addr::ClientAddr;

/// The [`Peer`] of a request: the client's address ([`ClientAddr`], the real client behind a
/// trusted proxy) and its `User-Agent`.
pub fn peer_of(parts: &Parts) -> Peer {
    let ua = parts
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    match ClientAddr::of_parts(parts) {
        Some(a) => Peer::new(a.ip, ua),
        None => Peer {
            user_agent: Peer::new(std::net::Ipv4Addr::UNSPECIFIED.into(), ua).user_agent,
            ..Peer::default()
        },
    }
}

/// The [`Peer`] of a request handled with its address and headers at hand.
pub fn peer(ip: std::net::IpAddr, headers: &axum::http::HeaderMap) -> Peer {
    Peer::new(
        ip,
        headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok()),
    )
}

/// [`peer_of`] as an extractor.
pub struct PeerOf(pub Peer);

impl<S: Send + Sync> FromRequestParts<S> for PeerOf {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(PeerOf(peer_of(parts)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    #[test]
    fn peers_come_from_the_connection_or_the_client_address() {
        let mut req = axum::http::Request::builder()
            .header(header::USER_AGENT, "curl/8")
            .body(())
            .unwrap();
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((
                [203, 0, 113, 9],
                4000,
            ))));
        let (parts, _) = req.into_parts();
        let p = peer_of(&parts);
        assert_eq!(p.ip, Some(IpAddr::from([203, 0, 113, 9])));
        assert_eq!(p.user_agent.as_deref(), Some("curl/8"));
        assert_eq!(p.channel, None);
        // The client's address worked out by `client_addr` wins over the TCP peer.
        let mut req = axum::http::Request::builder().body(()).unwrap();
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((
                [127, 0, 0, 1],
                4000,
            ))));
        req.extensions_mut().insert(ClientAddr {
            ip: IpAddr::from([198, 51, 100, 7]),
            https: true,
        });
        let (parts, _) = req.into_parts();
        assert_eq!(peer_of(&parts).ip, Some(IpAddr::from([198, 51, 100, 7])));
    }
}
