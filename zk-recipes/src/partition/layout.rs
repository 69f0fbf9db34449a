//! Where the partitioner keeps its state under its path, and the JSON it writes there.
//!
//! ```text
//! PATH/members/<id>     ephemeral, one per live member: {"weight":1,"capacity":null,"loads":{}}
//! PATH/leader/...       a LeaderLatch (Curator flavour): the member that computes assignments
//! PATH/assignment       persistent: {"generation":7,"units":{"u1":"a","u2":null}}
//! PATH/owners/<unit>    ephemeral claim of the unit's current owner; data = member id;
//!                       its czxid is the grant's fencing token
//! UNITS_PATH/<unit>     with dynamic units: one child per unit; data may be
//!                       {"pegged_to":"<member>","load":2.5}
//! ```
//!
//! Only the leader writes `assignment`, with a version check; only a unit's owner creates and
//! deletes its claim. Anything at these paths that does not parse is reported, never trusted.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::paths;

/// The znode paths of one partitioner.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub(crate) members: String,
    pub(crate) leader: String,
    pub(crate) assignment: String,
    pub(crate) owners: String,
}

impl Layout {
    pub(crate) fn new(path: &str) -> Self {
        Self {
            members: paths::join(path, "members"),
            leader: paths::join(path, "leader"),
            assignment: paths::join(path, "assignment"),
            owners: paths::join(path, "owners"),
        }
    }

    pub(crate) fn member(&self, id: &str) -> String {
        paths::join(&self.members, id)
    }

    pub(crate) fn claim(&self, unit: &str) -> String {
        paths::join(&self.owners, unit)
    }
}

/// The data of a member node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct MemberRecord {
    #[serde(default = "one")]
    pub(crate) weight: u32,
    #[serde(default)]
    pub(crate) capacity: Option<usize>,
    /// Measured load per unit this member owns (reported by the application).
    #[serde(default)]
    pub(crate) loads: BTreeMap<String, f64>,
}

fn one() -> u32 {
    1
}

/// The data of the assignment node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct AssignmentRecord {
    pub(crate) generation: u64,
    /// Every unit, with its owner (or null).
    pub(crate) units: BTreeMap<String, Option<String>>,
}

/// The optional data of a dynamic unit node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct UnitRecord {
    #[serde(default)]
    pub(crate) pegged_to: Option<String>,
    #[serde(default)]
    pub(crate) load: Option<f64>,
}

/// Parses JSON written by a partitioner; `what` names the node in the error.
pub(crate) fn parse<T: for<'de> Deserialize<'de>>(
    what: &str,
    bytes: &[u8],
) -> Result<T, crate::RecipeError> {
    serde_json::from_slice(bytes).map_err(|e| crate::RecipeError::ForeignData {
        path: what.to_owned(),
        reason: e.to_string(),
    })
}

/// Serializes a record (infallible for these plain types).
pub(crate) fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_tolerate_missing_fields() {
        let record = AssignmentRecord {
            generation: 3,
            units: [
                ("u1".to_owned(), Some("a".to_owned())),
                ("u2".to_owned(), None),
            ]
            .into(),
        };
        let bytes = to_json(&record);
        assert_eq!(
            String::from_utf8_lossy(&bytes),
            r#"{"generation":3,"units":{"u1":"a","u2":null}}"#
        );
        assert_eq!(
            parse::<AssignmentRecord>("/p/assignment", &bytes),
            Ok(record)
        );
        let member: MemberRecord = parse("/p/members/a", b"{}").expect("defaults");
        assert_eq!(member.weight, 1);
        assert!(parse::<MemberRecord>("/p/members/a", b"not json").is_err());
        assert!(parse::<UnitRecord>("/u/x", br#"{"pegged_to":"a"}"#).is_ok());
    }

    #[test]
    fn paths_hang_under_the_recipe_path() {
        let layout = Layout::new("/app/shards");
        assert_eq!(layout.member("a"), "/app/shards/members/a");
        assert_eq!(layout.claim("u1"), "/app/shards/owners/u1");
        assert_eq!(layout.assignment, "/app/shards/assignment");
        assert_eq!(layout.leader, "/app/shards/leader");
    }
}
