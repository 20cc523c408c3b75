//! The generated catalog: N entities over four namespaces, the same for a given N, shaped like a
//! real organisation's (BENCHMARKS.md, "What one run does").

use playbill::api::{GROUP, VERSION};
use playbill::model::{EntityRef, Kind};
use playbill_testkit::Rng;
use serde_json::{Value, json};

/// The namespaces of one copy of the catalog: `<prefix>0..3`.
pub const NAMESPACES: usize = 4;

/// One catalog object as the bench created it.
#[derive(Clone, Debug)]
pub struct Obj {
    pub kind: Kind,
    pub ns: String,
    pub name: String,
    pub spec: Value,
    pub generation: i64,
}

impl Obj {
    pub fn key(&self) -> String {
        self.entity_ref().to_string()
    }

    pub fn entity_ref(&self) -> EntityRef {
        EntityRef::of(self.kind, &self.ns, &self.name)
    }

    pub fn manifest(&self) -> Value {
        json!({
            "apiVersion": format!("{GROUP}/{VERSION}"),
            "kind": self.kind.name(),
            "metadata": {"name": self.name, "namespace": self.ns, "generation": self.generation},
            "spec": self.spec,
        })
    }

    /// The manifest to create: the API server assigns the generation.
    pub fn manifest_to_create(&self) -> Value {
        let mut m = self.manifest();
        m["metadata"].as_object_mut().unwrap().remove("generation");
        m
    }
}

/// How many entities of each kind one namespace of `c` entities holds.
pub struct Sizes {
    pub groups: usize,
    pub users: usize,
    pub domains: usize,
    pub systems: usize,
    pub apis: usize,
    pub resources: usize,
    pub components: usize,
}

pub fn sizes(c: usize) -> Sizes {
    let groups = (c * 6 / 100).max(3);
    let users = c * 20 / 100;
    let domains = (c * 2 / 100).max(1);
    let systems = (c * 7 / 100).max(2);
    let apis = c * 15 / 100;
    let resources = c * 10 / 100;
    let components = c - groups - users - domains - systems - apis - resources;
    Sizes {
        groups,
        users,
        domains,
        systems,
        apis,
        resources,
        components,
    }
}

/// `bench-0` but not `bench-floor-0` for the prefix `bench-`.
pub fn is_ns(ns: &str, prefix: &str) -> bool {
    ns.strip_prefix(prefix)
        .is_some_and(|rest| rest.chars().all(|c| c.is_ascii_digit()) && !rest.is_empty())
}

