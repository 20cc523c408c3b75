use std::collections::{BTreeMap, BTreeSet, HashMap};

use playbill_testkit::Rng;

use super::*;
use crate::consent::{CrossNamespaceRefs, Grant, GrantFrom, LabelSelector};
use crate::model::{RefCollector, catalog_relations_where};

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

fn random_grant(rng: &mut Rng) -> Grant {
    let namespaces = ["n1", "n2"];
    let from = match rng.below(3) {
        0 => GrantFrom {
            all: true,
            ..GrantFrom::default()
        },
        1 => GrantFrom {
            namespaces: [rng.pick(&namespaces).to_string()].into(),
            ..GrantFrom::default()
        },
        _ => GrantFrom {
            selector: Some(LabelSelector {
                match_labels: [("team".to_owned(), rng.pick(&["x", "y"]).to_string())].into(),
                match_expressions: Vec::new(),
            }),
            ..GrantFrom::default()
        },
    };
    let kinds = (0..rng.below(3)).map(|_| Kind::ALL[rng.below(7)]).collect();
    let relations = (0..rng.below(3))
        .map(|_| RelationType::ALL[rng.below(RelationType::ALL.len())])
        .collect();
    Grant {
        from,
        kinds,
        relations,
    }
}

fn random_labels(rng: &mut Rng) -> BTreeMap<String, String> {
    match rng.below(3) {
        0 => BTreeMap::new(),
        n => [("team".to_owned(), ["x", "y"][n - 1].to_owned())].into(),
    }
}

#[test]
fn incremental_index_matches_a_rebuild_and_the_batch_oracle() {
    for mode in [CrossNamespaceRefs::Allow, CrossNamespaceRefs::Consent] {
        for seed in 1..=120u64 {
            random_edits(mode, seed);
        }
    }
}

fn random_edits(mode: CrossNamespaceRefs, seed: u64) {
    let mut rng = Rng(seed);
    let mut ix = RelationIndex::with_mode(usize::MAX, mode);
    let mut live: HashMap<EntityRef, Entity> = HashMap::new();
    let mut grants: BTreeMap<(String, String), Grant> = BTreeMap::new();
    let mut labels: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut before: HashMap<EntityRef, Resolution> = HashMap::new();
    let namespaces = ["n1", "n2"];
    for step in 0..40 {
        let ops = 1 + rng.below(3);
        for _ in 0..ops {
            match rng.below(10) {
                0..=1 if !live.is_empty() => {
                    let mut keys: Vec<_> = live.keys().cloned().collect();
                    keys.sort();
                    let k = keys[rng.below(keys.len())].clone();
                    ix.remove(&k);
                    live.remove(&k);
                }
                2 => {
                    let ns = rng.pick(&namespaces).to_string();
                    let name = rng.pick(&["g1", "g2"]).to_string();
                    let g = random_grant(&mut rng);
                    ix.upsert_grant(&ns, &name, g.clone());
                    grants.insert((ns, name), g);
                }
                3 => {
                    let ns = rng.pick(&namespaces).to_string();
                    let name = rng.pick(&["g1", "g2"]).to_string();
                    ix.remove_grant(&ns, &name);
                    grants.remove(&(ns, name));
                }
                4 => {
                    let ns = rng.pick(&namespaces).to_string();
                    if rng.below(4) == 0 {
                        ix.remove_namespace(&ns);
                        labels.remove(&ns);
                        grants.retain(|(n, _), _| *n != ns);
                    } else {
                        let l = random_labels(&mut rng);
                        ix.upsert_namespace(&ns, l.clone());
                        labels.insert(ns, l);
                    }
                }
                _ => {
                    let e = random_entity(&mut rng);
                    ix.upsert(&e, Some(1));
                    live.insert(e.entity_ref(), e);
                }
            }
        }
        let dirty: std::collections::HashSet<EntityRef> = ix.take_dirty().into_iter().collect();

        // A rebuild from scratch, with entities first and consents last (the incremental
        // index got them interleaved).
        let mut fresh = RelationIndex::with_mode(usize::MAX, mode);
        let mut all: Vec<&Entity> = live.values().collect();
        all.sort_by_key(|e| e.entity_ref());
        for e in &all {
            fresh.upsert(e, Some(1));
        }
        for (ns, l) in &labels {
            fresh.upsert_namespace(ns, l.clone());
        }
        for ((ns, name), g) in &grants {
            fresh.upsert_grant(ns, name, g.clone());
        }
        fresh.take_dirty();
        let policy = fresh.consents().clone();
        assert_eq!(
            &policy,
            ix.consents(),
            "seed {seed} step {step}: consents differ"
        );
        let batch = catalog_relations_where(
            &all.iter().map(|e| (*e).clone()).collect::<Vec<_>>(),
            |e, rule, t| policy.permits(&e.namespace, rule.forward, t),
        );

        let mut after = HashMap::new();
        for k in live.keys() {
            let got = ix.resolve(k).unwrap();
            assert_eq!(
                Some(&got),
                fresh.resolve(k).as_ref(),
                "{mode:?} seed {seed} step {step} {k}: incremental != rebuild"
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
                "{mode:?} seed {seed} step {step} {k}: relations != batch oracle"
            );
            if before.get(k) != Some(&got) {
                assert!(
                    dirty.contains(k),
                    "{mode:?} seed {seed} step {step}: {k} changed but was not marked dirty"
                );
            }
            after.insert(k.clone(), got);
        }
        before = after;
    }
}

