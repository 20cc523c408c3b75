//! Consent for references across namespaces (docs/reference.md#cross-namespace-consent).
//!
//! In the spirit of Gateway API's ReferenceGrant: a reference held by an entity in namespace A
//! that names an entity in namespace B counts only if B consents, through grants that live in B.
//! A grant names who may refer in (every namespace, a list of namespaces, or the namespaces whose
//! labels match a selector) and what it covers (target kinds and the relation the referring
//! entity claims). References within one namespace always count. Pure: the product feeds grants
//! and namespace labels in, and asks [`Consents::permits`].

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::model::{EntityRef, Kind, RelationType};

/// How references across namespaces are treated, for the whole catalog.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum CrossNamespaceRefs {
    /// Every reference counts, wherever its target lives: Backstage's behaviour.
    #[default]
    Allow,
    /// A reference into another namespace counts only if a grant there permits it.
    Consent,
}

impl CrossNamespaceRefs {
    pub fn as_str(self) -> &'static str {
        match self {
            CrossNamespaceRefs::Allow => "allow",
            CrossNamespaceRefs::Consent => "consent",
        }
    }
}

/// How a label selector requirement compares a namespace's label with its values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LabelOperator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

/// One `matchExpressions` entry of a label selector.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LabelRequirement {
    pub key: String,
    pub operator: LabelOperator,
    pub values: BTreeSet<String>,
}

/// A Kubernetes label selector: every `matchLabels` pair and every requirement must hold. An
/// empty selector matches every namespace, as in Kubernetes.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LabelSelector {
    pub match_labels: BTreeMap<String, String>,
    pub match_expressions: Vec<LabelRequirement>,
}

impl LabelSelector {
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|r| {
                let value = labels.get(&r.key);
                match r.operator {
                    LabelOperator::In => value.is_some_and(|v| r.values.contains(v)),
                    LabelOperator::NotIn => value.is_none_or(|v| !r.values.contains(v)),
                    LabelOperator::Exists => value.is_some(),
                    LabelOperator::DoesNotExist => value.is_none(),
                }
            })
    }
}

/// The namespaces a grant lets refer in. Any one that applies is enough.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GrantFrom {
    /// Every namespace.
    pub all: bool,
    /// These namespaces, by name (lowercase).
    pub namespaces: BTreeSet<String>,
    /// The namespaces whose labels match.
    pub selector: Option<LabelSelector>,
}

/// One grant: it lives in the target namespace and permits references from `from` to entities
/// of `kinds` (empty: every kind) claiming `relations` (empty: every relation). A relation here
/// is the one the referring entity claims, the forward relation of the reference (`ownedBy` for
/// an `owner`, `memberOf` for a User's `memberOf`, `hasMember` for a Group's `members`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grant {
    pub from: GrantFrom,
    pub kinds: BTreeSet<Kind>,
    pub relations: BTreeSet<RelationType>,
}

impl Grant {
    /// Whether this grant covers a reference to `target` claiming `relation`, made from a
    /// namespace named `from` with `labels`.
    fn covers(
        &self,
        from: &str,
        labels: &BTreeMap<String, String>,
        relation: RelationType,
        target: &EntityRef,
    ) -> bool {
        let kind_ok =
            self.kinds.is_empty() || target.known_kind().is_some_and(|k| self.kinds.contains(&k));
        let relation_ok = self.relations.is_empty() || self.relations.contains(&relation);
        let from_ok = self.from.all
            || self.from.namespaces.contains(from)
            || self
                .from
                .selector
                .as_ref()
                .is_some_and(|s| s.matches(labels));
        kind_ok && relation_ok && from_ok
    }

    fn uses_labels(&self) -> bool {
        self.from.selector.is_some()
    }
}

/// The grants and namespace labels of the catalog, and the mode they are read in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Consents {
    mode: CrossNamespaceRefs,
    /// Per namespace, its grants by name.
    grants: HashMap<String, BTreeMap<String, Grant>>,
    /// Per namespace, its labels; a namespace not known has none.
    labels: HashMap<String, BTreeMap<String, String>>,
}

impl Consents {
    pub fn new(mode: CrossNamespaceRefs) -> Consents {
        Consents {
            mode,
            ..Consents::default()
        }
    }

    pub fn mode(&self) -> CrossNamespaceRefs {
        self.mode
    }

