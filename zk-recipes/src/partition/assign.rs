//! The assignment function: which member should own which unit.
//!
//! Pure and deterministic (no clock, no randomness, no hash-order iteration): the partitioner's
//! leader calls it with the live members, the units and the current assignment, and writes the
//! result as the next generation. It is *sticky bounded-load rendezvous hashing*:
//!
//! 1. Each member gets a bound: its weighted share of the total load times `1 + tolerance`
//!    (rounded up to a whole unit when every unit weighs the same), and never more units than its
//!    capacity.
//! 2. A unit pegged to a live member goes there, whatever the bound.
//! 3. Every other unit stays with its current owner while the owner is live and within its bound
//!    (stickiness). An owner over its bound keeps the units it ranks highest and sheds the rest.
//! 4. Units left over (new units, units of departed members, shed units) go, heaviest first, to
//!    the member with room that ranks the unit highest (weighted rendezvous score); if no member
//!    has room, to the member whose relative load stays lowest.
//!
//! Steps 3 and 4 make movement minimal: a join moves only what the other members must shed to fit
//! the new bounds (1/n of the units for equal weights), and a leave moves only the departed
//! member's units.

use std::collections::{BTreeMap, BTreeSet};

/// A member as the assignment sees it.
///
/// ```
/// use zk_recipes::partition::MemberSpec;
///
/// let member = MemberSpec::new("worker-1").weight(2).capacity(10);
/// assert_eq!(member.weight, 2);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct MemberSpec {
    /// The member id (unique in the group).
    pub id: String,
    /// Relative weight (at least 1): a member of weight 2 gets twice the share of one of weight 1.
    pub weight: u32,
    /// The most units this member takes, if limited.
    pub capacity: Option<usize>,
}

impl MemberSpec {
    /// A member of weight 1 with no capacity limit.
    ///
    /// ```
    /// use zk_recipes::partition::MemberSpec;
    /// let m = MemberSpec::new("worker-1");
    /// assert_eq!((m.weight, m.capacity), (1, None));
    /// ```
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            weight: 1,
            capacity: None,
        }
    }

    /// Sets the weight (0 is taken as 1).
    ///
    /// ```
    /// use zk_recipes::partition::MemberSpec;
    /// assert_eq!(MemberSpec::new("a").weight(3).weight, 3);
    /// assert_eq!(MemberSpec::new("a").weight(0).weight, 1); // 0 is taken as 1
    /// ```
    pub fn weight(mut self, weight: u32) -> Self {
        self.weight = weight.max(1);
        self
    }

    /// Sets the capacity in units.
    ///
    /// ```
    /// use zk_recipes::partition::MemberSpec;
    /// assert_eq!(MemberSpec::new("a").capacity(10).capacity, Some(10));
    /// ```
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = Some(capacity);
        self
    }
}

/// A unit of work as the assignment sees it.
///
/// ```
/// use zk_recipes::partition::UnitSpec;
///
/// let unit = UnitSpec::new("shard-7").load(3.5).pegged_to("worker-1");
/// assert_eq!(unit.pegged_to.as_deref(), Some("worker-1"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct UnitSpec {
    /// The unit name.
    pub name: String,
    /// The unit's load (1.0 unless members report a measured load); negative, NaN or infinite
    /// values are taken as 1.0.
    pub load: f64,
    /// A member this unit must be owned by; the unit stays unowned while that member is absent.
    pub pegged_to: Option<String>,
}

impl UnitSpec {
    /// A unit of load 1, not pegged.
    ///
    /// ```
    /// use zk_recipes::partition::UnitSpec;
    /// let u = UnitSpec::new("shard-7");
    /// assert_eq!((u.load, u.pegged_to), (1.0, None));
    /// ```
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            load: 1.0,
            pegged_to: None,
        }
    }

    /// Sets the load.
    ///
    /// ```
    /// use zk_recipes::partition::UnitSpec;
    /// assert_eq!(UnitSpec::new("shard-7").load(2.5).load, 2.5);
    /// ```
    pub fn load(mut self, load: f64) -> Self {
        self.load = load;
        self
    }

    /// Pegs the unit to a member.
    ///
    /// ```
    /// use zk_recipes::partition::{BalanceOptions, MemberSpec, UnitSpec, assign};
    /// let units = [UnitSpec::new("shard-7").pegged_to("b")];
    /// let members = [MemberSpec::new("a"), MemberSpec::new("b")];
    /// let next = assign(&members, &units, &Default::default(), &BalanceOptions::default());
    /// assert_eq!(next["shard-7"], "b");
    /// ```
    pub fn pegged_to(mut self, member: impl Into<String>) -> Self {
        self.pegged_to = Some(member.into());
        self
    }

    fn effective_load(&self) -> f64 {
        if self.load.is_finite() && self.load >= 0.0 {
            self.load
        } else {
            1.0
        }
    }
}