fn consent_index() -> RelationIndex {
    RelationIndex::with_mode(DEFAULT_MAX_RELATIONS_PER_TYPE, CrossNamespaceRefs::Consent)
}

fn group(ns: &str, name: &str) -> Entity {
    entity(Kind::Group, ns, name, r().many("children", []))
}

fn from_namespaces(namespaces: &[&str]) -> GrantFrom {
    GrantFrom {
        namespaces: namespaces.iter().map(|n| n.to_string()).collect(),
        ..GrantFrom::default()
    }
}

fn owners_grant(from: GrantFrom) -> Grant {
    Grant {
        from,
        kinds: [Kind::Group].into(),
        relations: [RelationType::OwnedBy].into(),
    }
}

/// `component:team-a/web` owned by `group:team-b/sre`: a reference from team-a into team-b.
fn web_owned_by_team_b() -> Entity {
    entity(
        Kind::Component,
        "team-a",
        "web",
        r().one("owner", Some("team-b/sre")),
    )
}

fn assert_not_permitted(ix: &RelationIndex) {
    let web = desired(ix, "component:team-a/web");
    assert_eq!(
        web.problems,
        [Problem {
            field: "spec.owner".into(),
            target: "group:team-b/sre".into(),
            reason: ProblemReason::RefNotPermitted,
            message: "group:team-b/sre is in namespace team-b, which does not permit ownedBy \
                      references from namespace team-a"
                .into(),
        }]
    );
    assert!(!web.readiness.ready);
    assert_eq!(web.readiness.reason, ReadyReason::UnresolvedReferences);
    assert!(relations(ix, "component:team-a/web").is_empty());
    assert!(relations(ix, "group:team-b/sre").is_empty());
    assert_eq!(
        desired(ix, "group:team-b/sre").count(RelationType::OwnerOf),
        0
    );
}

fn assert_permitted(ix: &RelationIndex) {
    let web = desired(ix, "component:team-a/web");
    assert!(web.readiness.ready, "{:?}", web.readiness);
    assert_eq!(
        relations(ix, "component:team-a/web"),
        ["ownedBy group:team-b/sre"]
    );
    assert_eq!(
        relations(ix, "group:team-b/sre"),
        ["ownerOf component:team-a/web"]
    );
}

fn marks_both_ends(ix: &mut RelationIndex) {
    assert_eq!(
        dirty(ix),
        ["component:team-a/web", "group:team-b/sre"],
        "a change of consent must mark the holder and the target"
    );
}

#[test]
fn consent_grant_after_the_claim_and_revoke() {
    let mut ix = consent_index();
    ix.upsert(&group("team-b", "sre"), None);
    ix.upsert(&web_owned_by_team_b(), None);
    ix.take_dirty();
    assert_not_permitted(&ix);

    assert!(ix.upsert_grant(
        "team-b",
        "owners",
        owners_grant(from_namespaces(&["team-a"]))
    ));
    marks_both_ends(&mut ix);
    assert_permitted(&ix);
    // The same grant again changes nothing and marks nothing.
    assert!(!ix.upsert_grant(
        "team-b",
        "owners",
        owners_grant(from_namespaces(&["team-a"]))
    ));
    assert!(ix.take_dirty().is_empty());

    assert!(ix.remove_grant("team-b", "owners"));
    marks_both_ends(&mut ix);
    assert_not_permitted(&ix);
}

