//! Which addresses are internal ([`restricted`]) and which ranges an operator allowed
//! ([`AllowList`]).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use ipnet::IpNet;

/// Why an address is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restricted {
    /// `127.0.0.0/8`, `::1`: this machine.
    Loopback,
    /// `0.0.0.0/8`, `::`: "this host" (connects to this machine on most systems).
    Unspecified,
    /// `169.254.0.0/16` (cloud metadata services live at 169.254.169.254), `fe80::/10`.
    LinkLocal,
    /// `10.0.0.0/8`, `172.16.0.0/12`, `192.168.0.0/16`, `fc00::/7`, `fec0::/10`.
    Private,
    /// `100.64.0.0/10`: carrier-grade NAT, internal to a provider.
    SharedAddressSpace,
    /// `224.0.0.0/4`, `ff00::/8`.
    Multicast,
    /// `240.0.0.0/4` including the broadcast address.
    Reserved,
}

impl fmt::Display for Restricted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Restricted::Loopback => "loopback",
            Restricted::Unspecified => "unspecified",
            Restricted::LinkLocal => "link-local",
            Restricted::Private => "private",
            Restricted::SharedAddressSpace => "shared (carrier-grade NAT)",
            Restricted::Multicast => "multicast",
            Restricted::Reserved => "reserved",
        })
    }
}

/// Why `ip` is internal, or `None` for a public address. IPv6 forms that carry an IPv4 address
/// (mapped `::ffff:a.b.c.d`, compatible `::a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`)
/// are judged by the IPv4 address they carry.
pub fn restricted(ip: IpAddr) -> Option<Restricted> {
    match ip {
        IpAddr::V4(v4) => restricted_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => restricted_v4(v4),
            None => restricted_v6(v6),
        },
    }
}

fn restricted_v4(ip: Ipv4Addr) -> Option<Restricted> {
    let [a, b, ..] = ip.octets();
    Some(match (a, b) {
        (0, _) => Restricted::Unspecified,
        (127, _) => Restricted::Loopback,
        (169, 254) => Restricted::LinkLocal,
        (10, _) | (192, 168) => Restricted::Private,
        (172, 16..=31) => Restricted::Private,
        (100, 64..=127) => Restricted::SharedAddressSpace,
        (224..=239, _) => Restricted::Multicast,
        (240..=255, _) => Restricted::Reserved,
        _ => return None,
    })
}

fn restricted_v6(ip: Ipv6Addr) -> Option<Restricted> {
    let first = ip.segments()[0];
    if ip.is_unspecified() {
        Some(Restricted::Unspecified)
    } else if ip.is_loopback() {
        Some(Restricted::Loopback)
    } else if first & 0xffc0 == 0xfe80 {
        Some(Restricted::LinkLocal)
    } else if first & 0xfe00 == 0xfc00 || first & 0xffc0 == 0xfec0 {
        Some(Restricted::Private)
    } else if first & 0xff00 == 0xff00 {
        Some(Restricted::Multicast)
    } else {
        None
    }
}

/// The IPv4 address an IPv6 address stands for, when it is one of the forms that route to it.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let tail = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        // ::ffff:a.b.c.d (mapped)
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some(tail),
        // ::a.b.c.d (compatible; deprecated but still routed by some stacks). `::` and `::1`
        // are IPv6's own unspecified and loopback.
        [0, 0, 0, 0, 0, 0, hi, lo] if hi != 0 || lo > 1 => Some(tail),
        // 64:ff9b::a.b.c.d (NAT64 well-known prefix)
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(tail),
        // 2002:aabb:ccdd::/48 (6to4)
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::new(
            (hi >> 8) as u8,
            hi as u8,
            (lo >> 8) as u8,
            lo as u8,
        )),
        _ => None,
    }
}

/// Ranges the operator allows despite [`restricted`] (`--allow-net 127.0.0.1/32,10.1.0.0/16`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    ranges: Vec<IpNet>,
}

/// A range that is not CIDR notation.
#[derive(Debug, Clone, thiserror::Error)]
#[error("`{0}` is not an address range: write it as CIDR, e.g. 127.0.0.1/32 or 10.0.0.0/8")]
pub struct AllowListError(String);

impl AllowList {
    /// Nothing allowed: every internal address is refused.
    pub fn none() -> Self {
        AllowList::default()
    }