    /// Whether a reference held by an entity in namespace `from`, claiming `relation` towards
    /// `target`, counts.
    pub fn permits(&self, from: &str, relation: RelationType, target: &EntityRef) -> bool {
        if self.mode == CrossNamespaceRefs::Allow || target.namespace.eq_ignore_ascii_case(from) {
            return true;
        }
        let Some(grants) = self.grants.get(&target.namespace) else {
            return false;
        };
        let from = from.to_ascii_lowercase();
        let empty = BTreeMap::new();
        let labels = self.labels.get(&from).unwrap_or(&empty);
        grants
            .values()
            .any(|g| g.covers(&from, labels, relation, target))
    }

    /// Adds or replaces grant `name` in `namespace`. Returns whether anything changed.
    pub fn set_grant(&mut self, namespace: &str, name: &str, grant: Grant) -> bool {
        let grants = self
            .grants
            .entry(namespace.to_ascii_lowercase())
            .or_default();
        if grants.get(name) == Some(&grant) {
            return false;
        }
        grants.insert(name.to_owned(), grant);
        true
    }

    /// Removes grant `name` from `namespace`. Returns whether it was there.
    pub fn remove_grant(&mut self, namespace: &str, name: &str) -> bool {
        let namespace = namespace.to_ascii_lowercase();
        let Some(grants) = self.grants.get_mut(&namespace) else {
            return false;
        };
        let removed = grants.remove(name).is_some();
        if grants.is_empty() {
            self.grants.remove(&namespace);
        }
        removed
    }

    /// The grants of one namespace, by name.
    pub fn grants_in(&self, namespace: &str) -> impl Iterator<Item = (&String, &Grant)> {
        self.grants
            .get(&namespace.to_ascii_lowercase())
            .into_iter()
            .flatten()
    }

    /// Records a namespace's labels. Returns whether anything a grant can see changed.
    pub fn set_namespace(&mut self, namespace: &str, labels: BTreeMap<String, String>) -> bool {
        let namespace = namespace.to_ascii_lowercase();
        if self.labels.get(&namespace) == Some(&labels) {
            return false;
        }
        self.labels.insert(namespace, labels);
        true
    }

    /// Forgets a deleted namespace: its labels and every grant in it. Returns whether anything
    /// changed.
    pub fn remove_namespace(&mut self, namespace: &str) -> bool {
        let namespace = namespace.to_ascii_lowercase();
        let labels = self.labels.remove(&namespace).is_some();
        let grants = self.grants.remove(&namespace).is_some();
        labels || grants
    }

    /// Every grant, as `(namespace, name)`.
    pub fn grant_names(&self) -> Vec<(String, String)> {
        self.grants
            .iter()
            .flat_map(|(ns, g)| g.keys().map(move |name| (ns.clone(), name.clone())))
            .collect()
    }

    /// Grant `name` in `namespace`.
    pub fn grant(&self, namespace: &str, name: &str) -> Option<&Grant> {
        self.grants.get(&namespace.to_ascii_lowercase())?.get(name)
    }

    /// The labels of `namespace`, if known.
    pub fn labels(&self, namespace: &str) -> Option<&BTreeMap<String, String>> {
        self.labels.get(&namespace.to_ascii_lowercase())
    }

    /// Every namespace whose labels are known.
    pub fn namespaces(&self) -> Vec<String> {
        self.labels.keys().cloned().collect()
    }

