//! The relation graph as plain data: one node per entity and per target an entity names, one edge
//! per relation pair. Built from catalog objects without I/O, so every rule here is unit-tested.

use crate::consent::Consents;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::catalog::{CatalogObject, ReadyState};
use crate::model::{EntityRef, RULES, RelationType};

/// What a node stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeState {
    /// An entity in the catalog, with the Ready condition its status carries.
    Entity(ReadyState),
    /// A reference that parses but names no entity: a dangling reference. Backstage still lists
    /// the relation, so the graph still draws it, to a node that says it is missing.
    Missing,
    /// A target in a namespace that was not read (RBAC allowed only some namespaces), so whether
    /// it exists is unknown. Calling it missing would be a lie.
    NotRead,
}

/// One node of the graph.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// The kind as Playbill spells it (`API`), or as the reference wrote it (lowercased) when it
    /// names no kind Playbill knows.
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub state: NodeState,
}

/// One relation pair, drawn once, in the direction of [`drawn`].
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Edge {
    pub from: EntityRef,
    pub relation: RelationType,
    pub to: EntityRef,
}

/// Which namespaces the catalog was read from. A target outside them may exist unseen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    All,
    Namespaces(BTreeSet<String>),
}

impl Scope {
    fn covers(&self, namespace: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Namespaces(set) => set.iter().any(|n| n.eq_ignore_ascii_case(namespace)),
        }
    }
}

/// The relation graph: nodes keyed by canonical reference, edges sorted, so rendering it is
/// deterministic and the output can be committed and diffed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Graph {
    pub nodes: BTreeMap<EntityRef, Node>,
    pub edges: BTreeSet<Edge>,
}

/// The relation of each pair that the graph draws. Each reads downwards in a layered layout:
/// owners above what they own, wholes above their parts, parents above children, groups above
/// their members, dependents above their dependencies, components above the APIs they provide
/// or consume. One fixed side per pair is what makes a fact stated from either end (or both)
/// come out as the same single edge.
pub const DRAWN: [RelationType; 7] = [
    RelationType::OwnerOf,
    RelationType::HasPart,
    RelationType::ParentOf,
    RelationType::HasMember,
    RelationType::DependsOn,
    RelationType::ProvidesApi,
    RelationType::ConsumesApi,
];

/// The other relation of `relation`'s pair (`ownedBy` for `ownerOf`), from the rule table, so
/// the pairs cannot drift from the relations the operator computes.
pub fn inverse(relation: RelationType) -> Option<RelationType> {
    RULES.iter().find_map(|r| {
        if r.forward == relation {
            Some(r.reverse)
        } else if r.reverse == relation {
            Some(r.forward)
        } else {
            None
        }
    })
}

/// The edge that stands for the relation row `source relation target`: the row itself when
/// `relation` is the drawn side of its pair, else the reverse row.
pub fn drawn(source: EntityRef, relation: RelationType, target: EntityRef) -> Edge {
    match inverse(relation) {
        Some(other) if !DRAWN.contains(&relation) => Edge {
            from: target,
            relation: other,
            to: source,
        },
        _ => Edge {
            from: source,
            relation,
            to: target,
        },
    }
}

impl Graph {
    /// The graph of every object in `objects`, read from `scope`. Each reference that parses
    /// adds an edge; a target that is not an object becomes a [`NodeState::Missing`] node (or
    /// [`NodeState::NotRead`] outside `scope`). References that do not parse name nothing, so
    /// they draw nothing; the holder's Ready=False already says what is wrong.
    pub fn of_catalog(objects: &[CatalogObject], scope: &Scope) -> Graph {
        Graph::of_catalog_with(objects, scope, &Consents::default())
    }

    /// [`of_catalog`](Self::of_catalog) drawing only the references `consents` permits.
    pub fn of_catalog_with(objects: &[CatalogObject], scope: &Scope, consents: &Consents) -> Graph {
        let mut graph = Graph::default();
        for obj in objects {
            graph.nodes.insert(
                obj.entity_ref(),
                Node {
                    kind: obj.kind.name().to_owned(),
                    namespace: obj.namespace.clone(),
                    name: obj.name.clone(),
                    state: NodeState::Entity(obj.ready()),
                },
            );
        }
        let mut targets = Vec::new();
        for obj in objects {
            let Ok(entity) = &obj.entity else { continue };
            let me = entity.entity_ref();
            for parsed in entity.parsed_refs() {
                let Ok(target) = parsed.target else { continue };
                if !consents.permits(&me.namespace, parsed.rule.forward, &target) {
                    continue;
                }
                targets.push(target.clone());
                graph
                    .edges
                    .insert(drawn(me.clone(), parsed.rule.forward, target));
            }
        }
        for target in targets {
            if graph.nodes.contains_key(&target) {
                continue;
            }
            let known = target.known_kind();
            let state = match known {
                Some(_) if !scope.covers(&target.namespace) => NodeState::NotRead,
                _ => NodeState::Missing,
            };
            let node = Node {
                kind: known.map_or_else(|| target.kind.clone(), |k| k.name().to_owned()),
                namespace: target.namespace.clone(),
                name: target.name.clone(),
                state,
            };
            graph.nodes.insert(target, node);
        }
        graph
    }

