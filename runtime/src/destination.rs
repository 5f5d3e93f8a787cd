//! Which addresses a plugin's outbound request must not reach unless the
//! operator lists the address itself: weir's own port and admin API on
//! loopback, the cloud metadata service on link-local, and the private
//! networks behind the host. Pure code: the connector (`connect.rs`) resolves
//! the host and asks this about every address before it connects.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an address is not for plugins by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reserved {
    /// 127.0.0.0/8, ::1: this host, weir included.
    Loopback,
    /// 0.0.0.0/8, ::: "this host" to most stacks.
    Unspecified,
    /// 169.254.0.0/16, fe80::/10: where cloud metadata services answer.
    LinkLocal,
    /// 10/8, 172.16/12, 192.168/16, fc00::/7: the networks behind the host.
    Private,
    /// 100.64.0.0/10: carrier-grade NAT, private in all but name.
    SharedAddressSpace,
    /// 224.0.0.0/4, ff00::/8.
    Multicast,
    /// 255.255.255.255.
    Broadcast,
}

impl fmt::Display for Reserved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Reserved::Loopback => "loopback",
            Reserved::Unspecified => "unspecified",
            Reserved::LinkLocal => "link-local (cloud metadata services answer there)",
            Reserved::Private => "private",
            Reserved::SharedAddressSpace => "shared address space (100.64.0.0/10)",
            Reserved::Multicast => "multicast",
            Reserved::Broadcast => "broadcast",
        })
    }
}

/// Why `ip` is reserved, or `None` for an ordinary (public) address. An
/// IPv6 address that carries an IPv4 one (mapped `::ffff:a.b.c.d`, NAT64
/// `64:ff9b::a.b.c.d`) is judged by the IPv4 address it reaches.
pub fn reserved(ip: IpAddr) -> Option<Reserved> {
    match ip {
        IpAddr::V4(v4) => reserved_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => reserved_v4(v4),
            None => reserved_v6(v6),
        },
    }
}

fn reserved_v4(ip: Ipv4Addr) -> Option<Reserved> {
    let [a, b, ..] = ip.octets();
    Some(if ip.is_loopback() {
        Reserved::Loopback
    } else if a == 0 {
        Reserved::Unspecified
    } else if ip.is_link_local() {
        Reserved::LinkLocal
    } else if ip.is_private() {
        Reserved::Private
    } else if a == 100 && (64..128).contains(&b) {
        Reserved::SharedAddressSpace
    } else if ip.is_multicast() {
        Reserved::Multicast
    } else if ip.is_broadcast() {
        Reserved::Broadcast
    } else {
        return None;
    })
}

fn reserved_v6(ip: Ipv6Addr) -> Option<Reserved> {
    let first = ip.segments()[0];
    Some(if ip.is_loopback() {
        Reserved::Loopback
    } else if ip.is_unspecified() {
        Reserved::Unspecified
    } else if first & 0xffc0 == 0xfe80 {
        Reserved::LinkLocal
    } else if first & 0xfe00 == 0xfc00 {
        Reserved::Private
    } else if ip.is_multicast() {
        Reserved::Multicast
    } else {
        return None;
    })
}

/// The IPv4 address an IPv6 one stands for: IPv4-mapped, or the NAT64
/// well-known prefix 64:ff9b::/96.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    let segments = ip.segments();
    (segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0]).then(|| {
        let [.., a, b, c, d] = ip.octets();
        Ipv4Addr::new(a, b, c, d)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judged(address: &str) -> Option<Reserved> {
        reserved(address.parse().expect(address))
    }

    #[test]
    fn weir_itself_metadata_and_private_networks_are_reserved() {
        for (address, why) in [
            ("127.0.0.1", Reserved::Loopback),
            ("127.45.0.9", Reserved::Loopback),
            ("::1", Reserved::Loopback),
            ("::ffff:127.0.0.1", Reserved::Loopback),
            ("64:ff9b::7f00:1", Reserved::Loopback),
            ("0.0.0.0", Reserved::Unspecified),
            ("::", Reserved::Unspecified),
            ("169.254.169.254", Reserved::LinkLocal),
            ("fe80::1", Reserved::LinkLocal),
            ("10.1.2.3", Reserved::Private),
            ("172.16.0.1", Reserved::Private),
            ("172.31.255.255", Reserved::Private),
            ("192.168.1.1", Reserved::Private),
            ("fc00::1", Reserved::Private),
            ("fd12:3456::1", Reserved::Private),
            ("100.64.0.1", Reserved::SharedAddressSpace),
            ("100.127.255.255", Reserved::SharedAddressSpace),
            ("224.0.0.1", Reserved::Multicast),
            ("ff02::1", Reserved::Multicast),
            ("255.255.255.255", Reserved::Broadcast),
        ] {
            assert_eq!(judged(address), Some(why), "{address}");
        }
    }

    #[test]
    fn public_addresses_are_not() {
        for address in [
            "93.184.216.34",
            "172.32.0.1",
            "100.128.0.1",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert_eq!(judged(address), None, "{address}");
        }
    }
}
