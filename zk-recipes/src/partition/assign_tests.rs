use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;

fn units(n: usize) -> Vec<UnitSpec> {
    (0..n)
        .map(|i| UnitSpec::new(format!("unit-{i:03}")))
        .collect()
}

fn members(ids: &[&str]) -> Vec<MemberSpec> {
    ids.iter().map(|id| MemberSpec::new(*id)).collect()
}

fn counts(a: &Assignment) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for owner in a.values() {
        *out.entry(owner.clone()).or_default() += 1;
    }
    out
}

fn even() -> BalanceOptions {
    BalanceOptions::default()
}

#[test]
fn four_five_three_moves_the_optimum() {
    let units = units(100);
    let four = members(&["a", "b", "c", "d"]);
    let g1 = assign(&four, &units, &Assignment::new(), &even());
    assert_eq!(g1.len(), 100);
    assert!(counts(&g1).values().all(|&c| c == 25), "{:?}", counts(&g1));

    let five = members(&["a", "b", "c", "d", "e"]);
    let g2 = assign(&five, &units, &g1, &even());
    assert_eq!(g2.len(), 100);
    assert!(counts(&g2).values().all(|&c| c == 20), "{:?}", counts(&g2));
    // Only units that went to the new member moved.
    assert_eq!(moved(&g1, &g2), 20);
    assert!(
        g1.iter()
            .filter(|(u, o)| g2.get(*u) != Some(*o))
            .all(|(u, _)| g2[u] == "e")
    );

    let three = members(&["a", "c", "e"]);
    let g3 = assign(&three, &units, &g2, &even());
    assert_eq!(g3.len(), 100);
    // Only the 40 units of the two departed members moved.
    assert_eq!(moved(&g2, &g3), 40);
    let c3 = counts(&g3);
    assert!(c3.values().all(|&c| c == 33 || c == 34), "{c3:?}");
}

#[test]
fn the_same_input_gives_the_same_output_and_no_moves() {
    let units = units(50);
    let ms = members(&["x", "y", "z"]);
    let first = assign(&ms, &units, &Assignment::new(), &even());
    let again = assign(&ms, &units, &Assignment::new(), &even());
    assert_eq!(first, again);
    // Member order in the input does not matter.
    let reversed: Vec<MemberSpec> = ms.iter().rev().cloned().collect();
    assert_eq!(
        assign(&reversed, &units, &Assignment::new(), &even()),
        first
    );
    // A stable group never moves anything.
    assert_eq!(moved(&first, &assign(&ms, &units, &first, &even())), 0);
}

#[test]
fn weights_give_proportional_shares() {
    let units = units(90);
    let ms = vec![
        MemberSpec::new("big").weight(2),
        MemberSpec::new("s1"),
        MemberSpec::new("s2"),
        MemberSpec::new("s3").weight(0), // taken as 1
    ];
    let a = assign(&ms, &units, &Assignment::new(), &even());
    let c = counts(&a);
    assert_eq!(c["big"], 36);
    assert_eq!(c["s1"] + c["s2"] + c["s3"], 54);
    assert!(c["s1"] == 18 && c["s2"] == 18 && c["s3"] == 18, "{c:?}");
}

#[test]
fn capacity_is_never_exceeded_and_leftovers_stay_unowned() {
    let units = units(10);
    let ms = vec![
        MemberSpec::new("a").capacity(3),
        MemberSpec::new("b").capacity(4),
    ];
    let a = assign(&ms, &units, &Assignment::new(), &even());
    let c = counts(&a);
    assert_eq!(c["a"], 3);
    assert_eq!(c["b"], 4);
    assert_eq!(a.len(), 7);
}

#[test]
fn pegged_units_go_to_their_member_or_nowhere() {
    let mut us = units(10);
    us[0] = UnitSpec::new("unit-000").pegged_to("b");
    us[1] = UnitSpec::new("unit-001").pegged_to("gone");
    let ms = members(&["a", "b"]);
    let current: Assignment = [("unit-000".to_owned(), "a".to_owned())].into();
    let a = assign(&ms, &us, &current, &even());
    assert_eq!(a["unit-000"], "b");
    assert!(!a.contains_key("unit-001"));
    assert_eq!(a.len(), 9);
}

#[test]
fn heavy_units_are_spread_by_load() {
    // Two heavy units and eight light ones: the heavy ones must not share a member.
    let mut us: Vec<UnitSpec> = (0..8)
        .map(|i| UnitSpec::new(format!("light-{i}")).load(1.0))
        .collect();
    us.push(UnitSpec::new("heavy-a").load(8.0));
    us.push(UnitSpec::new("heavy-b").load(8.0));
    let ms = members(&["m1", "m2"]);
    let a = assign(
        &ms,
        &us,
        &Assignment::new(),
        &BalanceOptions::default().tolerance(0.1),
    );
    assert_ne!(a["heavy-a"], a["heavy-b"]);
    let load = |m: &str| -> f64 {
        us.iter()
            .filter(|u| a.get(&u.name).map(String::as_str) == Some(m))
            .map(|u| u.load)
            .sum()
    };
    assert_eq!(a.len(), 10);
    assert!(
        (load("m1") - load("m2")).abs() <= 2.0,
        "{} {}",
        load("m1"),
        load("m2")
    );
}

