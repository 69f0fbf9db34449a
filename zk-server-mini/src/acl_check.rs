//! ACL enforcement: permission checks, `auth` expansion and ACL validation (PROTOCOL.md §8).

use std::net::IpAddr;

use zk_proto::ErrorCode;
use zk_proto::acl::{Acl, Id, Perms};

/// Whether a caller with identities `ids` has `perm` on a node with `acl`.
///
/// An empty ACL allows everything; a `super` identity bypasses every check.
///
/// ```
/// use zk_proto::acl::{Acl, Id, Perms};
/// use zk_server_mini::acl_check::allowed;
///
/// let acl = vec![Acl::new(Perms::ALL, Id::digest("alice", "secret"))];
/// assert!(allowed(&acl, &[Id::digest("alice", "secret")], Perms::WRITE));
/// assert!(!allowed(&acl, &[Id::new("ip", "127.0.0.1")], Perms::WRITE));
/// ```
pub fn allowed(acl: &[Acl], ids: &[Id], perm: Perms) -> bool {
    if acl.is_empty() || ids.iter().any(|id| id.scheme == "super") {
        return true;
    }
    acl.iter().any(|entry| {
        entry.perms.intersects(perm)
            && (entry.id.scheme == "world" && entry.id.id == "anyone"
                || ids.iter().any(|id| matches(&entry.id, id)))
    })
}

fn matches(acl_id: &Id, caller: &Id) -> bool {
    if acl_id.scheme != caller.scheme {
        return false;
    }
    match acl_id.scheme.as_str() {
        "ip" => ip_matches(&acl_id.id, &caller.id),
        _ => acl_id.id == caller.id,
    }
}

/// Whether the address `addr` is inside `spec` (an address or a CIDR).
///
/// ```
/// use zk_server_mini::acl_check::ip_matches;
/// assert!(ip_matches("10.0.0.0/8", "10.1.2.3"));
/// assert!(ip_matches("127.0.0.1", "127.0.0.1"));
/// assert!(!ip_matches("10.0.0.0/8", "192.168.0.1"));
/// assert!(!ip_matches("10.0.0.0/8", "not-an-address"));
/// ```
pub fn ip_matches(spec: &str, addr: &str) -> bool {
    let Some((net, bits)) = parse_cidr(spec) else {
        return false;
    };
    let Ok(addr) = addr.parse::<IpAddr>() else {
        return false;
    };
    match (net, addr) {
        (IpAddr::V4(n), IpAddr::V4(a)) => prefix_eq(&n.octets(), &a.octets(), bits),
        (IpAddr::V6(n), IpAddr::V6(a)) => prefix_eq(&n.octets(), &a.octets(), bits),
        _ => false,
    }
}

fn prefix_eq(a: &[u8], b: &[u8], bits: u32) -> bool {
    let mut left = bits;
    for (x, y) in a.iter().zip(b) {
        if left == 0 {
            return true;
        }
        let take = left.min(8);
        let mask = (0xFFu16 << (8 - take)) as u8;
        if x & mask != y & mask {
            return false;
        }
        left -= take;
    }
    true
}

fn parse_cidr(spec: &str) -> Option<(IpAddr, u32)> {
    let (addr, bits) = match spec.split_once('/') {
        Some((a, b)) => (a, Some(b.parse::<u32>().ok()?)),
        None => (spec, None),
    };
    let addr: IpAddr = addr.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let bits = bits.unwrap_or(max);
    (bits <= max).then_some((addr, bits))
}

