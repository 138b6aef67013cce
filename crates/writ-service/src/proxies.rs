//! Which reverse proxies Writ believes (`WRIT_TRUSTED_PROXIES`) and which forwarding header
//! they set (`WRIT_TRUSTED_PROXY_HEADER`): parsed once with the configuration. The HTTP edge
//! reads the client's address from that header only for requests from these proxies.

use std::net::IpAddr;

use ipnet::IpNet;

/// Where a request came from, as the HTTP edge worked it out from the TCP peer and, for a
/// trusted proxy, its forwarding header: the client's address and whether it used https. The
/// server's middleware sets it as a request extension, so every edge mounted on the server
/// (the admin console too) reads the same answer without knowing how it was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr {
    /// The client's address (IPv4-mapped IPv6 addresses are given as IPv4).
    pub ip: IpAddr,
    /// Whether the client used https: to Writ itself (its own TLS), or to the (trusted) proxy.
    pub https: bool,
}

/// Which forwarding header the trusted proxies set (`WRIT_TRUSTED_PROXY_HEADER`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ForwardingHeader {
    /// `X-Forwarded-For` with `X-Forwarded-Proto` (the default).
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded` (`for=`, `proto=`).
    Forwarded,
}

impl ForwardingHeader {
    /// `x-forwarded-for` or `forwarded` (any case).
    pub fn parse(v: &str) -> Result<Self, String> {
        match v.trim().to_ascii_lowercase().as_str() {
            "x-forwarded-for" => Ok(Self::XForwardedFor),
            "forwarded" => Ok(Self::Forwarded),
            _ => Err(format!("'{v}' must be x-forwarded-for or forwarded")),
        }
    }

    /// The name [`ForwardingHeader::parse`] reads.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::XForwardedFor => "x-forwarded-for",
            Self::Forwarded => "forwarded",
        }
    }
}

/// The proxies whose forwarding headers are believed (`WRIT_TRUSTED_PROXIES`), and which header
/// they set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
    header: ForwardingHeader,
}

impl TrustedProxies {
    /// Parses a comma-separated list of CIDR ranges (`10.0.0.0/8, ::1/128`); a bare address
    /// means that address alone. Empty entries are skipped. The error names the bad entry.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut nets = vec![];
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let net = match item.parse::<IpNet>() {
                Ok(n) => n.trunc(),
                Err(_) => match item.parse::<IpAddr>() {
                    Ok(ip) => IpNet::from(ip),
                    Err(_) => {
                        return Err(format!(
                            "'{item}' is not a CIDR range like 10.0.0.0/8 or ::1/128"
                        ));
                    }
                },
            };
            nets.push(net);
        }
        Ok(TrustedProxies {
            nets,
            header: ForwardingHeader::default(),
        })
    }

    /// The same proxies, setting `header`.
    pub fn with_header(self, header: ForwardingHeader) -> Self {
        TrustedProxies { header, ..self }
    }

    /// The header read from these proxies.
    pub fn header(&self) -> ForwardingHeader {
        self.header
    }

    /// The trusted ranges, as CIDR strings [`TrustedProxies::parse`] reads back.
    pub fn ranges(&self) -> Vec<String> {
        self.nets.iter().map(|n| n.to_string()).collect()
    }

    /// Whether no proxy is trusted (the default).
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    /// Whether `ip` is one of the trusted proxies (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.nets.iter().any(|n| n.contains(&ip))
    }
}
