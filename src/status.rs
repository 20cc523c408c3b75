//! The status mapping: an index [`Resolution`] becomes the `EntityStatus` the operator writes,
//! and a desired status becomes the status object to write, or no write at all. Pure: the caller
//! supplies the clock.
//!
//! Every API string a resolution turns into (condition and unresolvedRefs reasons) comes from
//! [`Reason::as_str`], so the core's enums and the CRD's words cannot drift apart.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::api::{EntityStatus, RelationEntry, UnresolvedRef};
use crate::index::{ProblemReason, ReadyReason, RelationIndex, Resolution};
use crate::model::{EntityRef, Kind, RelationType};

pub const READY: &str = "Ready";

/// The most a status may take, serialized, before relations and unresolved references are cut.
/// etcd refuses objects over 1.5 MiB, and the spec (a Group may list thousands of members) and
/// managedFields need their share; a status that fits this always leaves them room.
pub const STATUS_BYTE_BUDGET: usize = 256 * 1024;
/// Kept free within the budget for the Ready condition, whose message lists at most five problems.
const CONDITION_RESERVE: usize = 16 * 1024;

/// The one string table for the reasons the API shows. A reason's text is part of the CRD
/// contract (users alert on it), so it is written here once rather than at each use.
pub trait Reason: Copy {
    fn as_str(self) -> &'static str;
}

impl Reason for ReadyReason {
    fn as_str(self) -> &'static str {
        match self {
            ReadyReason::Resolved => "Resolved",
            ReadyReason::UnresolvedReferences => "UnresolvedReferences",
            ReadyReason::InvalidReference => "InvalidReference",
            ReadyReason::CycleDetected => "CycleDetected",
            ReadyReason::InvalidSpec => "InvalidSpec",
        }
    }
}

impl Reason for ProblemReason {
    fn as_str(self) -> &'static str {
        match self {
            ProblemReason::NotFound => "NotFound",
            ProblemReason::InvalidKind => "InvalidKind",
            ProblemReason::InvalidReference => "InvalidReference",
            ProblemReason::RefNotPermitted => "RefNotPermitted",
        }
    }
}

/// The Ready condition an entity should have, without a transition time (that needs a clock).
/// The reason is already the API's word, because Events and logs carry it too.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Readiness {
    pub ready: bool,
    pub reason: &'static str,
    pub message: String,
}

/// What an entity's status should say.
#[derive(Clone, Debug, PartialEq)]
pub struct Desired {
    /// Everything but conditions.
    pub status: EntityStatus,
    pub readiness: Readiness,
}

/// The status `me` should have, or `None` if it is not in the catalog.
///
/// Call [`RelationIndex::take_dirty`] first so cycle membership is current.
pub fn desired(index: &RelationIndex, me: &EntityRef) -> Option<Desired> {
    index.resolve(me).map(|r| from_resolution(me, r))
}

/// Maps a resolution onto the CRD status: the relation rows, the full counts when the list was
/// cut, and the counts each kind shows as printer columns.
pub fn from_resolution(me: &EntityRef, r: Resolution) -> Desired {
    let listed = r.relations.len();
    let count = |t: RelationType| Some(r.count(t) as i64);
    let mut status = EntityStatus {
        observed_generation: r.generation,
        entity_ref: Some(me.to_string()),
        relation_counts: r.truncated.then(|| {
            r.counts
                .iter()
                .map(|(t, n)| (t.as_str().to_owned(), *n as i64))
                .collect()
        }),
        ..EntityStatus::default()
    };
    match r.kind {
        Kind::System | Kind::Domain | Kind::Component => {
            status.parts = count(RelationType::HasPart)
        }
        Kind::Api => {
            status.providers = count(RelationType::ApiProvidedBy);
            status.consumers = count(RelationType::ApiConsumedBy);
        }
        Kind::Group => {
            status.members = count(RelationType::HasMember);
            status.children = count(RelationType::ParentOf);
            status.owns = count(RelationType::OwnerOf);
        }
        Kind::User => {
            status.groups = count(RelationType::MemberOf);
            status.owns = count(RelationType::OwnerOf);
        }
        Kind::Resource => {}
    }
    status.relations = r
        .relations
        .into_iter()
        .map(|rel| RelationEntry {
            type_: rel.rtype.as_str().to_owned(),
            target_ref: rel.target,
        })
        .collect();
    status.unresolved_refs = r
        .problems
        .into_iter()
        .map(|p| UnresolvedRef {
            field: p.field,
            target_ref: p.target,
            reason: p.reason.as_str().to_owned(),
            message: Some(p.message),
        })
        .collect();
    fit(&mut status, STATUS_BYTE_BUDGET - CONDITION_RESERVE);
    if status.relation_counts.is_none() && status.relations.len() < listed {
        status.relation_counts = Some(
            r.counts
                .iter()
                .map(|(t, n)| (t.as_str().to_owned(), *n as i64))
                .collect(),
        );
    }
    if status.unresolved_refs.len() < r.problem_count {
        status.unresolved_ref_count = Some(r.problem_count as i64);
    }
    Desired {
        status,
        readiness: Readiness {
            ready: r.readiness.ready,
            reason: r.readiness.reason.as_str(),
            message: r.readiness.message,
        },
    }
}

