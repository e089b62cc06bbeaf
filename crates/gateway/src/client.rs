//! Which address a request comes from, for the rate limits and the failed-authentication
//! counters. The TCP peer, unless the peer is one of the operator's trusted proxies: then the
//! address that proxy saw, read from the one header the operator says their proxies write
//! (`X-Forwarded-For` by default, or `Forwarded`, RFC 7239), walking from the nearest hop
//! outwards past every trusted proxy. A header from anyone else is ignored: believing it
//! blindly would let every caller pick the address it is counted under. Only one header is
//! read because a proxy that writes one usually passes the other through as the caller wrote
//! it (ingress-nginx passes `Forwarded` on untouched).

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request};
use axum::middleware::Next;
use axum::response::Response;
use http::HeaderMap;
use ipnet::IpNet;

/// The address a request is counted under (an extension set by [`identify`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub IpAddr);

/// The header trusted proxies name the client in: `ARAS_FORWARDED_HEADER`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, …` (nginx, ingress-nginx, most load balancers).
    #[default]
    XForwardedFor,
    /// `Forwarded: for=client, for=proxy1` (RFC 7239).
    Forwarded,
}

/// Proxies whose forwarding header is believed: `ARAS_TRUSTED_PROXIES`.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    networks: Vec<IpNet>,
    header: ForwardedHeader,
}

impl TrustedProxies {
    /// Parses networks (`10.0.0.0/8`) and single addresses (`192.0.2.7`).
    pub fn parse(entries: &[String], header: ForwardedHeader) -> anyhow::Result<Self> {
        let networks = entries
            .iter()
            .map(|entry| entry.trim())
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        anyhow::anyhow!(
                            "ARAS_TRUSTED_PROXIES: {entry:?} is neither an address nor a network such as 10.0.0.0/8"
                        )
                    })
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Self { networks, header })
    }

    fn trusts(&self, address: IpAddr) -> bool {
        self.networks.iter().any(|net| net.contains(&address))
    }

    /// The client's address of a request that reached us from `peer`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        // Nearest hop last; an entry that is not an address (`unknown`, an obfuscated
        // identifier, garbage) ends the walk at the last proxy we trust to have added it.
        let hops = forwarded_for(headers, self.header);
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Some(address) = hop else { break };
            client = *address;
            if !self.trusts(client) {
                break;
            }
        }
        client
    }
}

/// The hops `header` lists, in header order; `None` for an entry that is not an address.
fn forwarded_for(headers: &HeaderMap, header: ForwardedHeader) -> Vec<Option<IpAddr>> {
    let values = |name| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .collect::<Vec<_>>()
    };
    match header {
        ForwardedHeader::XForwardedFor => values("x-forwarded-for")
            .into_iter()
            .map(parse_node)
            .collect(),
        ForwardedHeader::Forwarded => values("forwarded")
            .into_iter()
            .map(|element| {
                element
                    .split(';')
                    .filter_map(|pair| pair.trim().split_once('='))
                    .find(|(name, _)| name.eq_ignore_ascii_case("for"))
                    .and_then(|(_, node)| parse_node(node.trim_matches('"')))
            })
            .collect(),
    }
}

/// `192.0.2.7`, `192.0.2.7:4711`, `2001:db8::1` or `[2001:db8::1]:4711`.
fn parse_node(node: &str) -> Option<IpAddr> {
    node.parse::<IpAddr>()
        .ok()
        .or_else(|| node.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            node.strip_prefix('[')
                .and_then(|rest| rest.split_once(']'))
                .and_then(|(address, _)| address.parse().ok())
        })
        .map(|address: IpAddr| address.to_canonical())
}