/// How tightly the assignment balances.
///
/// ```
/// use zk_recipes::partition::BalanceOptions;
///
/// let options = BalanceOptions::default().tolerance(0.25);
/// assert_eq!(options.tolerance, 0.25);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BalanceOptions {
    /// How far above its fair share a member may be loaded before it sheds units (0.1 = 10 %).
    /// Higher values move fewer units when loads change; 0 balances as evenly as whole units
    /// allow.
    pub tolerance: f64,
}

impl Default for BalanceOptions {
    fn default() -> Self {
        Self { tolerance: 0.0 }
    }
}

impl BalanceOptions {
    /// Sets the tolerance (negative or non-finite values are taken as 0).
    ///
    /// ```
    /// use zk_recipes::partition::BalanceOptions;
    /// assert_eq!(BalanceOptions::default().tolerance(0.1).tolerance, 0.1);
    /// assert_eq!(BalanceOptions::default().tolerance(-1.0).tolerance, 0.0); // taken as 0
    /// ```
    pub fn tolerance(mut self, tolerance: f64) -> Self {
        self.tolerance = if tolerance.is_finite() && tolerance > 0.0 {
            tolerance
        } else {
            0.0
        };
        self
    }
}

/// Unit name → owning member id. Units missing from the map are unowned.
///
/// ```
/// use zk_recipes::partition::Assignment;
/// let mut a = Assignment::new();
/// a.insert("shard-1".into(), "worker-1".into());
/// assert_eq!(a.get("shard-2"), None); // unowned
/// ```
pub type Assignment = BTreeMap<String, String>;

