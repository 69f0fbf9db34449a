//! Unit tests of the data tree.

use super::*;
use bytes::Bytes;

#[test]
fn cversion_is_twice_creates_minus_children() {
    let mut t = DataTree::new();
    let acl = Acl::open_unsafe();
    assert!(t.insert("/p", Node::new(None, acl.clone(), 1, 0, 0), 1, 1));
    assert!(t.insert("/p/x", Node::new(None, acl.clone(), 2, 0, 0), 1, 2));
    assert!(t.insert("/p/y", Node::new(None, acl.clone(), 3, 0, 0), 2, 3));
    assert!(t.remove("/p/x", 4).is_some());
    let p = t.get("/p").map(Node::stat).unwrap_or_default();
    assert_eq!(p.cversion, 3);
    assert_eq!(p.pzxid, 4);
    assert_eq!(p.num_children, 1);
    assert_eq!(t.get("/p").map(|n| n.create_counter), Some(2));
}

#[test]
fn special_owners_report_zero() {
    let mut n = Node::new(None, vec![], 1, 0, CONTAINER_OWNER);
    assert_eq!(n.stat().ephemeral_owner, 0);
    n.ephemeral_owner = OwnerKind::ttl_owner(5000);
    assert_eq!(OwnerKind::of(n.ephemeral_owner), OwnerKind::Ttl(5000));
    assert_eq!(n.stat().ephemeral_owner, 0);
    n.ephemeral_owner = 0x0100_0000_0000_0005;
    assert_eq!(n.stat().ephemeral_owner, 0x0100_0000_0000_0005);
}

#[test]
fn equal_acls_share_one_allocation_and_unused_ones_are_dropped() {
    let mut t = DataTree::new();
    let open = Acl::open_unsafe();
    for i in 0..100 {
        assert!(t.insert(
            &format!("/n{i}"),
            Node::new(None, open.clone(), 1, 0, 0),
            i,
            1
        ));
    }
    let a = t
        .get("/n0")
        .map(|n| n.acl.clone())
        .unwrap_or_else(|| Arc::from(vec![]));
    let b = t
        .get("/n99")
        .map(|n| n.acl.clone())
        .unwrap_or_else(|| Arc::from(vec![]));
    let root = t
        .get("/")
        .map(|n| n.acl.clone())
        .unwrap_or_else(|| Arc::from(vec![]));
    assert!(Arc::ptr_eq(&a, &b) && Arc::ptr_eq(&a, &root));
    assert_eq!(&*a, open.as_slice());
    let read = t.intern_acl(&Acl::read_unsafe());
    let config = t.get("/zookeeper/config").map(|n| n.acl.clone());
    assert!(config.is_some_and(|c| Arc::ptr_eq(&c, &read)));
    // Lists nobody holds are swept once the table has grown enough; the shared ones stay.
    drop(read);
    for i in 0..64 {
        let one_off = vec![Acl::new(Perms::READ, Id::new("ip", format!("10.0.0.{i}")))];
        drop(t.intern_acl(&one_off));
    }
    assert!(t.acls.len <= 16 + 2, "table not swept: {}", t.acls.len);
    assert!(Arc::ptr_eq(&t.intern_acl(&open), &a));
}

#[test]
fn the_snapshot_copy_is_the_tree_at_its_zxid() {
    let mut t = DataTree::new();
    assert!(t.insert(
        "/a",
        Node::new(Some(Bytes::from_static(b"1")), Acl::open_unsafe(), 1, 0, 0),
        1,
        1
    ));
    t.last_zxid = 1;
    let copy = t.copy_for_snapshot();
    let before = crate::snapshot::serialize(&t);
    if let Some(n) = t.get_mut("/a") {
        n.data = NodeData::copy_of(Some(b"2"));
        n.version = 1;
    }
    assert!(t.insert("/b", Node::new(None, Acl::open_unsafe(), 2, 0, 0), 2, 2));
    t.last_zxid = 2;
    assert_eq!(copy.last_zxid, 1);
    assert_eq!(copy.node_count(), 5);
    assert_eq!(copy.iter().count(), 5);
    assert_eq!(crate::snapshot::serialize_copy(&copy), before);
    assert_eq!(
        crate::snapshot::serialize_copy(&t.copy_for_snapshot()),
        crate::snapshot::serialize(&t)
    );
}

#[test]
fn null_data_has_zero_length() {
    let n = Node::new(None, vec![], 1, 0, 0);
    assert_eq!(n.stat().data_length, 0);
}
