//! The client's address, computed once at a service's edge and used by its limits and logs:
//! the peer, unless the peer is a listed proxy, and then the nearest hop of
//! `X-Forwarded-For` (or `Forwarded: for=`) that is not a listed proxy. A client cannot
//! choose its address by sending the header: only a trusted proxy's is read.

use std::net::IpAddr;

use axum::http::HeaderMap;
use ipnet::IpNet;

use crate::config::{ConfigError, Env};

/// The client address of a request (in axum's extensions at the router, in the GraphQL
/// context at a subgraph).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub IpAddr);

/// The proxies whose forwarding headers are believed (in YAML: a list of addresses or
/// CIDR ranges).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "Vec<String>")]
pub struct TrustedProxies(Vec<IpNet>);

impl TryFrom<Vec<String>> for TrustedProxies {
    type Error = String;

    fn try_from(list: Vec<String>) -> Result<Self, Self::Error> {
        Self::parse(&list.join(","))
    }
}

impl TrustedProxies {
    /// Comma-separated addresses or CIDR ranges (`10.0.0.0/8, ::1`).
    pub fn parse(list: &str) -> Result<Self, String> {
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("`{s}` is not an address or CIDR range"))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// `var` (unset: no proxy is trusted).
    pub fn from_env(env: &Env, var: &str) -> Result<Self, ConfigError> {
        match env.get(var) {
            None => Ok(Self::default()),
            Some(list) => Self::parse(&list).map_err(|reason| ConfigError::new(var, &list, reason)),
        }
    }

    /// This host's loopback addresses: a proxy on the same machine (the one-command run).
    pub fn loopback() -> Self {
        Self(vec![
            IpNet::from(IpAddr::from([127, 0, 0, 1])),
            IpNet::from(IpAddr::from(std::net::Ipv6Addr::LOCALHOST)),
        ])
    }

    /// Every peer (the router's deprecated `trust_forwarded_headers: true`).
    pub fn any() -> Self {
        Self(vec![
            IpNet::V4(ipnet::Ipv4Net::default()),
            IpNet::V6(ipnet::Ipv6Net::default()),
        ])
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client address of a request that arrived from `peer` with `headers`.
    pub fn client_address(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.contains(peer) {
            return peer;
        }
        // Right to left: each hop was appended by the proxy after it; the first one that
        // is not ours is the client. A hop that does not parse ends the walk (whatever is
        // left of it was written by the client).
        let mut client = peer;
        for hop in forwarded_hops(headers).iter().rev() {
            let Some(ip) = hop else { break };
            client = ip.to_canonical();
            if !self.contains(client) {
                break;
            }
        }
        client
    }
}

/// `X-Forwarded-For` hops, or else `Forwarded: for=` ones, left to right (`None` where a hop
/// is not an address, e.g. `unknown` or an obfuscated identifier).
fn forwarded_hops(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let xff: Vec<Option<IpAddr>> = headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|v| v.to_str().unwrap_or("").split(','))
        .map(|hop| hop.trim().parse().ok())
        .collect();
    if !xff.is_empty() {
        return xff;
    }
    headers
        .get_all("forwarded")
        .iter()
        .flat_map(|v| v.to_str().unwrap_or("").split(','))
        .filter_map(|element| {
            element.split(';').find_map(|pair| {
                let (key, value) = pair.trim().split_once('=')?;
                key.eq_ignore_ascii_case("for")
                    .then(|| parse_forwarded_node(value))
            })
        })
        .collect()
}

/// `192.0.2.1`, `"192.0.2.1:4711"`, `"[2001:db8::1]:4711"`.
fn parse_forwarded_node(value: &str) -> Option<IpAddr> {
    let value = value.trim().trim_matches('"');
    if let Some(rest) = value.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    value
        .parse()
        .ok()
        .or_else(|| value.rsplit_once(':').and_then(|(ip, _)| ip.parse().ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, v.parse().unwrap());
        }
        map
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_sends() {
        let trusted = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let h = headers(&[("x-forwarded-for", "1.2.3.4")]);
        assert_eq!(
            trusted.client_address(ip("203.0.113.9"), &h),
            ip("203.0.113.9")
        );
        assert_eq!(
            TrustedProxies::default().client_address(ip("10.0.0.1"), &h),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn behind_trusted_proxies_the_nearest_untrusted_hop_is_the_client() {
        let trusted = TrustedProxies::parse("10.0.0.0/8, 192.168.1.1").unwrap();
        // The client forged the first hop; the proxies appended the real one.
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 203.0.113.9, 10.1.1.1")]);
        assert_eq!(
            trusted.client_address(ip("192.168.1.1"), &h),
            ip("203.0.113.9")
        );
        let h = headers(&[("x-forwarded-for", "garbage, 203.0.113.9")]);
        assert_eq!(
            trusted.client_address(ip("10.0.0.2"), &h),
            ip("203.0.113.9")
        );
        // Only proxies: the leftmost.
        let h = headers(&[("x-forwarded-for", "10.2.2.2")]);
        assert_eq!(trusted.client_address(ip("10.0.0.2"), &h), ip("10.2.2.2"));
        // Nothing forwarded: the peer.
        assert_eq!(
            trusted.client_address(ip("10.0.0.2"), &HeaderMap::new()),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn forwarded_header_and_mapped_addresses() {
        let trusted = TrustedProxies::loopback();
        let h = headers(&[(
            "forwarded",
            "for=\"[2001:db8::1]:4711\";proto=https, for=127.0.0.1",
        )]);
        assert_eq!(
            trusted.client_address(ip("::ffff:127.0.0.1"), &h),
            ip("2001:db8::1")
        );
        let h = headers(&[("forwarded", "for=198.51.100.7:80")]);
        assert_eq!(
            trusted.client_address(ip("127.0.0.1"), &h),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn bad_lists_are_refused() {
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
        assert!(TrustedProxies::parse("proxy.local").is_err());
        assert!(TrustedProxies::parse("").unwrap().is_empty());
    }
}