    /// Parses comma-separated ranges; a bare address means only that address.
    pub fn parse(text: &str) -> Result<Self, AllowListError> {
        let mut list = AllowList::none();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            list.add(part)?;
        }
        Ok(list)
    }

    /// Adds one range (`10.0.0.0/8`) or address (`127.0.0.1`).
    pub fn add(&mut self, range: &str) -> Result<(), AllowListError> {
        let net = match IpNet::from_str(range) {
            Ok(net) => net,
            Err(_) => IpAddr::from_str(range)
                .map(IpNet::from)
                .map_err(|_| AllowListError(range.to_string()))?,
        };
        self.ranges.push(net);
        Ok(())
    }

    /// Allows one address (the demo's own mock server).
    pub fn allow_addr(&mut self, ip: IpAddr) {
        self.ranges.push(IpNet::from(ip));
    }

    /// The allowed ranges, as written in CIDR.
    pub fn ranges(&self) -> impl Iterator<Item = String> + '_ {
        self.ranges.iter().map(ToString::to_string)
    }

    /// Whether `ip` may be reached: a public address, or one in an allowed range (an IPv6 form
    /// of an IPv4 address is allowed when the IPv4 address is).
    pub fn check(&self, ip: IpAddr) -> Result<(), Restricted> {
        let Some(why) = restricted(ip) else {
            return Ok(());
        };
        let v4 = match ip {
            IpAddr::V6(v6) => embedded_v4(v6).map(IpAddr::V4),
            IpAddr::V4(_) => None,
        };
        let allowed = |ip: IpAddr| self.ranges.iter().any(|net| net.contains(&ip));
        if allowed(ip) || v4.is_some_and(allowed) {
            Ok(())
        } else {
            Err(why)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn class(s: &str) -> Option<Restricted> {
        restricted(ip(s))
    }

    #[test]
    fn internal_ipv4_ranges_are_restricted() {
        use Restricted::*;
        for (addr, want) in [
            ("127.0.0.1", Loopback),
            ("127.255.255.254", Loopback),
            ("0.0.0.0", Unspecified),
            ("169.254.169.254", LinkLocal),
            ("169.254.0.1", LinkLocal),
            ("10.0.0.1", Private),
            ("172.16.0.1", Private),
            ("172.31.255.255", Private),
            ("192.168.1.1", Private),
            ("100.64.0.1", SharedAddressSpace),
            ("100.127.255.255", SharedAddressSpace),
            ("224.0.0.1", Multicast),
            ("255.255.255.255", Reserved),
        ] {
            assert_eq!(class(addr), Some(want), "{addr}");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for addr in [
            "8.8.8.8",
            "172.15.255.255",
            "172.32.0.1",
            "100.63.255.255",
            "100.128.0.1",
            "169.253.1.1",
            "2606:4700::1111",
            "2a00:1450:4001::1",
            "::ffff:8.8.8.8",
        ] {
            assert_eq!(class(addr), None, "{addr}");
        }
    }

    #[test]
    fn internal_ipv6_ranges_and_ipv4_forms_are_restricted() {
        use Restricted::*;
        for (addr, want) in [
            ("::1", Loopback),
            ("::", Unspecified),
            ("fe80::1", LinkLocal),
            ("febf::1", LinkLocal),
            ("fc00::1", Private),
            ("fd12:3456::1", Private),
            ("fec0::1", Private),
            ("ff02::1", Multicast),
            ("::ffff:127.0.0.1", Loopback),
            ("::ffff:7f00:1", Loopback),
            ("::ffff:a9fe:a9fe", LinkLocal),
            ("::ffff:10.0.0.1", Private),
            ("::127.0.0.1", Loopback),
            ("::a9fe:a9fe", LinkLocal),
            ("64:ff9b::a9fe:a9fe", LinkLocal),
            ("64:ff9b::10.1.2.3", Private),
            ("2002:a9fe:a9fe::1", LinkLocal),
            ("2002:7f00:1::", Loopback),
        ] {
            assert_eq!(class(addr), Some(want), "{addr}");
        }
    }

    #[test]
    fn decimal_octal_and_hex_ipv4_hosts_parse_to_the_restricted_address() {
        // The URL parser (WHATWG rules, as reqwest uses) turns these hosts into IPv4 literals,
        // so they meet the same check as the dotted form.
        for url in [
            "http://2130706433/",
            "http://0177.0.0.1/",
            "http://0x7f.0.0.1/",
            "http://0x7f000001/",
            "http://127.1/",
            "http://0251.0376.0251.0376/",
            "http://2852039166/",
            "http://[::ffff:169.254.169.254]/",
        ] {
            let parsed = url::Url::parse(url).unwrap();
            let host = match parsed.host().unwrap() {
                url::Host::Ipv4(v4) => IpAddr::V4(v4),
                url::Host::Ipv6(v6) => IpAddr::V6(v6),
                url::Host::Domain(d) => panic!("{url} parsed as domain {d}"),
            };
            assert!(restricted(host).is_some(), "{url} → {host}");
        }
    }

    #[test]
    fn allow_list_opens_only_its_ranges() {
        let allow = AllowList::parse("127.0.0.1/32, 10.1.0.0/16,::1").unwrap();
        assert_eq!(allow.check(ip("127.0.0.1")), Ok(()));
        assert_eq!(allow.check(ip("::ffff:127.0.0.1")), Ok(()));
        assert_eq!(allow.check(ip("127.0.0.2")), Err(Restricted::Loopback));
        assert_eq!(allow.check(ip("10.1.200.3")), Ok(()));
        assert_eq!(allow.check(ip("10.2.0.1")), Err(Restricted::Private));
        assert_eq!(allow.check(ip("::1")), Ok(()));
        assert_eq!(
            allow.check(ip("169.254.169.254")),
            Err(Restricted::LinkLocal)
        );
        assert_eq!(allow.check(ip("8.8.8.8")), Ok(()));
        assert_eq!(
            AllowList::none().check(ip("127.0.0.1")),
            Err(Restricted::Loopback)
        );
    }

    #[test]
    fn allow_list_rejects_what_is_not_cidr() {
        let err = AllowList::parse("127.0.0.1/32,localhost").unwrap_err();
        assert!(err.to_string().contains("`localhost`"), "{err}");
        assert!(AllowList::parse("10.0.0.0/33").is_err());
        assert_eq!(AllowList::parse("").unwrap(), AllowList::none());
    }
}
