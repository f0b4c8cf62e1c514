//! Whose trace context the proxy continues (`trust.incoming`): trace
//! context from the internet is untrusted, since a client could glue its
//! requests onto a trace it does not own. A gateway trusts it always
//! (the default), never (each request starts a new trace and keeps the
//! incoming context as a span link), or only from trusted peers: a
//! downstream address in `trust.peers` (CIDRs), or a request header
//! (`trust.header`) that an earlier filter sets, such as `ext_authz` once
//! it has identified the caller. W3C Trace Context calls the restart "a
//! front gate into secure networks".
//! <https://www.w3.org/TR/trace-context-2/#mutating-the-traceparent-field>

use std::net::{IpAddr, SocketAddr};

/// `trust.incoming`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncomingTrust {
    /// Every caller's context is continued (the default).
    #[default]
    Always,
    /// No caller's context is continued; it becomes a link.
    Never,
    /// Only trusted peers' context is continued.
    Peers,
}

/// A `trust.peers` entry: an address and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

/// Why a `trust.peers` entry is not a CIDR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    /// Not an IPv4 or IPv6 address (before the `/`).
    #[error("not an IP address")]
    Address,
    /// The prefix length is not a number up to 32 (IPv4) or 128 (IPv6).
    #[error("the prefix length must be 0 to 32 (IPv4) or 0 to 128 (IPv6)")]
    Prefix,
}

/// The trust policy of a filter instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustPolicy {
    /// `trust.incoming`.
    pub incoming: IncomingTrust,
    /// `trust.peers`.
    pub peers: Vec<Cidr>,
    /// `trust.header`, lowercase.
    pub header: Option<String>,
}

// === impl IncomingTrust ===

impl IncomingTrust {
    /// The configuration's spelling.
    pub fn name(self) -> &'static str {
        match self {
            Self::Always => "always",
            Self::Never => "never",
            Self::Peers => "peers",
        }
    }

    /// The mode spelled `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Always, Self::Never, Self::Peers]
            .into_iter()
            .find(|mode| mode.name() == name)
    }
}

// === impl Cidr ===

impl Cidr {
    /// Parses `10.0.0.0/8`, `fd00::/8`, or an address alone (all its bits).
    ///
    /// # Errors
    ///
    /// [`CidrError`] naming the bad part.
    pub fn parse(text: &str) -> Result<Self, CidrError> {
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| CidrError::Address)?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or(CidrError::Prefix)?,
        };
        Ok(Self { addr, prefix })
    }

    /// Whether `ip` is in the range. An IPv4-mapped IPv6 address
    /// (`::ffff:10.1.2.3`) matches IPv4 ranges.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => prefix_eq(
                u128::from(u32::from(net)) << 96,
                u128::from(u32::from(ip)) << 96,
                self.prefix,
            ),
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_eq(u128::from(net), u128::from(ip), self.prefix)
            }
            _ => false,
        }
    }
}

fn prefix_eq(a: u128, b: u128, prefix: u8) -> bool {
    let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
    a & mask == b & mask
}

/// The IP of an Envoy `source.address` (`10.1.2.3:40000`,
/// `[::1]:40000`, or an address without a port).
pub fn peer_ip(source_address: &[u8]) -> Option<IpAddr> {
    let text = core::str::from_utf8(source_address).ok()?;
    text.parse::<SocketAddr>()
        .map(|s| s.ip())
        .or_else(|_| text.parse::<IpAddr>())
        .ok()
}

// === impl TrustPolicy ===

impl TrustPolicy {
    /// Whether deciding needs the downstream address (a host call): only
    /// for `peers` with ranges, when the header did not settle it.
    pub fn needs_source_address(&self, header_present: bool) -> bool {
        self.incoming == IncomingTrust::Peers && !header_present && !self.peers.is_empty()
    }

    /// Whether this request's incoming context is continued.
    pub fn trusts(&self, header_present: bool, source: Option<IpAddr>) -> bool {
        match self.incoming {
            IncomingTrust::Always => true,
            IncomingTrust::Never => false,
            IncomingTrust::Peers => {
                (header_present && self.header.is_some())
                    || source.is_some_and(|ip| self.peers.iter().any(|c| c.contains(ip)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidrs_parse_and_match() {
        let ten = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(ten.contains(ip("10.1.2.3")));
        assert!(!ten.contains(ip("11.0.0.1")));
        assert!(ten.contains(ip("::ffff:10.9.9.9")), "IPv4-mapped");
        let one = Cidr::parse("192.168.1.7").unwrap();
        assert!(one.contains(ip("192.168.1.7")) && !one.contains(ip("192.168.1.8")));
        let v6 = Cidr::parse("fd00::/8").unwrap();
        assert!(v6.contains(ip("fd12::1")) && !v6.contains(ip("fe80::1")));
        assert!(!v6.contains(ip("10.1.2.3")));
        let all = Cidr::parse("0.0.0.0/0").unwrap();
        assert!(all.contains(ip("203.0.113.9")));
        assert_eq!(Cidr::parse("10.0.0.0/33"), Err(CidrError::Prefix));
        assert_eq!(Cidr::parse("10.0.0/8"), Err(CidrError::Address));
        assert_eq!(Cidr::parse("fd00::/129"), Err(CidrError::Prefix));
        assert_eq!(Cidr::parse("10.0.0.0/x"), Err(CidrError::Prefix));
    }

    #[test]
    fn envoy_source_addresses_are_read() {
        assert_eq!(peer_ip(b"10.1.2.3:40000"), Some(ip("10.1.2.3")));
        assert_eq!(peer_ip(b"[::1]:40000"), Some(ip("::1")));
        assert_eq!(peer_ip(b"10.1.2.3"), Some(ip("10.1.2.3")));
        assert_eq!(peer_ip(b"not-an-address"), None);
        assert_eq!(peer_ip(b"\xff"), None);
    }

    #[test]
    fn the_policy_decides_by_mode_header_and_peer() {
        let peers = TrustPolicy {
            incoming: IncomingTrust::Peers,
            peers: vec![Cidr::parse("10.0.0.0/8").unwrap()],
            header: Some("x-caller-verified".into()),
        };
        assert!(peers.trusts(true, None), "the header set by ext_authz");
        assert!(
            peers.trusts(false, Some(ip("10.1.2.3"))),
            "an internal peer"
        );
        assert!(
            !peers.trusts(false, Some(ip("203.0.113.9"))),
            "the internet"
        );
        assert!(!peers.trusts(false, None));
        assert!(peers.needs_source_address(false) && !peers.needs_source_address(true));
        let always = TrustPolicy::default();
        assert!(always.trusts(false, None) && !always.needs_source_address(false));
        let never = TrustPolicy {
            incoming: IncomingTrust::Never,
            ..TrustPolicy::default()
        };
        assert!(!never.trusts(true, Some(ip("10.1.2.3"))));
        for mode in [
            IncomingTrust::Always,
            IncomingTrust::Never,
            IncomingTrust::Peers,
        ] {
            assert_eq!(IncomingTrust::from_name(mode.name()), Some(mode));
        }
    }
}