#[test]
fn consent_claim_after_the_grant_and_grants_that_do_not_cover_it() {
    let mut ix = consent_index();
    ix.upsert(&group("team-b", "sre"), None);
    // Grants for another namespace, another relation, another kind: none covers the claim.
    ix.upsert_grant("team-b", "c", owners_grant(from_namespaces(&["team-c"])));
    ix.upsert_grant(
        "team-b",
        "members",
        Grant {
            from: from_namespaces(&["team-a"]),
            kinds: [Kind::Group].into(),
            relations: [RelationType::MemberOf].into(),
        },
    );
    ix.upsert_grant(
        "team-b",
        "systems",
        Grant {
            from: from_namespaces(&["team-a"]),
            kinds: [Kind::System].into(),
            relations: BTreeSet::new(),
        },
    );
    // A grant in the holder's own namespace does not count for the target's.
    ix.upsert_grant(
        "team-a",
        "all",
        owners_grant(GrantFrom {
            all: true,
            ..GrantFrom::default()
        }),
    );
    ix.upsert(&web_owned_by_team_b(), None);
    ix.take_dirty();
    assert_not_permitted(&ix);
    ix.upsert_grant(
        "team-b",
        "everyone",
        owners_grant(GrantFrom {
            all: true,
            ..GrantFrom::default()
        }),
    );
    marks_both_ends(&mut ix);
    assert_permitted(&ix);
}

#[test]
fn consent_is_needed_in_either_direction() {
    // A Group in team-b listing a User of team-a is a reference from team-b into team-a: team-a
    // must consent, whatever team-b grants.
    let mut ix = consent_index();
    ix.upsert(
        &entity(
            Kind::Group,
            "team-b",
            "sre",
            r().many("children", [])
                .many("members", ["user:team-a/jdoe"]),
        ),
        None,
    );
    ix.upsert(
        &entity(Kind::User, "team-a", "jdoe", r().many("memberOf", [])),
        None,
    );
    ix.upsert_grant(
        "team-b",
        "all",
        Grant {
            from: GrantFrom {
                all: true,
                ..GrantFrom::default()
            },
            ..Grant::default()
        },
    );
    ix.take_dirty();
    assert!(relations(&ix, "user:team-a/jdoe").is_empty());
    assert!(relations(&ix, "group:team-b/sre").is_empty());
    assert_eq!(
        desired(&ix, "group:team-b/sre").problems[0].reason,
        ProblemReason::RefNotPermitted
    );
    ix.upsert_grant(
        "team-a",
        "members",
        Grant {
            from: from_namespaces(&["team-b"]),
            kinds: [Kind::User].into(),
            relations: [RelationType::HasMember].into(),
        },
    );
    ix.take_dirty();
    assert_eq!(
        relations(&ix, "user:team-a/jdoe"),
        ["memberOf group:team-b/sre"]
    );
    assert_eq!(
        relations(&ix, "group:team-b/sre"),
        ["hasMember user:team-a/jdoe"]
    );
    assert!(desired(&ix, "group:team-b/sre").readiness.ready);
}

#[test]
fn consent_by_namespace_selector_starts_and_stops_matching() {
    let mut ix = consent_index();
    ix.upsert(&group("team-b", "sre"), None);
    ix.upsert(&web_owned_by_team_b(), None);
    ix.upsert_namespace("team-a", BTreeMap::new());
    ix.upsert_grant(
        "team-b",
        "tenants",
        owners_grant(GrantFrom {
            selector: Some(LabelSelector {
                match_labels: [("tenant".to_owned(), "acme".to_owned())].into(),
                match_expressions: Vec::new(),
            }),
            ..GrantFrom::default()
        }),
    );
    ix.take_dirty();
    assert_not_permitted(&ix);
    let acme: BTreeMap<String, String> = [("tenant".to_owned(), "acme".to_owned())].into();
    assert!(ix.upsert_namespace("team-a", acme.clone()));
    marks_both_ends(&mut ix);
    assert_permitted(&ix);
    assert!(!ix.upsert_namespace("team-a", acme));
    assert!(ix.take_dirty().is_empty());
    ix.upsert_namespace("team-a", [("tenant".to_owned(), "other".to_owned())].into());
    marks_both_ends(&mut ix);
    assert_not_permitted(&ix);
}

#[test]
fn consent_grants_go_with_their_namespace() {
    let mut ix = consent_index();
    ix.upsert(&group("team-b", "sre"), None);
    ix.upsert(&web_owned_by_team_b(), None);
    ix.upsert_namespace("team-b", BTreeMap::new());
    ix.upsert_grant(
        "team-b",
        "owners",
        owners_grant(from_namespaces(&["team-a"])),
    );
    ix.take_dirty();
    assert_permitted(&ix);
    assert!(ix.remove_namespace("team-b"));
    marks_both_ends(&mut ix);
    assert_not_permitted(&ix);
    assert_eq!(ix.consents().grants_in("team-b").count(), 0);
    // The namespace coming back does not bring its grants back.
    ix.upsert_namespace("team-b", BTreeMap::new());
    ix.take_dirty();
    assert_not_permitted(&ix);
}

