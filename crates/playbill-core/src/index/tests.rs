use std::collections::{BTreeMap, HashMap};

use playbill_testkit::Rng;

use super::*;
use crate::model::{RefCollector, catalog_relations};

fn entity(kind: Kind, ns: &str, name: &str, refs: RefCollector) -> Entity {
    Entity {
        kind,
        namespace: ns.into(),
        name: name.into(),
        refs: refs.finish(),
    }
}

fn r() -> RefCollector {
    RefCollector::default()
}

fn eref(s: &str) -> EntityRef {
    let (kind, rest) = s.split_once(':').unwrap();
    let (ns, name) = rest.split_once('/').unwrap();
    EntityRef {
        kind: kind.into(),
        namespace: ns.into(),
        name: name.into(),
    }
}

fn desired(ix: &RelationIndex, s: &str) -> Resolution {
    ix.resolve(&eref(s))
        .unwrap_or_else(|| panic!("{s} not in index"))
}

fn relations(ix: &RelationIndex, s: &str) -> Vec<String> {
    desired(ix, s)
        .relations
        .iter()
        .map(|r| format!("{} {}", r.rtype, r.target))
        .collect()
}

fn dirty(ix: &mut RelationIndex) -> Vec<String> {
    ix.take_dirty().iter().map(|r| r.to_string()).collect()
}

fn checkout(system: &str) -> Entity {
    entity(
        Kind::Component,
        "payments",
        "checkout",
        r().one("owner", Some("team-a")).one("system", Some(system)),
    )
}

#[test]
fn spec_example_status() {
    let mut ix = RelationIndex::default();
    ix.upsert(&checkout("shop"), Some(7));
    ix.upsert(
        &entity(Kind::Group, "payments", "team-a", r().many("children", [])),
        Some(1),
    );
    ix.take_dirty();
    let d = desired(&ix, "component:payments/checkout");
    assert_eq!(d.generation, Some(7));
    assert_eq!(d.kind, Kind::Component);
    assert_eq!(
        relations(&ix, "component:payments/checkout"),
        [
            "ownedBy group:payments/team-a",
            "partOf system:payments/shop"
        ]
    );
    assert_eq!(
        d.problems,
        [Problem {
            field: "spec.system".into(),
            target: "system:payments/shop".into(),
            reason: ProblemReason::NotFound,
            message: "system:payments/shop not found".into(),
        }]
    );
    assert_eq!(
        d.readiness,
        Readiness {
            ready: false,
            reason: ReadyReason::UnresolvedReferences,
            message: "spec.system: system:payments/shop not found".into()
        }
    );
    assert_eq!(d.count(RelationType::HasPart), 0);
    assert!(!d.truncated && d.cycle.is_empty() && d.spec_error.is_none());
    let g = desired(&ix, "group:payments/team-a");
    assert_eq!(g.readiness.reason, ReadyReason::Resolved);
    assert_eq!(
        (
            g.count(RelationType::OwnerOf),
            g.count(RelationType::HasMember),
            g.count(RelationType::ParentOf)
        ),
        (1, 0, 0)
    );
    assert_eq!(g.readiness.message, "no references to resolve");
}

#[test]
fn moving_a_component_marks_old_and_new_system() {
    let mut ix = RelationIndex::default();
    ix.upsert(&checkout("a"), Some(1));
    for s in ["a", "b"] {
        ix.upsert(
            &entity(
                Kind::System,
                "payments",
                s,
                r().one("owner", Some("team-a")),
            ),
            Some(1),
        );
    }
    ix.take_dirty();
    assert_eq!(
        relations(&ix, "system:payments/a"),
        [
            "hasPart component:payments/checkout",
            "ownedBy group:payments/team-a"
        ]
    );
    ix.upsert(&checkout("b"), Some(2));
    let d = dirty(&mut ix);
    for must in [
        "component:payments/checkout",
        "system:payments/a",
        "system:payments/b",
    ] {
        assert!(d.contains(&must.to_string()), "{must} not in {d:?}");
    }
    assert_eq!(
        relations(&ix, "system:payments/a"),
        ["ownedBy group:payments/team-a"]
    );
    assert_eq!(
        relations(&ix, "system:payments/b"),
        [
            "hasPart component:payments/checkout",
            "ownedBy group:payments/team-a"
        ]
    );
    assert_eq!(
        desired(&ix, "system:payments/b").count(RelationType::HasPart),
        1
    );
}