    /// The entities that hold a reference to `target` (for telling a user who asked about a
    /// missing entity where it is named).
    pub fn referrers(&self, target: &EntityRef) -> Vec<&EntityRef> {
        let mut out: Vec<&EntityRef> = self
            .edges
            .iter()
            .filter_map(|e| {
                if &e.to == target {
                    Some(&e.from)
                } else if &e.from == target {
                    Some(&e.to)
                } else {
                    None
                }
            })
            .filter(|r| r != &target)
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// The part of the graph within `depth` hops of `center`, following edges either way, with
    /// every edge between the nodes it keeps (so two neighbours that relate to each other show
    /// it). Empty when `center` is not a node.
    pub fn around(&self, center: &EntityRef, depth: usize) -> Graph {
        if !self.nodes.contains_key(center) {
            return Graph::default();
        }
        let mut adjacent: BTreeMap<&EntityRef, Vec<&EntityRef>> = BTreeMap::new();
        for e in &self.edges {
            adjacent.entry(&e.from).or_default().push(&e.to);
            adjacent.entry(&e.to).or_default().push(&e.from);
        }
        let mut seen: BTreeSet<&EntityRef> = BTreeSet::from([center]);
        let mut queue = VecDeque::from([(center, 0)]);
        while let Some((at, distance)) = queue.pop_front() {
            if distance == depth {
                continue;
            }
            for next in adjacent.get(at).into_iter().flatten() {
                if seen.insert(next) {
                    queue.push_back((next, distance + 1));
                }
            }
        }
        self.keep(
            |r| seen.contains(r),
            |e| seen.contains(&e.from) && seen.contains(&e.to),
        )
    }

    /// The nodes in `namespace`, every edge that touches one of them, and the far ends of those
    /// edges, so a namespace's picture still shows who owns its entities and what they use
    /// elsewhere.
    pub fn touching_namespace(&self, namespace: &str) -> Graph {
        let inside = |r: &EntityRef| r.namespace.eq_ignore_ascii_case(namespace);
        let edges: BTreeSet<&Edge> = self
            .edges
            .iter()
            .filter(|e| inside(&e.from) || inside(&e.to))
            .collect();
        let ends: BTreeSet<&EntityRef> = edges.iter().flat_map(|e| [&e.from, &e.to]).collect();
        self.keep(|r| inside(r) || ends.contains(r), |e| edges.contains(e))
    }

    fn keep(&self, node: impl Fn(&EntityRef) -> bool, edge: impl Fn(&Edge) -> bool) -> Graph {
        Graph {
            nodes: self
                .nodes
                .iter()
                .filter(|(r, _)| node(r))
                .map(|(r, n)| (r.clone(), n.clone()))
                .collect(),
            edges: self.edges.iter().filter(|e| edge(e)).cloned().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    /// Reads manifests the way `playbill graph -f` does, with statuses resolved offline.
    fn catalog(yaml: &str) -> Vec<CatalogObject> {
        crate::catalog::from_manifests(
            &[("test.yaml".into(), yaml.into())],
            "ns",
            1000,
            &Time(Default::default()),
        )
        .unwrap()
    }

    fn r(s: &str) -> EntityRef {
        crate::model::parse_ref(s, None, "ns").unwrap()
    }

    fn edges(g: &Graph) -> Vec<String> {
        g.edges
            .iter()
            .map(|e| format!("{} {} {}", e.from, e.relation, e.to))
            .collect()
    }

    fn state(g: &Graph, of: &str) -> NodeState {
        g.nodes[&r(of)].state
    }

    const HEAD: &str = "apiVersion: catalog.playbill.dev/v1alpha1\n";

    fn doc(kind: &str, name: &str, spec: &str) -> String {
        format!("---\n{HEAD}kind: {kind}\nmetadata: {{name: {name}}}\nspec: {spec}\n")
    }

    #[test]
    fn every_relation_has_an_inverse_and_each_pair_is_drawn_from_one_side() {
        for t in RelationType::ALL {
            let other = inverse(t).unwrap_or_else(|| panic!("{t} has no inverse"));
            assert_eq!(inverse(other), Some(t), "{t}");
            assert_ne!(other, t);
            // Exactly one side of each pair is drawn.
            assert!(DRAWN.contains(&t) != DRAWN.contains(&other), "{t}/{other}");
        }
    }

    #[test]
    fn a_relation_and_its_reverse_are_one_edge() {
        let a = r("group:ns/a");
        let c = r("component:ns/c");
        let forward = drawn(c.clone(), RelationType::OwnedBy, a.clone());
        let reverse = drawn(a.clone(), RelationType::OwnerOf, c.clone());
        assert_eq!(forward, reverse);
        assert_eq!(
            (forward.from, forward.relation, forward.to),
            (a, RelationType::OwnerOf, c)
        );
    }

    #[test]
    fn pairs_collapse_and_both_sides_facts_are_one_edge() {
        let yaml = [
            doc("Group", "a", "{type: team, children: [b]}"),
            doc("Group", "b", "{type: team, parent: a, children: []}"),
            doc("Group", "c", "{type: team, parent: A, children: [], members: [u]}"),
            doc("User", "u", "{memberOf: [c, group:ns/B]}"),
            doc(
                "Component",
                "x",
                "{type: service, lifecycle: production, owner: c, dependsOn: ['component:y'], providesApis: [api1]}",
            ),
            doc(
                "Component",
                "y",
                "{type: service, lifecycle: production, owner: user:u, dependencyOf: ['Component:X'], consumesApis: [api1]}",
            ),
            doc(
                "API",
                "api1",
                "{type: openapi, lifecycle: production, owner: c, definition: x}",
            ),
        ]
        .concat();
        let g = Graph::of_catalog(&catalog(&yaml), &Scope::All);
        assert_eq!(
            edges(&g),
            [
                "component:ns/x dependsOn component:ns/y",
                "component:ns/x providesApi api:ns/api1",
                "component:ns/y consumesApi api:ns/api1",
                "group:ns/a parentOf group:ns/b",
                "group:ns/a parentOf group:ns/c",
                "group:ns/b hasMember user:ns/u",
                "group:ns/c hasMember user:ns/u",
                "group:ns/c ownerOf api:ns/api1",
                "group:ns/c ownerOf component:ns/x",
                "user:ns/u ownerOf component:ns/y",
            ]
        );
        assert_eq!(g.nodes.len(), 7);
        assert!(
            g.nodes
                .values()
                .all(|n| n.state == NodeState::Entity(ReadyState::True))
        );
    }

    #[test]
    fn dangling_targets_are_missing_nodes_and_unparseable_refs_draw_nothing() {
        let yaml = [
            doc(
                "Component",
                "c",
                "{type: service, lifecycle: production, owner: ghost, system: other/Shop, subcomponentOf: 'template:x:y'}",
            ),
            // Not valid under the CRD, but objects stored before validation still arrive.
            doc("User", "u", "{memberOf: ['a:', 'g']}"),
            doc("Group", "g", "{type: team, children: []}"),
        ]
        .concat();
        let g = Graph::of_catalog(&catalog(&yaml), &Scope::All);
        assert_eq!(
            edges(&g),
            [
                "group:ns/g hasMember user:ns/u",
                "group:ns/ghost ownerOf component:ns/c",
                "system:other/shop hasPart component:ns/c",
                "template:ns/x:y hasPart component:ns/c",
            ]
        );
        assert_eq!(state(&g, "group:ns/ghost"), NodeState::Missing);
        assert_eq!(state(&g, "system:other/shop"), NodeState::Missing);
        let template = &g.nodes[&r("template:ns/x:y")];
        assert_eq!(
            (template.kind.as_str(), template.name.as_str()),
            ("template", "x:y")
        );
        assert_eq!(template.state, NodeState::Missing);
        // Holders of bad references are not Ready; the unparseable `a:` is nowhere.
        assert_eq!(
            state(&g, "component:ns/c"),
            NodeState::Entity(ReadyState::False)
        );
        assert_eq!(state(&g, "user:ns/u"), NodeState::Entity(ReadyState::False));
        assert_eq!(g.nodes.len(), 6);
        assert_eq!(g.referrers(&r("group:ns/ghost")), [&r("component:ns/c")]);
    }

    #[test]
    fn targets_outside_the_namespaces_read_are_not_called_missing() {
        let yaml = doc(
            "Component",
            "c",
            "{type: service, lifecycle: production, owner: org/team, system: shop, dependsOn: ['unknownkind:org/z']}",
        );
        let scope = Scope::Namespaces(BTreeSet::from(["ns".to_owned()]));
        let g = Graph::of_catalog(&catalog(&yaml), &scope);
        assert_eq!(state(&g, "group:org/team"), NodeState::NotRead);
        assert_eq!(state(&g, "system:ns/shop"), NodeState::Missing);
        // No namespace holds a kind Playbill does not know.
        assert_eq!(state(&g, "unknownkind:org/z"), NodeState::Missing);
    }

    #[test]
    fn ready_state_comes_from_the_status_and_no_status_is_unknown() {
        let mut objects = catalog(&doc("Group", "g", "{type: team, children: []}"));
        objects.extend(CatalogObject::from_value(
            serde_json::json!({
                "apiVersion": "catalog.playbill.dev/v1alpha1", "kind": "Group",
                "metadata": {"name": "fresh", "namespace": "ns"},
                "spec": {"type": "team", "children": []},
            }),
            "ns",
        ));
        let g = Graph::of_catalog(&objects, &Scope::All);
        assert_eq!(state(&g, "group:ns/g"), NodeState::Entity(ReadyState::True));
        assert_eq!(
            state(&g, "group:ns/fresh"),
            NodeState::Entity(ReadyState::Unknown)
        );
    }

    /// A chain a - b - c - d of Groups (parent links), plus e, a member of b, and an island f.
    fn chain() -> Graph {
        let yaml = [
            doc("Group", "a", "{type: t, children: []}"),
            doc(
                "Group",
                "b",
                "{type: t, parent: a, children: [], members: [e]}",
            ),
            doc("Group", "c", "{type: t, parent: b, children: []}"),
            doc("Group", "d", "{type: t, parent: c, children: []}"),
            doc("User", "e", "{memberOf: [c]}"),
            doc("Group", "f", "{type: t, children: []}"),
        ]
        .concat();
        Graph::of_catalog(&catalog(&yaml), &Scope::All)
    }

    fn names(g: &Graph) -> Vec<&str> {
        g.nodes.values().map(|n| n.name.as_str()).collect()
    }

    #[test]
    fn depth_follows_edges_both_ways_and_keeps_edges_between_kept_nodes() {
        let g = chain();
        let c = r("group:ns/c");
        assert_eq!(names(&g.around(&c, 0)), ["c"]);
        assert!(g.around(&c, 0).edges.is_empty());
        // Upwards to b (its parent), downwards to d, and to e (a member of c).
        let one = g.around(&c, 1);
        assert_eq!(names(&one), ["b", "c", "d", "e"]);
        // e is also a member of b: that edge is between kept nodes, so it is drawn.
        assert_eq!(
            edges(&one),
            [
                "group:ns/b hasMember user:ns/e",
                "group:ns/b parentOf group:ns/c",
                "group:ns/c hasMember user:ns/e",
                "group:ns/c parentOf group:ns/d",
            ]
        );
        assert_eq!(names(&g.around(&c, 2)), ["a", "b", "c", "d", "e"]);
        assert_eq!(g.around(&c, 99), g.around(&c, 2));
        assert_eq!(names(&g.around(&r("group:ns/f"), 3)), ["f"]);
        assert_eq!(g.around(&r("group:ns/nope"), 1), Graph::default());
    }

    #[test]
    fn a_namespace_view_keeps_the_far_ends_of_its_edges() {
        let yaml = [
            "---\napiVersion: catalog.playbill.dev/v1alpha1\nkind: Group\nmetadata: {name: team, namespace: org}\nspec: {type: t, children: [sub]}\n",
            "---\napiVersion: catalog.playbill.dev/v1alpha1\nkind: Group\nmetadata: {name: sub, namespace: org}\nspec: {type: t, children: []}\n",
            &doc("System", "shop", "{owner: org/team}"),
            &doc("Resource", "db", "{type: database, owner: org/team, system: shop, dependsOn: ['resource:other/gone']}"),
        ]
        .concat();
        let g = Graph::of_catalog(&catalog(&yaml), &Scope::All);
        let shop = g.touching_namespace("NS");
        assert_eq!(
            shop.nodes
                .keys()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            [
                "group:org/team",
                "resource:ns/db",
                "resource:other/gone",
                "system:ns/shop"
            ]
        );
        // team parentOf sub touches nothing in ns.
        assert_eq!(shop.edges.len(), 4);
        assert!(!edges(&shop).iter().any(|e| e.contains("parentOf")));
    }
}
