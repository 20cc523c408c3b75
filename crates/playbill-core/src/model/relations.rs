//! The relations of a whole catalog, computed in one pass (docs/reference.md#how-relations-are-computed).
//!
//! This is the plain statement of the rules; the operator's incremental index must always agree
//! with it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::entity::Entity;
use super::kind::RelationType;
use super::reference::EntityRef;
use super::rules::RefRule;

/// One relation as it appears in status: a type and a canonical target reference.
///
/// Ordered by type name, then by the target's canonical string, as status lists them.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Relation {
    pub rtype: RelationType,
    pub target: String,
}

impl fmt::Display for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.rtype, self.target)
    }
}

/// The relations of every entity in `entities`: all rows whose source is that entity, its own
/// forward rows and the reverse rows of references pointing at it, deduplicated and sorted.
///
/// Rows whose source is not in the catalog belong to nobody and are dropped; they appear as soon
/// as that entity is created.
pub fn catalog_relations(entities: &[Entity]) -> BTreeMap<EntityRef, BTreeSet<Relation>> {
    catalog_relations_where(entities, |_, _, _| true)
}

/// [`catalog_relations`] counting only the references `counts` accepts, given the entity that
/// holds each, the rule of its field and its target: the relations under a
/// [`Consents`](crate::consent::Consents) policy are
/// `catalog_relations_where(entities, |e, rule, t| consents.permits(&e.namespace, rule.forward, t))`.
pub fn catalog_relations_where(
    entities: &[Entity],
    counts: impl Fn(&Entity, &RefRule, &EntityRef) -> bool,
) -> BTreeMap<EntityRef, BTreeSet<Relation>> {
    let mut out: BTreeMap<EntityRef, BTreeSet<Relation>> = entities
        .iter()
        .map(|e| (e.entity_ref(), BTreeSet::new()))
        .collect();
    for entity in entities {
        for (source, rtype, target) in entity.relation_rows_where(|rule, t| counts(entity, rule, t))
        {
            if let Some(set) = out.get_mut(&source) {
                set.insert(Relation {
                    rtype,
                    target: target.to_string(),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::entity::{RawRef, RefCollector};
    use crate::model::kind::Kind;

    fn entity(kind: Kind, ns: &str, name: &str, refs: Vec<RawRef>) -> Entity {
        Entity {
            kind,
            namespace: ns.into(),
            name: name.into(),
            refs,
        }
    }

    fn refs() -> RefCollector {
        RefCollector::default()
    }

    fn rels(map: &BTreeMap<EntityRef, BTreeSet<Relation>>, of: &str) -> Vec<String> {
        let (_, set) = map
            .iter()
            .find(|(k, _)| k.to_string() == of)
            .unwrap_or_else(|| panic!("{of} not in catalog"));
        set.iter().map(|r| r.to_string()).collect()
    }

    #[test]
    fn forward_and_reverse_rows_with_dangling_targets() {
        let catalog = vec![
            entity(
                Kind::Component,
                "payments",
                "checkout",
                refs()
                    .one("owner", Some("team-a"))
                    .one("system", Some("shop"))
                    .many("dependsOn", ["resource:db", "Component:Default/Auth"])
                    .finish(),
            ),
            entity(Kind::Group, "payments", "team-a", refs().finish()),
            entity(Kind::Resource, "payments", "db", refs().finish()),
        ];
        let map = catalog_relations(&catalog);
        assert_eq!(
            rels(&map, "component:payments/checkout"),
            [
                "dependsOn component:default/auth",
                "dependsOn resource:payments/db",
                "ownedBy group:payments/team-a",
                "partOf system:payments/shop",
            ]
        );
        assert_eq!(
            rels(&map, "group:payments/team-a"),
            ["ownerOf component:payments/checkout"]
        );
        assert_eq!(
            rels(&map, "resource:payments/db"),
            ["dependencyOf component:payments/checkout"]
        );
        // The system does not exist: its rows belong to nobody yet.
        assert_eq!(map.len(), 3);
    }

    #[test]
    fn reverse_rows_appear_when_the_target_is_created() {
        let mut catalog = vec![entity(
            Kind::Component,
            "a",
            "c",
            refs().one("system", Some("s")).finish(),
        )];
        assert!(
            !catalog_relations(&catalog)
                .keys()
                .any(|k| k.kind == "system")
        );
        catalog.push(entity(Kind::System, "a", "s", refs().finish()));
        assert_eq!(
            rels(&catalog_relations(&catalog), "system:a/s"),
            ["hasPart component:a/c"]
        );
    }

    #[test]
    fn a_fact_stated_on_both_sides_yields_one_pair() {
        let catalog = vec![
            entity(
                Kind::Group,
                "org",
                "a",
                refs().many("children", ["b"]).finish(),
            ),
            entity(
                Kind::Group,
                "org",
                "b",
                refs().one("parent", Some("Group:org/A")).finish(),
            ),
            entity(
                Kind::User,
                "org",
                "u",
                refs().many("memberOf", ["a"]).finish(),
            ),
            entity(
                Kind::Group,
                "org",
                "c",
                refs().many("members", ["u", "user:u"]).finish(),
            ),
        ];
        let map = catalog_relations(&catalog);
        assert_eq!(
            rels(&map, "group:org/a"),
            ["hasMember user:org/u", "parentOf group:org/b"]
        );
        assert_eq!(rels(&map, "group:org/b"), ["childOf group:org/a"]);
        assert_eq!(
            rels(&map, "user:org/u"),
            ["memberOf group:org/a", "memberOf group:org/c"]
        );
        assert_eq!(rels(&map, "group:org/c"), ["hasMember user:org/u"]);
    }

    #[test]
    fn dependency_of_is_the_mirror_of_depends_on() {
        let catalog = vec![
            entity(
                Kind::Component,
                "x",
                "web",
                refs().many("dependencyOf", ["component:app"]).finish(),
            ),
            entity(
                Kind::Component,
                "x",
                "app",
                refs().many("dependsOn", ["component:web"]).finish(),
            ),
        ];
        let map = catalog_relations(&catalog);
        assert_eq!(
            rels(&map, "component:x/web"),
            ["dependencyOf component:x/app"]
        );
        assert_eq!(rels(&map, "component:x/app"), ["dependsOn component:x/web"]);
    }

    #[test]
    fn unparseable_and_unkinded_refs_produce_no_rows() {
        let catalog = vec![entity(
            Kind::Component,
            "x",
            "c",
            refs()
                .one("owner", Some("a:"))
                .many("dependsOn", ["db", "resource:db"])
                .finish(),
        )];
        assert_eq!(
            rels(&catalog_relations(&catalog), "component:x/c"),
            ["dependsOn resource:x/db"]
        );
    }

    #[test]
    fn wrong_kind_still_produces_rows_like_backstage() {
        let catalog = vec![
            entity(
                Kind::Api,
                "x",
                "orders",
                refs().one("owner", Some("system:shop")).finish(),
            ),
            entity(Kind::System, "x", "shop", refs().finish()),
        ];
        let map = catalog_relations(&catalog);
        assert_eq!(rels(&map, "api:x/orders"), ["ownedBy system:x/shop"]);
        assert_eq!(rels(&map, "system:x/shop"), ["ownerOf api:x/orders"]);
    }

    #[test]
    fn fields_a_kind_does_not_have_are_ignored() {
        let catalog = vec![entity(
            Kind::User,
            "x",
            "u",
            refs().one("owner", Some("g")).finish(),
        )];
        assert!(rels(&catalog_relations(&catalog), "user:x/u").is_empty());
    }

    #[test]
    fn sorted_by_type_then_by_target_string() {
        // "a-:x/y" sorts before "a:x/y" as a string, though "a" < "a-" as a kind.
        let catalog = vec![entity(
            Kind::Component,
            "n",
            "c",
            refs()
                .many(
                    "dependsOn",
                    ["a:x/y", "a-:x/y", "resource:b", "component:b"],
                )
                .many("consumesApis", ["z", "Y"])
                .one("owner", Some("user:me"))
                .finish(),
        )];
        assert_eq!(
            rels(&catalog_relations(&catalog), "component:n/c"),
            [
                "consumesApi api:n/y",
                "consumesApi api:n/z",
                "dependsOn a-:x/y",
                "dependsOn a:x/y",
                "dependsOn component:n/b",
                "dependsOn resource:n/b",
                "ownedBy user:n/me",
            ]
        );
    }

    #[test]
    fn self_references_and_cross_namespace_targets() {
        let catalog = vec![
            entity(
                Kind::Component,
                "a",
                "c",
                refs().one("subcomponentOf", Some("c")).finish(),
            ),
            entity(
                Kind::System,
                "b",
                "s",
                refs().one("domain", Some("Domain:A/d")).finish(),
            ),
            entity(Kind::Domain, "a", "d", refs().finish()),
        ];
        let map = catalog_relations(&catalog);
        assert_eq!(
            rels(&map, "component:a/c"),
            ["hasPart component:a/c", "partOf component:a/c"]
        );
        assert_eq!(rels(&map, "domain:a/d"), ["hasPart system:b/s"]);
    }
}