#[test]
fn deleting_and_recreating_a_target() {
    let mut ix = RelationIndex::default();
    let team = entity(Kind::Group, "payments", "team-a", r().many("children", []));
    ix.upsert(&team, None);
    ix.upsert(&checkout("shop"), None);
    ix.upsert(
        &entity(
            Kind::System,
            "payments",
            "shop",
            r().one("owner", Some("team-a")),
        ),
        None,
    );
    ix.take_dirty();
    assert!(desired(&ix, "component:payments/checkout").readiness.ready);
    ix.remove(&eref("group:payments/team-a"));
    let d = dirty(&mut ix);
    assert_eq!(d, ["component:payments/checkout", "system:payments/shop"]);
    let c = desired(&ix, "component:payments/checkout");
    assert!(!c.readiness.ready);
    assert_eq!(c.problems[0].reason, ProblemReason::NotFound);
    // Forward rows to a missing target stay listed, as Backstage does.
    assert!(
        relations(&ix, "component:payments/checkout")
            .contains(&"ownedBy group:payments/team-a".to_string())
    );
    ix.upsert(&team, None);
    let d = dirty(&mut ix);
    assert!(
        d.contains(&"component:payments/checkout".to_string())
            && d.contains(&"group:payments/team-a".to_string())
    );
    assert!(desired(&ix, "component:payments/checkout").readiness.ready);
    assert_eq!(
        relations(&ix, "group:payments/team-a"),
        [
            "ownerOf component:payments/checkout",
            "ownerOf system:payments/shop"
        ]
    );
}

#[test]
fn unchanged_upserts_mark_nothing() {
    let mut ix = RelationIndex::default();
    ix.upsert(&checkout("shop"), Some(1));
    ix.take_dirty();
    ix.upsert(&checkout("shop"), Some(1));
    assert!(ix.take_dirty().is_empty());
    ix.upsert(&checkout("shop"), Some(2));
    assert_eq!(dirty(&mut ix), ["component:payments/checkout"]);
    ix.remove(&eref("system:payments/nope"));
    assert!(ix.take_dirty().is_empty());
}

#[test]
fn invalid_kind_and_invalid_reference() {
    let mut ix = RelationIndex::default();
    ix.upsert(
        &entity(
            Kind::Component,
            "x",
            "c",
            r().one("owner", Some("system:shop"))
                .one("system", Some("template:t"))
                .many("dependsOn", ["db", "resource:"]),
        ),
        None,
    );
    ix.upsert(
        &entity(Kind::System, "x", "shop", r().one("owner", Some("g"))),
        None,
    );
    ix.take_dirty();
    let d = desired(&ix, "component:x/c");
    let got: Vec<_> = d
        .problems
        .iter()
        .map(|u| (u.field.as_str(), u.target.as_str(), u.reason))
        .collect();
    use ProblemReason::{InvalidKind, InvalidReference};
    assert_eq!(
        got,
        [
            ("spec.owner", "system:x/shop", InvalidKind),
            ("spec.system", "template:x/t", InvalidKind),
            ("spec.dependsOn[0]", "db", InvalidReference),
            ("spec.dependsOn[1]", "resource:", InvalidReference),
        ]
    );
    assert_eq!(d.readiness.reason, ReadyReason::InvalidReference);
    assert!(
        d.readiness
            .message
            .starts_with("spec.owner: system:x/shop is a System; owner must name a Group or User"),
        "{}",
        d.readiness.message
    );
    assert!(
        d.readiness
            .message
            .contains("spec.dependsOn[0]: reference \"db\" must name its kind"),
        "{}",
        d.readiness.message
    );
    // The wrongly-kinded target still gets its reverse row, as in Backstage.
    assert_eq!(
        relations(&ix, "system:x/shop"),
        ["ownedBy group:x/g", "ownerOf component:x/c"]
    );
}

#[test]
fn group_parent_cycles_are_detected_and_cleared() {
    let mut ix = RelationIndex::default();
    let g = |name: &str, parent: Option<&str>| {
        entity(
            Kind::Group,
            "org",
            name,
            r().one("parent", parent).many("children", []),
        )
    };
    // a -> b -> c by parent, and c -> a because a lists c as its child.
    ix.upsert(
        &entity(
            Kind::Group,
            "org",
            "a",
            r().one("parent", Some("b")).many("children", ["c"]),
        ),
        None,
    );
    ix.upsert(&g("b", Some("c")), None);
    ix.upsert(&g("c", None), None);
    ix.upsert(&g("d", Some("a")), None);
    ix.take_dirty();
    for name in ["a", "b", "c"] {
        let d = desired(&ix, &format!("group:org/{name}"));
        assert_eq!(d.readiness.reason, ReadyReason::CycleDetected, "{name}");
        assert_eq!(
            d.cycle,
            [
                eref("group:org/a"),
                eref("group:org/b"),
                eref("group:org/c")
            ]
        );
        assert!(
            d.readiness
                .message
                .contains("group:org/a, group:org/b, group:org/c"),
            "{}",
            d.readiness.message
        );
    }
    assert!(
        desired(&ix, "group:org/a")
            .readiness
            .message
            .starts_with("spec.parent: ")
    );
    assert!(
        desired(&ix, "group:org/c")
            .readiness
            .message
            .starts_with("group:org/c is part of")
    );
    // d hangs off the cycle but is not on it.
    assert!(desired(&ix, "group:org/d").readiness.ready);
    assert!(desired(&ix, "group:org/d").cycle.is_empty());
    // Breaking the loop clears every member.
    ix.upsert(&g("b", None), None);
    let d = dirty(&mut ix);
    for name in ["a", "b", "c"] {
        assert!(d.contains(&format!("group:org/{name}")));
        assert!(
            desired(&ix, &format!("group:org/{name}")).readiness.ready,
            "{name}"
        );
    }
}