#[test]
fn consent_decides_whether_a_cycle_across_namespaces_exists() {
    let parent = |ns: &str, name: &str, p: &str| {
        entity(
            Kind::Group,
            ns,
            name,
            r().one("parent", Some(p)).many("children", []),
        )
    };
    let parents = |from: &str| Grant {
        from: from_namespaces(&[from]),
        kinds: [Kind::Group].into(),
        relations: [RelationType::ChildOf].into(),
    };
    for mode in [CrossNamespaceRefs::Allow, CrossNamespaceRefs::Consent] {
        let mut ix = RelationIndex::with_mode(DEFAULT_MAX_RELATIONS_PER_TYPE, mode);
        ix.upsert(&parent("a", "x", "b/y"), None);
        ix.upsert(&parent("b", "y", "a/x"), None);
        ix.take_dirty();
        let reason = |ix: &RelationIndex, s| desired(ix, s).readiness.reason;
        if mode == CrossNamespaceRefs::Allow {
            assert_eq!(reason(&ix, "group:a/x"), ReadyReason::CycleDetected);
            continue;
        }
        // No consent: neither edge counts, so there is no loop, only two refused references.
        assert!(desired(&ix, "group:a/x").cycle.is_empty());
        assert_eq!(reason(&ix, "group:a/x"), ReadyReason::UnresolvedReferences);
        // One side consents: one edge, still no loop.
        ix.upsert_grant("b", "parents", parents("a"));
        ix.take_dirty();
        assert!(desired(&ix, "group:a/x").cycle.is_empty());
        assert!(desired(&ix, "group:a/x").readiness.ready);
        assert_eq!(relations(&ix, "group:b/y"), ["parentOf group:a/x"]);
        // Both consent: the loop closes, and every member is told.
        ix.upsert_grant("a", "parents", parents("b"));
        let d = dirty(&mut ix);
        assert!(d.contains(&"group:a/x".to_string()) && d.contains(&"group:b/y".to_string()));
        assert_eq!(reason(&ix, "group:a/x"), ReadyReason::CycleDetected);
        assert_eq!(reason(&ix, "group:b/y"), ReadyReason::CycleDetected);
        assert_eq!(
            desired(&ix, "group:b/y").cycle,
            [eref("group:a/x"), eref("group:b/y")]
        );
        // Revoked: the loop opens again.
        ix.remove_grant("b", "parents");
        let d = dirty(&mut ix);
        assert!(d.contains(&"group:a/x".to_string()) && d.contains(&"group:b/y".to_string()));
        assert!(desired(&ix, "group:b/y").cycle.is_empty());
        assert!(desired(&ix, "group:b/y").readiness.ready);
        assert_eq!(reason(&ix, "group:a/x"), ReadyReason::UnresolvedReferences);
    }
}

#[test]
fn consent_keeps_a_flood_from_another_namespace_out_of_the_listed_relations() {
    let mut ix = RelationIndex::with_mode(3, CrossNamespaceRefs::Consent);
    ix.upsert(
        &entity(
            Kind::System,
            "team-b",
            "payments",
            r().one("owner", Some("sre")),
        ),
        None,
    );
    for i in 0..50 {
        ix.upsert(
            &entity(
                Kind::Component,
                "team-a",
                &format!("a{i:02}"),
                r().one("owner", Some("x"))
                    .one("system", Some("team-b/payments")),
            ),
            None,
        );
    }
    for name in ["ledger", "refunds"] {
        ix.upsert(
            &entity(
                Kind::Component,
                "team-b",
                name,
                r().one("owner", Some("sre"))
                    .one("system", Some("payments")),
            ),
            None,
        );
    }
    ix.take_dirty();
    let s = desired(&ix, "system:team-b/payments");
    assert_eq!(
        relations(&ix, "system:team-b/payments"),
        [
            "hasPart component:team-b/ledger",
            "hasPart component:team-b/refunds",
            "ownedBy group:team-b/sre"
        ]
    );
    assert_eq!(s.count(RelationType::HasPart), 2);
    assert!(!s.truncated);
    assert_eq!(
        desired(&ix, "component:team-a/a07").problems[1].reason,
        ProblemReason::RefNotPermitted
    );
}

#[test]
fn allow_mode_ignores_grants() {
    let mut ix = RelationIndex::new(DEFAULT_MAX_RELATIONS_PER_TYPE);
    ix.upsert(&group("team-b", "sre"), None);
    ix.upsert(&web_owned_by_team_b(), None);
    ix.take_dirty();
    assert_permitted(&ix);
    ix.upsert_grant(
        "team-b",
        "owners",
        owners_grant(from_namespaces(&["team-c"])),
    );
    assert!(ix.take_dirty().is_empty());
    ix.remove_namespace("team-b");
    assert!(ix.take_dirty().is_empty());
    assert_permitted(&ix);
}