/// Computes the next assignment. See the source module's docs (`assign.rs`) for the rules: pegged units first, then each owner keeps what fits its bound, then the rest go to the highest-ranking member with room.
///
/// Members with duplicate ids count once (the first wins); units with duplicate names count once.
///
/// ```
/// use std::collections::BTreeMap;
/// use zk_recipes::partition::{BalanceOptions, MemberSpec, UnitSpec, assign, moved};
///
/// let units: Vec<UnitSpec> = (0..100).map(|i| UnitSpec::new(format!("u{i}"))).collect();
/// let four: Vec<MemberSpec> = (0..4).map(|i| MemberSpec::new(format!("m{i}"))).collect();
/// let before = assign(&four, &units, &BTreeMap::new(), &BalanceOptions::default());
/// let mut five = four.clone();
/// five.push(MemberSpec::new("m4"));
/// let after = assign(&five, &units, &before, &BalanceOptions::default());
/// assert_eq!(moved(&before, &after), 20); // the optimum: 100 / 5
/// ```
pub fn assign(
    members: &[MemberSpec],
    units: &[UnitSpec],
    current: &Assignment,
    options: &BalanceOptions,
) -> Assignment {
    let members = dedup_members(members);
    let units = dedup_units(units);
    let mut result = Assignment::new();
    if members.is_empty() {
        return result;
    }
    let index: BTreeMap<&str, usize> = members
        .iter()
        .enumerate()
        .map(|(i, m)| (m.id.as_str(), i))
        .collect();
    let placeable: Vec<&UnitSpec> = units.iter().filter(|u| u.pegged_to.is_none()).collect();
    let even_limits = Limits::new(&members, &placeable, 0.0);
    let keep_limits = if options.tolerance > 0.0 {
        Limits::new(&members, &placeable, options.tolerance).at_least(&even_limits)
    } else {
        Limits::new(&members, &placeable, 0.0)
    };
    let mut loads = vec![Load::default(); members.len()];

    // 2. Pegged units.
    let mut free: Vec<&UnitSpec> = Vec::new();
    let mut kept: Vec<Vec<&UnitSpec>> = vec![Vec::new(); members.len()];
    for unit in &units {
        match &unit.pegged_to {
            Some(peg) => {
                if let Some(&m) = index.get(peg.as_str()) {
                    loads[m].add_pegged(unit.effective_load());
                    result.insert(unit.name.clone(), members[m].id.clone());
                }
            }
            None => match current.get(&unit.name).and_then(|o| index.get(o.as_str())) {
                Some(&m) => kept[m].push(unit),
                None => free.push(unit),
            },
        }
    }

    // 3. Stickiness: each owner keeps what fits, in its own preference order. Owners holding the
    // most go first, so that the few "one above the even share" slots stay where they are.
    let mut order: Vec<usize> = (0..members.len()).collect();
    order.sort_by(|&a, &b| kept[b].len().cmp(&kept[a].len()).then(a.cmp(&b)));
    let mut keep_slots = keep_limits.slots;
    for m in order {
        let id = members[m].id.as_str();
        let weight = members[m].weight;
        let candidates = &mut kept[m];
        candidates.sort_by(|a, b| {
            score(&b.name, id, weight)
                .total_cmp(&score(&a.name, id, weight))
                .then_with(|| a.name.cmp(&b.name))
        });
        for unit in candidates.iter() {
            let load = unit.effective_load();
            if keep_limits.fits_low(m, &loads[m], load) {
                loads[m].add(load);
            } else if keep_slots > 0 && keep_limits.fits_high(m, &loads[m], load) {
                keep_slots -= 1;
                loads[m].add(load);
            } else {
                free.push(unit);
                continue;
            }
            result.insert(unit.name.clone(), members[m].id.clone());
        }
    }

    // 4. The rest, heaviest first, to the highest-ranking member with room: first up to the even
    // share, then one unit above it where whole units do not divide evenly, then within the
    // tolerance, then wherever the relative load stays lowest.
    free.sort_by(|a, b| {
        b.effective_load()
            .total_cmp(&a.effective_load())
            .then_with(|| a.name.cmp(&b.name))
    });
    let mut even_slots = even_limits.slots.saturating_sub(
        loads
            .iter()
            .enumerate()
            .filter(|(m, l)| l.placed > even_limits.low[*m])
            .count(),
    );
    for unit in free {
        let load = unit.effective_load();
        let ranked = ranking(&unit.name, &members);
        let find = |pred: &dyn Fn(usize) -> bool| ranked.iter().copied().find(|&m| pred(m));
        let chosen = if let Some(m) = find(&|m| even_limits.fits_low(m, &loads[m], load)) {
            Some(m)
        } else if let Some(m) =
            find(&|m| even_slots > 0 && even_limits.fits_high(m, &loads[m], load))
        {
            even_slots -= 1;
            Some(m)
        } else if let Some(m) = find(&|m| keep_limits.fits_high(m, &loads[m], load)) {
            Some(m)
        } else {
            ranked
                .iter()
                .copied()
                .filter(|&m| even_limits.has_capacity(m, &loads[m]))
                .min_by(|&a, &b| {
                    let ra = (loads[a].total() + load) / f64::from(members[a].weight);
                    let rb = (loads[b].total() + load) / f64::from(members[b].weight);
                    ra.total_cmp(&rb)
                })
        };
        if let Some(m) = chosen {
            loads[m].add(load);
            result.insert(unit.name.clone(), members[m].id.clone());
        }
    }
    result
}

/// How many units changed owner (or gained or lost one) between two assignments.
///
/// ```
/// use zk_recipes::partition::{Assignment, moved};
///
/// let a: Assignment = [("u1".into(), "m1".into())].into();
/// let b: Assignment = [("u1".into(), "m2".into())].into();
/// assert_eq!(moved(&a, &b), 1);
/// ```
pub fn moved(before: &Assignment, after: &Assignment) -> usize {
    let units: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    units
        .into_iter()
        .filter(|u| before.get(*u) != after.get(*u))
        .count()
}

/// What a member has been given so far.
#[derive(Debug, Clone, Copy, Default)]
struct Load {
    /// Load of the balanced (not pegged) units.
    placed: f64,
    /// Load of pegged units, which count against capacity but not against the share.
    pegged: f64,
    units: usize,
}

impl Load {
    fn add(&mut self, load: f64) {
        self.placed += load;
        self.units += 1;
    }

    fn add_pegged(&mut self, load: f64) {
        self.pegged += load;
        self.units += 1;
    }

    fn total(&self) -> f64 {
        self.placed + self.pegged
    }
}