#[test]
fn self_loops_and_other_hierarchies() {
    let mut ix = RelationIndex::default();
    ix.upsert(
        &entity(
            Kind::Component,
            "x",
            "c",
            r().one("owner", Some("user:u"))
                .one("subcomponentOf", Some("c")),
        ),
        None,
    );
    ix.upsert(
        &entity(Kind::User, "x", "u", r().many("memberOf", [])),
        None,
    );
    ix.upsert(
        &entity(
            Kind::Domain,
            "x",
            "d1",
            r().one("owner", Some("user:u"))
                .one("subdomainOf", Some("d2")),
        ),
        None,
    );
    ix.upsert(
        &entity(
            Kind::Domain,
            "x",
            "d2",
            r().one("owner", Some("user:u"))
                .one("subdomainOf", Some("D1")),
        ),
        None,
    );
    ix.take_dirty();
    let c = desired(&ix, "component:x/c");
    assert_eq!(c.readiness.reason, ReadyReason::CycleDetected);
    assert_eq!(c.cycle, [eref("component:x/c")]);
    assert_eq!(
        desired(&ix, "domain:x/d1").readiness.reason,
        ReadyReason::CycleDetected
    );
    assert_eq!(
        desired(&ix, "domain:x/d2").readiness.reason,
        ReadyReason::CycleDetected
    );
    // A cycle through an entity that does not exist is no cycle.
    ix.remove(&eref("domain:x/d2"));
    ix.take_dirty();
    assert_eq!(
        desired(&ix, "domain:x/d1").readiness.reason,
        ReadyReason::UnresolvedReferences
    );
}

#[test]
fn relation_lists_are_capped_per_type_with_full_counts() {
    let mut ix = RelationIndex::new(2);
    let users = ["u1", "u2", "u3", "u4", "u5"];
    ix.upsert(
        &entity(
            Kind::Group,
            "o",
            "g",
            r().many("children", []).many("members", users),
        ),
        None,
    );
    for u in users {
        ix.upsert(
            &entity(Kind::User, "o", u, r().many("memberOf", ["g"])),
            None,
        );
    }
    ix.upsert(
        &entity(Kind::Component, "o", "c", r().one("owner", Some("g"))),
        None,
    );
    ix.take_dirty();
    let d = desired(&ix, "group:o/g");
    assert_eq!(
        relations(&ix, "group:o/g"),
        [
            "hasMember user:o/u1",
            "hasMember user:o/u2",
            "ownerOf component:o/c"
        ]
    );
    assert!(d.truncated);
    assert_eq!(
        d.counts,
        BTreeMap::from([(RelationType::HasMember, 5), (RelationType::OwnerOf, 1)])
    );
    assert!(!desired(&ix, "user:o/u1").truncated);
}

#[test]
fn invalid_specs_are_reported_and_hold_no_references() {
    let mut ix = RelationIndex::default();
    ix.upsert(&checkout("shop"), None);
    ix.upsert_invalid(
        eref("component:payments/checkout"),
        Kind::Component,
        Some(3),
        "spec.owner: missing field".into(),
    );
    ix.take_dirty();
    let d = desired(&ix, "component:payments/checkout");
    assert_eq!(
        d.readiness,
        Readiness {
            ready: false,
            reason: ReadyReason::InvalidSpec,
            message: "spec.owner: missing field".into()
        }
    );
    assert_eq!(d.spec_error.as_deref(), Some("spec.owner: missing field"));
    assert_eq!(d.generation, Some(3));
    assert!(d.relations.is_empty());
}