/// Validates and expands an ACL from a create or setACL: `auth` entries become the caller's
/// authenticated identities, duplicates are removed, and an empty or invalid list is
/// `InvalidAcl`.
///
/// ```
/// use zk_proto::acl::{Acl, Id, Perms};
/// use zk_server_mini::acl_check::fixup_acl;
///
/// let ids = [Id::digest("alice", "secret"), Id::new("ip", "127.0.0.1")];
/// let fixed = fixup_acl(&Acl::creator_all(), &ids)?;
/// assert_eq!(fixed, vec![Acl::new(Perms::ALL, Id::digest("alice", "secret"))]);
/// assert!(fixup_acl(&Acl::creator_all(), &ids[1..]).is_err());
/// # Ok::<(), zk_proto::ErrorCode>(())
/// ```
pub fn fixup_acl(acl: &[Acl], ids: &[Id]) -> Result<Vec<Acl>, ErrorCode> {
    if acl.is_empty() {
        return Err(ErrorCode::InvalidAcl);
    }
    let mut out: Vec<Acl> = Vec::new();
    let mut push = |entry: Acl| {
        if !out.contains(&entry) {
            out.push(entry);
        }
    };
    for entry in acl {
        match entry.id.scheme.as_str() {
            "world" if entry.id.id == "anyone" => push(entry.clone()),
            "auth" => {
                let mut any = false;
                for id in ids.iter().filter(|id| id.scheme == "digest") {
                    any = true;
                    push(Acl::new(entry.perms, id.clone()));
                }
                if !any {
                    return Err(ErrorCode::InvalidAcl);
                }
            }
            "digest" if entry.id.id.matches(':').count() == 1 => push(entry.clone()),
            "ip" if parse_cidr(&entry.id.id).is_some() => push(entry.clone()),
            "sasl" | "x509" if !entry.id.id.is_empty() => push(entry.clone()),
            _ => return Err(ErrorCode::InvalidAcl),
        }
    }
    Ok(out)
}

/// The ACL as `getACL` reports it to a caller without ADMIN: digest hashes masked to `user:x`.
///
/// ```
/// use zk_proto::acl::{Acl, Id, Perms};
/// use zk_server_mini::acl_check::mask_digests;
/// let acl = vec![Acl::new(Perms::ALL, Id::new("digest", zk_proto::acl::digest_id("alice", "secret")))];
/// assert_eq!(mask_digests(&acl)[0].id.id, "alice:x");
/// ```
pub fn mask_digests(acl: &[Acl]) -> Vec<Acl> {
    acl.iter()
        .map(|a| {
            if a.id.scheme == "digest" {
                let user = a.id.id.split(':').next().unwrap_or_default();
                Acl::new(a.perms, Id::new("digest", format!("{user}:x")))
            } else {
                a.clone()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_and_exact_ip() {
        assert!(ip_matches("127.0.0.1", "127.0.0.1"));
        assert!(ip_matches("10.0.0.0/8", "10.2.3.4"));
        assert!(!ip_matches("10.0.0.0/8", "11.2.3.4"));
        assert!(!ip_matches("garbage", "1.2.3.4"));
        assert!(ip_matches("0.0.0.0/0", "1.2.3.4"));
    }

    #[test]
    fn invalid_acls() {
        let bad = |scheme: &str, id: &str| vec![Acl::new(Perms::ALL, Id::new(scheme, id))];
        assert_eq!(fixup_acl(&[], &[]), Err(ErrorCode::InvalidAcl));
        assert_eq!(
            fixup_acl(&bad("digest", "nocolon"), &[]),
            Err(ErrorCode::InvalidAcl)
        );
        assert_eq!(
            fixup_acl(&bad("ip", "300.1.1.1"), &[]),
            Err(ErrorCode::InvalidAcl)
        );
        assert_eq!(
            fixup_acl(&bad("nope", "x"), &[]),
            Err(ErrorCode::InvalidAcl)
        );
        let dup = [Acl::open_unsafe(), Acl::open_unsafe()].concat();
        assert_eq!(fixup_acl(&dup, &[]).map(|v| v.len()), Ok(1));
    }

    #[test]
    fn super_and_empty_acl_allow_everything() {
        let acl = vec![Acl::new(Perms::READ, Id::new("digest", "a:b"))];
        assert!(!allowed(&acl, &[], Perms::WRITE));
        assert!(allowed(&acl, &[Id::new("super", "")], Perms::WRITE));
        assert!(allowed(&[], &[], Perms::ADMIN));
    }
}