#[test]
fn a_load_change_within_tolerance_moves_nothing() {
    let mut us = units(20);
    let ms = members(&["a", "b"]);
    let options = BalanceOptions::default().tolerance(0.2);
    let first = assign(&ms, &us, &Assignment::new(), &options);
    us[0].load = 1.5;
    us[1].load = 0.8;
    assert_eq!(moved(&first, &assign(&ms, &us, &first, &options)), 0);
}

#[test]
fn no_members_means_no_owners_and_bad_loads_count_as_one() {
    assert!(assign(&[], &units(3), &Assignment::new(), &even()).is_empty());
    let us = vec![
        UnitSpec::new("a").load(f64::NAN),
        UnitSpec::new("b").load(-3.0),
        UnitSpec::new("c").load(f64::INFINITY),
        UnitSpec::new("a"), // duplicate name counts once
    ];
    let a = assign(&members(&["m", "n", "m"]), &us, &Assignment::new(), &even());
    assert_eq!(a.len(), 3);
}

#[test]
fn owners_that_left_or_units_that_vanished_are_dropped() {
    let current: Assignment = [
        ("gone-unit".to_owned(), "a".to_owned()),
        ("unit-000".to_owned(), "gone-member".to_owned()),
    ]
    .into();
    let a = assign(&members(&["a"]), &units(2), &current, &even());
    assert!(!a.contains_key("gone-unit"));
    assert_eq!(a["unit-000"], "a");
}

fn arb_members() -> impl Strategy<Value = Vec<MemberSpec>> {
    prop::collection::vec((0u8..12, 1u32..4), 1..8).prop_map(|v| {
        v.into_iter()
            .map(|(id, w)| MemberSpec::new(format!("m{id}")).weight(w))
            .collect()
    })
}

proptest! {
    /// Without capacities every unit is owned, by a live member, and no member is more than one
    /// unit above its weighted share.
    #[test]
    fn every_unit_owned_and_balanced(ms in arb_members(), n in 0usize..200, seed_owner in 0u8..12) {
        let us = units(n);
        let current: Assignment = us
            .iter()
            .map(|u| (u.name.clone(), format!("m{seed_owner}")))
            .collect();
        let a = assign(&ms, &us, &current, &even());
        prop_assert_eq!(a.len(), n);
        let live: std::collections::BTreeSet<&str> = ms.iter().map(|m| m.id.as_str()).collect();
        prop_assert!(a.values().all(|o| live.contains(o.as_str())));
        let mut seen = std::collections::BTreeSet::new();
        let dedup: Vec<&MemberSpec> = ms.iter().filter(|m| seen.insert(m.id.clone())).collect();
        let total_w: u32 = dedup.iter().map(|m| m.weight).sum();
        let c = counts(&a);
        for m in dedup {
            let share = n as f64 * f64::from(m.weight) / f64::from(total_w);
            let got = c.get(&m.id).copied().unwrap_or(0) as f64;
            prop_assert!(got <= share.ceil() + 1e-9, "{} got {got}, share {share}", m.id);
        }
    }

    /// A join moves at most what the newcomer ends up with, and nothing between old members.
    #[test]
    fn a_join_moves_only_to_the_newcomer(k in 1usize..7, n in 0usize..200) {
        let us = units(n);
        let before_members: Vec<MemberSpec> = (0..k).map(|i| MemberSpec::new(format!("m{i}"))).collect();
        let before = assign(&before_members, &us, &Assignment::new(), &even());
        let mut after_members = before_members.clone();
        after_members.push(MemberSpec::new("new"));
        let after = assign(&after_members, &us, &before, &even());
        let to_new = after.values().filter(|o| *o == "new").count();
        prop_assert_eq!(moved(&before, &after), to_new);
        prop_assert!(to_new <= n.div_ceil(k + 1));
    }
}

proptest! {
    /// Re-assigning an unchanged group moves nothing (no flapping between generations).
    #[test]
    fn a_fixed_point_after_one_round(ms in arb_members(), n in 0usize..150, tol in 0u8..3) {
        let us = units(n);
        let options = BalanceOptions::default().tolerance(f64::from(tol) / 10.0);
        let first = assign(&ms, &us, &Assignment::new(), &options);
        let second = assign(&ms, &us, &first, &options);
        prop_assert_eq!(moved(&first, &second), 0);
    }

    /// A leave moves only the departed member's units.
    #[test]
    fn a_leave_moves_only_the_departed_units(k in 2usize..8, n in 0usize..200, gone in 0usize..8) {
        let us = units(n);
        let before_members: Vec<MemberSpec> = (0..k).map(|i| MemberSpec::new(format!("m{i}"))).collect();
        let before = assign(&before_members, &us, &Assignment::new(), &even());
        let gone = format!("m{}", gone % k);
        let after_members: Vec<MemberSpec> =
            before_members.iter().filter(|m| m.id != gone).cloned().collect();
        let after = assign(&after_members, &us, &before, &even());
        let departed = before.values().filter(|o| **o == gone).count();
        prop_assert_eq!(moved(&before, &after), departed);
        prop_assert_eq!(after.len(), n);
    }
}