#[test]
fn members_stated_on_both_sides_yield_one_pair() {
    let mut ix = RelationIndex::default();
    ix.upsert(
        &entity(
            Kind::Group,
            "o",
            "g",
            r().many("children", []).many("members", ["jdoe"]),
        ),
        None,
    );
    ix.upsert(
        &entity(Kind::User, "o", "jdoe", r().many("memberOf", ["Group:O/G"])),
        None,
    );
    ix.take_dirty();
    assert_eq!(relations(&ix, "group:o/g"), ["hasMember user:o/jdoe"]);
    assert_eq!(relations(&ix, "user:o/jdoe"), ["memberOf group:o/g"]);
    // Dropping one side keeps the pair; dropping both removes it.
    ix.upsert(
        &entity(Kind::User, "o", "jdoe", r().many("memberOf", [])),
        None,
    );
    ix.take_dirty();
    assert_eq!(relations(&ix, "user:o/jdoe"), ["memberOf group:o/g"]);
    ix.upsert(
        &entity(Kind::Group, "o", "g", r().many("children", [])),
        None,
    );
    ix.take_dirty();
    assert!(relations(&ix, "user:o/jdoe").is_empty());
}

fn random_ref(rng: &mut Rng, kinded: bool) -> String {
    let kinds = [
        "component",
        "Component",
        "system",
        "api",
        "API",
        "resource",
        "domain",
        "group",
        "Group",
        "user",
        "template",
    ];
    let names = ["a", "b", "c", "D", ""];
    let namespaces = ["n1", "N2", ""];
    let mut s = String::new();
    if kinded || rng.below(2) == 0 {
        s.push_str(rng.pick(&kinds));
        s.push(':');
    }
    if rng.below(3) == 0 {
        s.push_str(rng.pick(&namespaces));
        s.push('/');
    }
    s.push_str(rng.pick(&names));
    if s.is_empty() { "a".into() } else { s }
}

fn random_entity(rng: &mut Rng) -> Entity {
    let kind = Kind::ALL[rng.below(7)];
    let ns = ["n1", "n2"][rng.below(2)];
    let name = ["a", "b", "c", "d"][rng.below(4)];
    let mut refs = Vec::new();
    for rule in crate::model::rules_for(kind) {
        let n = if rule.list {
            rng.below(3)
        } else {
            rng.below(2)
        };
        for i in 0..n {
            let kinded = rule.default_kind.is_none() && rng.below(4) != 0;
            refs.push(crate::model::RawRef {
                field: rule.field,
                index: rule.list.then_some(i),
                value: random_ref(rng, kinded),
            });
        }
    }
    Entity {
        kind,
        namespace: ns.into(),
        name: name.into(),
        refs,
    }
}

#[test]
fn incremental_index_matches_a_rebuild_and_the_batch_oracle() {
    for seed in 1..=120u64 {
        let mut rng = Rng(seed);
        let mut ix = RelationIndex::new(usize::MAX);
        let mut live: HashMap<EntityRef, Entity> = HashMap::new();
        let mut before: HashMap<EntityRef, Resolution> = HashMap::new();
        for step in 0..40 {
            let ops = 1 + rng.below(3);
            for _ in 0..ops {
                if rng.below(4) == 0 && !live.is_empty() {
                    let mut keys: Vec<_> = live.keys().cloned().collect();
                    keys.sort();
                    let k = keys[rng.below(keys.len())].clone();
                    ix.remove(&k);
                    live.remove(&k);
                } else {
                    let e = random_entity(&mut rng);
                    ix.upsert(&e, Some(1));
                    live.insert(e.entity_ref(), e);
                }
            }
            let dirty: std::collections::HashSet<EntityRef> = ix.take_dirty().into_iter().collect();

            let mut fresh = RelationIndex::new(usize::MAX);
            let mut all: Vec<&Entity> = live.values().collect();
            all.sort_by_key(|e| e.entity_ref());
            for e in &all {
                fresh.upsert(e, Some(1));
            }
            fresh.take_dirty();
            let batch = catalog_relations(&all.iter().map(|e| (*e).clone()).collect::<Vec<_>>());

            let mut after = HashMap::new();
            for k in live.keys() {
                let got = ix.resolve(k).unwrap();
                assert_eq!(
                    Some(&got),
                    fresh.resolve(k).as_ref(),
                    "seed {seed} step {step} {k}: incremental != rebuild"
                );
                let want: Vec<String> = batch[k]
                    .iter()
                    .map(|r| format!("{} {}", r.rtype, r.target))
                    .collect();
                let have: Vec<String> = got
                    .relations
                    .iter()
                    .map(|r| format!("{} {}", r.rtype, r.target))
                    .collect();
                assert_eq!(
                    have, want,
                    "seed {seed} step {step} {k}: relations != batch oracle"
                );
                if before.get(k) != Some(&got) {
                    assert!(
                        dirty.contains(k),
                        "seed {seed} step {step}: {k} changed but was not marked dirty"
                    );
                }
                after.insert(k.clone(), got);
            }
            before = after;
        }
    }
}