/// The middleware: sets [`ClientAddress`] for every request.
pub async fn identify(
    axum::extract::State(state): axum::extract::State<crate::state::AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: Request,
    next: Next,
) -> Response {
    // A dual-stack listener sees IPv4 callers as ::ffff:a.b.c.d: the IPv4 address is who
    // they are, for the proxy list and the counters alike.
    let client = state
        .trusted_proxies
        .client(peer.ip().to_canonical(), request.headers());
    request.extensions_mut().insert(ClientAddress(client));
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let proxies =
            TrustedProxies::parse(&["10.0.0.0/8".into()], ForwardedHeader::XForwardedFor).unwrap();
        let claims = headers(&[
            ("x-forwarded-for", "198.51.100.1"),
            ("forwarded", "for=198.51.100.2"),
        ]);
        assert_eq!(
            proxies.client(ip("203.0.113.9"), &claims),
            ip("203.0.113.9")
        );
        // Nothing trusted: no header is ever read.
        let none = TrustedProxies::default();
        assert_eq!(none.client(ip("10.1.2.3"), &claims), ip("10.1.2.3"));
    }

    #[test]
    fn a_trusted_proxy_hands_over_the_address_it_saw() {
        let proxies = TrustedProxies::parse(
            &["10.0.0.0/8".into(), "192.0.2.7".into()],
            ForwardedHeader::XForwardedFor,
        )
        .unwrap();
        // The caller forged the first entry; the proxy appended the address it saw.
        let forged = headers(&[("x-forwarded-for", "1.2.3.4, 203.0.113.9")]);
        assert_eq!(proxies.client(ip("10.0.0.5"), &forged), ip("203.0.113.9"));
        // Two trusted hops: the walk passes both.
        let chained = headers(&[("x-forwarded-for", "1.2.3.4, 203.0.113.9, 192.0.2.7")]);
        assert_eq!(proxies.client(ip("10.0.0.5"), &chained), ip("203.0.113.9"));
        // Several header lines are one list.
        let split = headers(&[
            ("x-forwarded-for", "1.2.3.4"),
            ("x-forwarded-for", "203.0.113.9"),
        ]);
        assert_eq!(proxies.client(ip("10.0.0.5"), &split), ip("203.0.113.9"));
    }

    #[test]
    fn only_the_configured_header_is_read() {
        let xff =
            TrustedProxies::parse(&["10.0.0.0/8".into()], ForwardedHeader::XForwardedFor).unwrap();
        let rfc =
            TrustedProxies::parse(&["10.0.0.0/8".into()], ForwardedHeader::Forwarded).unwrap();
        // The proxy wrote one header; the caller forged the other, which is never read.
        let both = headers(&[
            ("x-forwarded-for", "198.51.100.1"),
            (
                "forwarded",
                r#"for=1.2.3.4, for="[2001:db8::1]:4711";proto=https"#,
            ),
        ]);
        assert_eq!(xff.client(ip("10.0.0.5"), &both), ip("198.51.100.1"));
        assert_eq!(rfc.client(ip("10.0.0.5"), &both), ip("2001:db8::1"));
        let with_port = headers(&[("forwarded", "for=203.0.113.9:80")]);
        assert_eq!(rfc.client(ip("10.0.0.5"), &with_port), ip("203.0.113.9"));
        assert_eq!(xff.client(ip("10.0.0.5"), &with_port), ip("10.0.0.5"));
    }

    #[test]
    fn garbage_stops_at_the_last_trusted_hop() {
        let proxies =
            TrustedProxies::parse(&["10.0.0.0/8".into()], ForwardedHeader::XForwardedFor).unwrap();
        let rfc =
            TrustedProxies::parse(&["10.0.0.0/8".into()], ForwardedHeader::Forwarded).unwrap();
        let hidden = headers(&[("forwarded", r#"for=1.2.3.4, for="_hidden", for=10.0.0.9"#)]);
        assert_eq!(rfc.client(ip("10.0.0.5"), &hidden), ip("10.0.0.9"));
        let mapped = headers(&[("x-forwarded-for", "::ffff:203.0.113.9")]);
        assert_eq!(proxies.client(ip("10.0.0.5"), &mapped), ip("203.0.113.9"));
        let junk = headers(&[("x-forwarded-for", "not-an-address")]);
        assert_eq!(proxies.client(ip("10.0.0.5"), &junk), ip("10.0.0.5"));
        // No header from a trusted proxy: the proxy itself.
        assert_eq!(
            proxies.client(ip("10.0.0.5"), &HeaderMap::new()),
            ip("10.0.0.5")
        );
    }

    #[test]
    fn refuses_what_is_not_a_network() {
        let header = ForwardedHeader::XForwardedFor;
        let error = TrustedProxies::parse(&["10.0.0.0/33".into()], header).unwrap_err();
        assert!(error.to_string().contains("10.0.0.0/33"), "{error}");
        assert!(TrustedProxies::parse(&["proxy.local".into()], header).is_err());
    }
}