/// Per-member limits for one phase: each member's weighted share times `1 + tolerance`. With
/// whole units (every load 1) the share is split into `low = floor` and `high = ceil`, and only
/// `slots` members may go above `low`, so that the shares add up exactly.
struct Limits {
    low: Vec<f64>,
    high: Vec<f64>,
    slots: usize,
    capacity: Vec<Option<usize>>,
}

impl Limits {
    fn new(members: &[MemberSpec], placeable: &[&UnitSpec], tolerance: f64) -> Self {
        let total: f64 = placeable.iter().map(|u| u.effective_load()).sum();
        let total_weight: f64 = members.iter().map(|m| f64::from(m.weight)).sum();
        let whole_units = placeable
            .iter()
            .all(|u| (u.effective_load() - 1.0).abs() < f64::EPSILON);
        let targets: Vec<f64> = members
            .iter()
            .map(|m| total * f64::from(m.weight) / total_weight * (1.0 + tolerance))
            .collect();
        // A hair of slack so that 20.000000001 counts as 20.
        let (low, high): (Vec<f64>, Vec<f64>) = if whole_units {
            targets
                .iter()
                .map(|t| ((t + 1e-9).floor(), (t - 1e-9).ceil()))
                .unzip()
        } else {
            targets.iter().map(|t| (*t, *t)).unzip()
        };
        let slots = if whole_units {
            let low_sum: f64 = low.iter().sum();
            (total - low_sum).max(0.0).round() as usize
        } else {
            0
        };
        Self {
            low,
            high,
            slots,
            capacity: members.iter().map(|m| m.capacity).collect(),
        }
    }

    /// Raises every member's limits to at least `even`'s upper limit with no slots to share: the
    /// tolerance band for keeping units must contain whatever the even placement can hand out,
    /// or the next generation would shed what this one placed.
    fn at_least(mut self, even: &Limits) -> Self {
        for m in 0..self.low.len() {
            self.low[m] = self.low[m].max(even.high[m]);
            self.high[m] = self.high[m].max(self.low[m]);
        }
        self.slots = 0;
        self
    }

    fn has_capacity(&self, m: usize, current: &Load) -> bool {
        self.capacity[m].is_none_or(|c| current.units < c)
    }

    fn fits_low(&self, m: usize, current: &Load, load: f64) -> bool {
        self.has_capacity(m, current) && current.placed + load <= self.low[m] + 1e-9
    }

    fn fits_high(&self, m: usize, current: &Load, load: f64) -> bool {
        self.has_capacity(m, current) && current.placed + load <= self.high[m] + 1e-9
    }
}

/// Members in order of preference for `unit` (highest weighted rendezvous score first).
fn ranking(unit: &str, members: &[MemberSpec]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..members.len()).collect();
    order.sort_by(|&a, &b| {
        score(unit, &members[b].id, members[b].weight)
            .total_cmp(&score(unit, &members[a].id, members[a].weight))
            .then_with(|| members[a].id.cmp(&members[b].id))
    });
    order
}

/// Weighted rendezvous score: `-weight / ln(h)` with `h` uniform in (0, 1) from a stable hash of
/// the pair, so a member's chance of ranking first is proportional to its weight.
fn score(unit: &str, member: &str, weight: u32) -> f64 {
    let h = stable_hash(unit, member);
    // 53 random bits, shifted off zero so that ln is finite and negative.
    let uniform = ((h >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    -f64::from(weight) / uniform.ln()
}

/// FNV-1a over both strings (with a separator), finished with the splitmix64 mixer: stable across
/// runs, platforms and Rust versions, unlike `std`'s `DefaultHasher`.
fn stable_hash(a: &str, b: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in a.bytes().chain([0xff]).chain(b.bytes()) {
        h ^= u64::from(byte);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

fn dedup_members(members: &[MemberSpec]) -> Vec<MemberSpec> {
    let mut seen = BTreeSet::new();
    let mut out: Vec<MemberSpec> = members
        .iter()
        .filter(|m| seen.insert(m.id.clone()))
        .cloned()
        .map(|m| {
            let weight = m.weight.max(1);
            MemberSpec { weight, ..m }
        })
        .collect();
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

fn dedup_units(units: &[UnitSpec]) -> Vec<UnitSpec> {
    let mut seen = BTreeSet::new();
    let mut out: Vec<UnitSpec> = units
        .iter()
        .filter(|u| seen.insert(u.name.clone()))
        .cloned()
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

#[cfg(test)]
#[path = "assign_tests.rs"]
mod tests;