/// The catalog: N entities over four namespaces `<prefix>0..3`, the same for every prefix.
pub fn generate(n: usize, prefix: &str) -> Vec<Obj> {
    let mut rng = Rng(0x5eed);
    let mut out = Vec::with_capacity(n);
    let counts: Vec<usize> = (0..NAMESPACES)
        .map(|j| n / NAMESPACES + usize::from(j < n % NAMESPACES))
        .collect();
    let all: Vec<Sizes> = counts.iter().map(|&c| sizes(c)).collect();
    for (j, s) in all.iter().enumerate() {
        let ns = format!("{prefix}{j}");
        let next = (j + 1) % NAMESPACES;
        let other = &all[next];
        let other_ns = format!("{prefix}{next}");
        let mut push = |kind: Kind, name: String, spec: Value| {
            out.push(Obj {
                kind,
                ns: ns.clone(),
                name,
                spec,
                generation: 1,
            })
        };
        // A group owner, sometimes in the next namespace, sometimes a user.
        let owner = |rng: &mut Rng| -> String {
            if rng.chance(10) {
                format!("{other_ns}/group-{}", rng.below(other.groups))
            } else if rng.chance(10) && s.users > 0 {
                format!("user:user-{}", rng.below(s.users))
            } else {
                format!("group-{}", rng.below(s.groups))
            }
        };
        // Groups: a tree, each with up to four children; both sides state the link.
        for i in 0..s.groups {
            let children: Vec<String> = (4 * i + 1..=4 * i + 4)
                .filter(|c| *c < s.groups)
                .map(|c| format!("group-{c}"))
                .collect();
            let mut spec = json!({
                "type": if i == 0 { "root" } else if i <= 4 { "business-unit" } else { "team" },
                "children": children,
                "profile": {"displayName": format!("Group {i}")},
            });
            if i > 0 {
                spec["parent"] = json!(format!("group-{}", (i - 1) / 4));
            }
            if rng.chance(3) {
                spec["children"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!(format!("ghost-group-{i}")));
            }
            push(Kind::Group, format!("group-{i}"), spec);
        }
        // Users: memberOf a team; a third also of group-1, the large group.
        for i in 0..s.users {
            let mut member_of = vec![json!(format!("group-{}", rng.below(s.groups)))];
            if i % 3 == 0 {
                member_of.push(json!("group-1"));
            }
            if rng.chance(3) {
                member_of.push(json!(format!("ghost-group-u{i}")));
            }
            push(
                Kind::User,
                format!("user-{i}"),
                json!({"memberOf": member_of, "profile": {"email": format!("user-{i}@example.com")}}),
            );
        }
        for i in 0..s.domains {
            let mut spec = json!({"owner": owner(&mut rng)});
            if i > 0 && rng.chance(30) {
                spec["subdomainOf"] = json!("domain-0");
            }
            if rng.chance(3) {
                spec["owner"] = json!(format!("ghost-team-d{i}"));
            }
            push(Kind::Domain, format!("domain-{i}"), spec);
        }
        for i in 0..s.systems {
            let mut spec = json!({
                "owner": owner(&mut rng),
                "domain": format!("domain-{}", rng.below(s.domains)),
            });
            if rng.chance(3) {
                spec["owner"] = json!(format!("ghost-team-s{i}"));
            }
            push(Kind::System, format!("system-{i}"), spec);
        }
        for i in 0..s.apis {
            let mut spec = json!({
                "type": "openapi",
                "lifecycle": "production",
                "owner": owner(&mut rng),
                "system": format!("system-{}", rng.below(s.systems)),
                "definition": "openapi: 3.0.0",
            });
            if rng.chance(3) {
                spec["system"] = json!(format!("ghost-system-a{i}"));
            }
            push(Kind::Api, format!("api-{i}"), spec);
        }
        for i in 0..s.resources {
            let mut spec = json!({
                "type": "database",
                "owner": owner(&mut rng),
                "system": format!("system-{}", rng.below(s.systems)),
            });
            let mut deps = Vec::new();
            if i > 0 && rng.chance(20) {
                deps.push(format!("resource:resource-{}", rng.below(i)));
            }
            if rng.chance(3) {
                deps.push(format!("resource:ghost-resource-{i}"));
            }
            if !deps.is_empty() {
                spec["dependsOn"] = json!(deps);
            }
            push(Kind::Resource, format!("resource-{i}"), spec);
        }
        for i in 0..s.components {
            let mut spec = json!({
                "type": "service",
                "lifecycle": "production",
                "owner": owner(&mut rng),
                "system": format!("system-{}", rng.below(s.systems)),
            });
            if i < s.apis {
                spec["providesApis"] = json!([format!("api-{i}")]);
            }
            let consumes: Vec<String> = (0..rng.below(4))
                .map(|_| {
                    if rng.chance(10) && other.apis > 0 {
                        format!("{other_ns}/api-{}", rng.below(other.apis))
                    } else {
                        format!("api-{}", rng.below(s.apis))
                    }
                })
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            if !consumes.is_empty() && s.apis > 0 {
                spec["consumesApis"] = json!(consumes);
            }
            let mut deps: Vec<String> = (0..rng.below(3))
                .filter_map(|_| {
                    if rng.chance(70) {
                        (i > 0).then(|| format!("component:component-{}", rng.below(i)))
                    } else {
                        (s.resources > 0)
                            .then(|| format!("resource:resource-{}", rng.below(s.resources)))
                    }
                })
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            if rng.chance(3) {
                deps.push(format!("component:ghost-component-{i}"));
            }
            if !deps.is_empty() {
                spec["dependsOn"] = json!(deps);
            }
            if i > 0 && rng.chance(10) {
                spec["subcomponentOf"] = json!(format!("component-{}", rng.below(i)));
            }
            push(Kind::Component, format!("component-{i}"), spec);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalog_has_n_entities_the_same_for_every_prefix() {
        for n in [300, 1001] {
            let a = generate(n, "bench-");
            let b = generate(n, "bench-floor-");
            assert_eq!(a.len(), n);
            assert_eq!(b.len(), n);
            for (x, y) in a.iter().zip(&b) {
                assert_eq!((x.kind, &x.name), (y.kind, &y.name));
                assert_eq!(
                    x.ns.strip_prefix("bench-"),
                    y.ns.strip_prefix("bench-floor-")
                );
                assert!(is_ns(&x.ns, "bench-") && !is_ns(&x.ns, "bench-floor-"));
            }
        }
    }

    #[test]
    fn namespaces_of_a_prefix_are_its_numbered_ones() {
        assert!(is_ns("bench-0", "bench-"));
        assert!(is_ns("bench-floor-3", "bench-floor-"));
        assert!(!is_ns("bench-floor-0", "bench-"));
        assert!(!is_ns("bench-", "bench-"));
        assert!(!is_ns("default", "bench-"));
    }
}