    /// Whether any grant anywhere selects namespaces by label, so that a label change matters.
    pub fn selects_by_label(&self) -> bool {
        self.grants
            .values()
            .flat_map(|g| g.values())
            .any(Grant::uses_labels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eref(kind: Kind, ns: &str, name: &str) -> EntityRef {
        EntityRef::of(kind, ns, name)
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn allow_mode_and_same_namespace_always_count() {
        let group = eref(Kind::Group, "teams", "sre");
        let allow = Consents::new(CrossNamespaceRefs::Allow);
        assert!(allow.permits("shop", RelationType::OwnedBy, &group));
        let consent = Consents::new(CrossNamespaceRefs::Consent);
        assert!(!consent.permits("shop", RelationType::OwnedBy, &group));
        assert!(consent.permits("teams", RelationType::OwnedBy, &group));
        assert!(consent.permits("Teams", RelationType::OwnedBy, &group));
    }

    #[test]
    fn a_grant_covers_its_kinds_relations_and_namespaces_only() {
        let mut c = Consents::new(CrossNamespaceRefs::Consent);
        c.set_grant(
            "teams",
            "owners",
            Grant {
                from: GrantFrom {
                    namespaces: ["shop".to_owned()].into(),
                    ..GrantFrom::default()
                },
                kinds: [Kind::Group].into(),
                relations: [RelationType::OwnedBy, RelationType::MemberOf].into(),
            },
        );
        let group = eref(Kind::Group, "teams", "sre");
        let user = eref(Kind::User, "teams", "jdoe");
        assert!(c.permits("shop", RelationType::OwnedBy, &group));
        assert!(c.permits("shop", RelationType::MemberOf, &group));
        assert!(!c.permits("shop", RelationType::ParentOf, &group));
        assert!(!c.permits("shop", RelationType::OwnedBy, &user));
        assert!(!c.permits("payments", RelationType::OwnedBy, &group));
        // A grant in another namespace says nothing about this one.
        assert!(!c.permits(
            "shop",
            RelationType::OwnedBy,
            &eref(Kind::Group, "ops", "x")
        ));
        // A kind Playbill does not know is covered only by a grant for every kind.
        let unknown = EntityRef {
            kind: "template".into(),
            namespace: "teams".into(),
            name: "t".into(),
        };
        assert!(!c.permits("shop", RelationType::OwnedBy, &unknown));
        assert!(c.remove_grant("teams", "owners"));
        assert!(!c.remove_grant("teams", "owners"));
        assert!(!c.permits("shop", RelationType::OwnedBy, &group));
    }

    #[test]
    fn all_namespaces_and_selectors() {
        let mut c = Consents::new(CrossNamespaceRefs::Consent);
        c.set_grant(
            "teams",
            "everyone",
            Grant {
                from: GrantFrom {
                    all: true,
                    ..GrantFrom::default()
                },
                ..Grant::default()
            },
        );
        let group = eref(Kind::Group, "teams", "sre");
        assert!(c.permits("anything", RelationType::HasPart, &group));
        assert!(!c.selects_by_label());
        let selector = LabelSelector {
            match_labels: labels(&[("tenant", "acme")]),
            match_expressions: vec![LabelRequirement {
                key: "tier".into(),
                operator: LabelOperator::NotIn,
                values: ["sandbox".to_owned()].into(),
            }],
        };
        c.set_grant(
            "org",
            "acme",
            Grant {
                from: GrantFrom {
                    selector: Some(selector),
                    ..GrantFrom::default()
                },
                ..Grant::default()
            },
        );
        assert!(c.selects_by_label());
        let target = eref(Kind::System, "org", "s");
        assert!(!c.permits("shop", RelationType::PartOf, &target));
        assert!(c.set_namespace("shop", labels(&[("tenant", "acme")])));
        assert!(!c.set_namespace("shop", labels(&[("tenant", "acme")])));
        assert!(c.permits("shop", RelationType::PartOf, &target));
        c.set_namespace("shop", labels(&[("tenant", "acme"), ("tier", "sandbox")]));
        assert!(!c.permits("shop", RelationType::PartOf, &target));
        c.set_namespace("shop", labels(&[("tenant", "acme"), ("tier", "prod")]));
        assert!(c.permits("shop", RelationType::PartOf, &target));
        // A namespace deleted takes its labels and its grants with it.
        assert!(c.remove_namespace("shop"));
        assert!(!c.permits("shop", RelationType::PartOf, &target));
        assert!(c.remove_namespace("teams"));
        assert!(!c.permits("anything", RelationType::HasPart, &group));
        assert_eq!(c.grants_in("teams").count(), 0);
    }

    #[test]
    fn selector_operators() {
        let l = labels(&[("a", "1"), ("b", "2")]);
        let req = |key: &str, operator, values: &[&str]| LabelSelector {
            match_labels: BTreeMap::new(),
            match_expressions: vec![LabelRequirement {
                key: key.into(),
                operator,
                values: values.iter().map(|v| v.to_string()).collect(),
            }],
        };
        use LabelOperator::*;
        assert!(LabelSelector::default().matches(&l));
        assert!(LabelSelector::default().matches(&BTreeMap::new()));
        assert!(req("a", In, &["1", "3"]).matches(&l));
        assert!(!req("a", In, &["3"]).matches(&l));
        assert!(!req("c", In, &["1"]).matches(&l));
        assert!(req("a", NotIn, &["3"]).matches(&l));
        assert!(!req("a", NotIn, &["1"]).matches(&l));
        assert!(req("c", NotIn, &["1"]).matches(&l));
        assert!(req("b", Exists, &[]).matches(&l));
        assert!(!req("c", Exists, &[]).matches(&l));
        assert!(req("c", DoesNotExist, &[]).matches(&l));
        assert!(!req("b", DoesNotExist, &[]).matches(&l));
    }
}