fn json_len(status: &EntityStatus) -> usize {
    serde_json::to_vec(status).map_or(usize::MAX, |v| v.len())
}

/// Cuts `relations` (to the same number per type) and `unresolvedRefs` until the status fits
/// `budget` bytes, keeping as many as fit. Each reference is at most 512 characters, so only a
/// status with thousands of them is ever cut.
fn fit(status: &mut EntityStatus, budget: usize) {
    if json_len(status) <= budget {
        return;
    }
    let relations = std::mem::take(&mut status.relations);
    let unresolved = std::mem::take(&mut status.unresolved_refs);
    let cut = |status: &mut EntityStatus, per_type: usize| {
        let mut seen: std::collections::HashMap<&str, usize> = Default::default();
        status.relations = relations
            .iter()
            .filter(|r| {
                let n = seen.entry(r.type_.as_str()).or_default();
                *n += 1;
                *n <= per_type
            })
            .cloned()
            .collect();
        status.unresolved_refs = unresolved.iter().take(per_type).cloned().collect();
    };
    // The largest number per type that fits, by bisection: a handful of serializations, and only
    // for the rare status that is over budget.
    let (mut lo, mut hi) = (0, relations.len().max(unresolved.len()));
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        cut(status, mid);
        if json_len(status) <= budget {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    cut(status, lo);
}

/// The full status for `desired`, keeping the Ready condition's lastTransitionTime from
/// `observed` unless the condition's status flips.
pub fn render(desired: &Desired, observed: Option<&EntityStatus>, now: &Time) -> EntityStatus {
    let status = if desired.readiness.ready {
        "True"
    } else {
        "False"
    };
    let previous = observed.and_then(|o| o.conditions.iter().find(|c| c.type_ == READY));
    let last_transition_time = match previous {
        Some(p) if p.status == status => p.last_transition_time.clone(),
        _ => now.clone(),
    };
    let mut out = desired.status.clone();
    out.conditions = vec![Condition {
        type_: READY.to_owned(),
        status: status.to_owned(),
        reason: desired.readiness.reason.to_owned(),
        message: desired.readiness.message.clone(),
        observed_generation: desired.status.observed_generation,
        last_transition_time,
    }];
    out
}

/// The status to write, or `None` when `observed` already says what `desired` says. Only a flip of
/// Ready moves lastTransitionTime, so the rendered status equals the observed one exactly when
/// nothing else differs.
pub fn to_write(
    desired: &Desired,
    observed: Option<&EntityStatus>,
    now: &Time,
) -> Option<EntityStatus> {
    let status = render(desired, observed, now);
    (observed != Some(&status)).then_some(status)
}

/// Whether `observed` already says what `desired` says (ignoring only lastTransitionTime).
pub fn up_to_date(desired: &Desired, observed: Option<&EntityStatus>) -> bool {
    to_write(desired, observed, &Time(Default::default())).is_none()
}

/// Whether the Ready condition flips between `observed` and `desired`, and to what.
pub fn ready_flip(desired: &Desired, observed: Option<&EntityStatus>) -> Option<bool> {
    let before = observed
        .and_then(|o| o.conditions.iter().find(|c| c.type_ == READY))
        .map(|c| c.status == "True");
    (before != Some(desired.readiness.ready)).then_some(desired.readiness.ready)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(secs: i64) -> Time {
        Time(k8s_openapi::jiff::Timestamp::from_second(secs).unwrap())
    }

    fn desired(ready: bool, message: &str) -> Desired {
        Desired {
            status: EntityStatus {
                observed_generation: Some(3),
                entity_ref: Some("component:a/b".into()),
                ..Default::default()
            },
            readiness: Readiness {
                ready,
                reason: if ready {
                    "Resolved"
                } else {
                    "UnresolvedReferences"
                },
                message: message.into(),
            },
        }
    }

    use crate::model::{Entity, RefCollector};

    fn entity(kind: Kind, name: &str, refs: RefCollector) -> Entity {
        Entity {
            kind,
            namespace: "o".into(),
            name: name.into(),
            refs: refs.finish(),
        }
    }

    fn of(ix: &RelationIndex, kind: Kind, name: &str) -> Desired {
        super::desired(ix, &EntityRef::of(kind, "o", name)).unwrap()
    }

    #[test]
    fn each_kind_shows_its_own_counts() {
        let mut ix = RelationIndex::default();
        let r = RefCollector::default;
        ix.upsert(
            &entity(
                Kind::Component,
                "c",
                r().one("owner", Some("user:u"))
                    .one("system", Some("s"))
                    .many("providesApis", ["a"])
                    .many("consumesApis", ["a"]),
            ),
            Some(4),
        );
        ix.upsert(
            &entity(Kind::System, "s", r().one("owner", Some("g"))),
            None,
        );
        ix.upsert(&entity(Kind::Api, "a", r().one("owner", Some("g"))), None);
        ix.upsert(
            &entity(
                Kind::Group,
                "g",
                r().many("children", []).many("members", ["u"]),
            ),
            None,
        );
        ix.upsert(&entity(Kind::User, "u", r().many("memberOf", [])), None);
        ix.upsert(
            &entity(Kind::Resource, "db", r().one("owner", Some("g"))),
            None,
        );
        ix.take_dirty();
        let c = of(&ix, Kind::Component, "c");
        assert_eq!(c.status.observed_generation, Some(4));
        assert_eq!(c.status.entity_ref.as_deref(), Some("component:o/c"));
        assert_eq!((c.status.parts, c.status.owns), (Some(0), None));
        assert_eq!(
            c.readiness,
            Readiness {
                ready: true,
                reason: "Resolved",
                message: "all 4 references resolved".into()
            }
        );
        assert_eq!(of(&ix, Kind::System, "s").status.parts, Some(1));
        let a = of(&ix, Kind::Api, "a").status;
        assert_eq!(
            (a.providers, a.consumers, a.parts),
            (Some(1), Some(1), None)
        );
        let g = of(&ix, Kind::Group, "g").status;
        assert_eq!(
            (g.members, g.children, g.owns, g.groups),
            (Some(1), Some(0), Some(3), None)
        );
        let u = of(&ix, Kind::User, "u").status;
        assert_eq!((u.groups, u.owns, u.members), (Some(1), Some(1), None));
        let db = of(&ix, Kind::Resource, "db").status;
        assert_eq!((db.parts, db.owns, db.relation_counts), (None, None, None));
        assert_eq!(
            db.relations,
            [RelationEntry {
                type_: "ownedBy".into(),
                target_ref: "group:o/g".into()
            }]
        );
    }

    #[test]
    fn cut_lists_carry_full_counts_and_problems_become_unresolved_refs() {
        let mut ix = RelationIndex::new(1);
        let r = RefCollector::default;
        ix.upsert(
            &entity(
                Kind::Group,
                "g",
                r().many("children", []).many("members", ["u1", "u2", "x:"]),
            ),
            None,
        );
        for u in ["u1", "u2"] {
            ix.upsert(&entity(Kind::User, u, r().many("memberOf", [])), None);
        }
        ix.take_dirty();
        let g = of(&ix, Kind::Group, "g");
        assert_eq!(g.status.members, Some(2));
        assert_eq!(g.status.relations.len(), 1);
        assert_eq!(
            g.status.relation_counts,
            Some([("hasMember".to_owned(), 2)].into())
        );
        assert_eq!(
            g.status.unresolved_refs,
            [UnresolvedRef {
                field: "spec.members[2]".into(),
                target_ref: "x:".into(),
                reason: "InvalidReference".into(),
                message: Some("reference \"x:\" has an empty name".into()),
            }]
        );
        assert_eq!(g.readiness.reason, "InvalidReference");
        assert!(of(&ix, Kind::User, "u1").status.relation_counts.is_none());
    }

    /// The API's words for each reason; changing one breaks users' alerts, so it must be a
    /// deliberate edit of this list too.
    #[test]
    fn reason_strings() {
        use ProblemReason as P;
        use ReadyReason as R;
        let ready = [
            R::Resolved,
            R::UnresolvedReferences,
            R::InvalidReference,
            R::CycleDetected,
            R::InvalidSpec,
        ]
        .map(Reason::as_str);
        assert_eq!(
            ready,
            [
                "Resolved",
                "UnresolvedReferences",
                "InvalidReference",
                "CycleDetected",
                "InvalidSpec"
            ]
        );
        let problem = [
            P::NotFound,
            P::InvalidKind,
            P::InvalidReference,
            P::RefNotPermitted,
        ]
        .map(Reason::as_str);
        assert_eq!(
            problem,
            [
                "NotFound",
                "InvalidKind",
                "InvalidReference",
                "RefNotPermitted"
            ]
        );
    }

    #[test]
    fn first_render_uses_now() {
        let s = render(&desired(true, "ok"), None, &time(100));
        assert_eq!(s.conditions.len(), 1);
        let c = &s.conditions[0];
        assert_eq!(
            (c.type_.as_str(), c.status.as_str(), c.reason.as_str()),
            ("Ready", "True", "Resolved")
        );
        assert_eq!(c.last_transition_time, time(100));
        assert_eq!(c.observed_generation, Some(3));
        assert!(!up_to_date(&desired(true, "ok"), None));
    }

    #[test]
    fn transition_time_moves_only_on_a_flip() {
        let first = render(&desired(false, "x not found"), None, &time(100));
        // Same status, new message: time kept, but a write is needed.
        let second = render(&desired(false, "y not found"), Some(&first), &time(200));
        assert_eq!(second.conditions[0].last_transition_time, time(100));
        assert!(!up_to_date(&desired(false, "y not found"), Some(&first)));
        assert_eq!(
            ready_flip(&desired(false, "y not found"), Some(&first)),
            None
        );
        // Flip: time moves.
        let third = render(&desired(true, "ok"), Some(&second), &time(300));
        assert_eq!(third.conditions[0].last_transition_time, time(300));
        assert_eq!(ready_flip(&desired(true, "ok"), Some(&second)), Some(true));
    }

    #[test]
    fn unchanged_desired_needs_no_write() {
        let written = render(&desired(true, "ok"), None, &time(100));
        assert!(up_to_date(&desired(true, "ok"), Some(&written)));
        let mut other_gen = desired(true, "ok");
        other_gen.status.observed_generation = Some(4);
        assert!(!up_to_date(&other_gen, Some(&written)));
        // A condition someone else added is not ours to keep.
        let mut extra = written.clone();
        extra.conditions.push(Condition {
            type_: "Other".into(),
            ..written.conditions[0].clone()
        });
        assert!(!up_to_date(&desired(true, "ok"), Some(&extra)));
    }
}

#[cfg(test)]
mod budget_tests {
    use super::*;
    use crate::model::{Entity, RefCollector};

    /// A Group with 1 200 member references of ~500 characters, all dangling: about 2 MB of
    /// status if nothing were cut, which etcd refuses.
    fn huge_group() -> (RelationIndex, EntityRef) {
        let names: Vec<String> = (0..1200)
            .map(|i| format!("user-{i:04}-{}", "x".repeat(490)))
            .collect();
        let group = Entity {
            kind: Kind::Group,
            namespace: "org".into(),
            name: "everyone".into(),
            refs: RefCollector::default()
                .many("members", names.iter().map(String::as_str))
                .finish(),
        };
        let mut index = RelationIndex::new(1000);
        index.upsert(&group, Some(1));
        index.take_dirty();
        (index, group.entity_ref())
    }

    #[test]
    fn a_status_always_fits_its_budget_and_counts_what_it_cut() {
        let (index, me) = huge_group();
        let d = desired(&index, &me).unwrap();
        let rendered = render(&d, None, &Time(Default::default()));
        let size = serde_json::to_vec(&rendered).unwrap().len();
        assert!(size <= STATUS_BYTE_BUDGET, "{size} bytes");
        let s = &d.status;
        // As many as fit, the same number of each kind of row.
        assert!(s.relations.len() > 100, "{}", s.relations.len());
        assert_eq!(s.relations.len(), s.unresolved_refs.len());
        assert_eq!(
            s.relation_counts.as_ref().and_then(|c| c.get("hasMember")),
            Some(&1200)
        );
        assert_eq!(s.unresolved_ref_count, Some(1200));
        assert_eq!(s.members, Some(1200));
        assert!(!d.readiness.ready);
    }

    #[test]
    fn a_status_under_the_budget_is_not_cut() {
        let group = Entity {
            kind: Kind::Group,
            namespace: "org".into(),
            name: "small".into(),
            refs: RefCollector::default().many("members", ["a", "b"]).finish(),
        };
        let mut index = RelationIndex::new(1000);
        index.upsert(&group, Some(1));
        index.take_dirty();
        let d = desired(&index, &group.entity_ref()).unwrap();
        assert_eq!(d.status.relations.len(), 2);
        assert_eq!(d.status.unresolved_refs.len(), 2);
        assert_eq!(d.status.relation_counts, None);
        assert_eq!(d.status.unresolved_ref_count, None);
    }

    #[test]
    fn unresolved_references_over_the_per_type_cap_are_counted() {
        let names: Vec<String> = (0..30).map(|i| format!("u{i}")).collect();
        let group = Entity {
            kind: Kind::Group,
            namespace: "org".into(),
            name: "g".into(),
            refs: RefCollector::default()
                .many("members", names.iter().map(String::as_str))
                .finish(),
        };
        let mut index = RelationIndex::new(10);
        index.upsert(&group, Some(1));
        index.take_dirty();
        let d = desired(&index, &group.entity_ref()).unwrap();
        assert_eq!(d.status.unresolved_refs.len(), 10);
        assert_eq!(d.status.unresolved_ref_count, Some(30));
        assert_eq!(d.status.relations.len(), 10);
    }
}
