//! `CatalogGrant`: a namespace's consent to references from other namespaces
//! (docs/reference.md#cross-namespace-consent), in the spirit of Gateway API's ReferenceGrant.
//!
//! Doc comments on fields become `kubectl explain` text: write them for users.

#![allow(clippy::duplicated_attributes)]

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector as KubeLabelSelector;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::consent::{Grant, GrantFrom, LabelOperator, LabelRequirement, LabelSelector};
use crate::model::{Kind, RelationType};

/// Lets catalog entities in other namespaces refer to entities in this namespace.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "catalog.playbill.dev",
    version = "v1alpha1",
    kind = "CatalogGrant",
    namespaced,
    derive = "PartialEq",
    shortname = "pbgrant",
    doc = "A CatalogGrant lets catalog entities in other namespaces refer to entities in its own namespace. When the operator runs with --cross-namespace-refs=consent, a reference from namespace A to an entity in namespace B counts only if a CatalogGrant in B permits it: without one, the referring entity reports RefNotPermitted and B's entities show nothing of it. It has no effect with --cross-namespace-refs=allow.",
    printcolumn(name = "All", type_ = "boolean", json_path = ".spec.from.all"),
    printcolumn(
        name = "Namespaces",
        type_ = "string",
        json_path = ".spec.from.namespaces"
    ),
    printcolumn(
        name = "Selector",
        type_ = "string",
        json_path = ".spec.from.namespaceSelector",
        priority = 1
    ),
    printcolumn(name = "Kinds", type_ = "string", json_path = ".spec.to.kinds"),
    printcolumn(name = "Relations", type_ = "string", json_path = ".spec.to.relations"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct CatalogGrantSpec {
    /// The namespaces whose entities may refer to entities in this namespace. A reference is
    /// permitted when its namespace is listed in namespaces, matches namespaceSelector, or all is
    /// true.
    pub from: GrantSource,
    /// What the grant covers: the kinds of this namespace's entities that may be referred to and
    /// the relations the referring entities may claim. Left out, it covers every kind and every
    /// relation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<GrantTarget>,
}

/// Who may refer in.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "has(self.all) || has(self.namespaces) || has(self.namespaceSelector)",
        "message": "must name the namespaces that may refer here: set namespaces, namespaceSelector, or all: true",
    },
    {
        "rule": "!has(self.all) || (self.all && !has(self.namespaces) && !has(self.namespaceSelector))",
        "message": "all must be true when set, and then neither namespaces nor namespaceSelector may be set",
    },
]))]
pub struct GrantSource {
    /// Every namespace of the cluster. When set it must be true, and neither namespaces nor
    /// namespaceSelector may be set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all: Option<bool>,
    /// These namespaces, by name. At most 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 100))]
    pub namespaces: Option<Vec<NamespaceName>>,
    /// The namespaces whose labels match this selector, as in a NetworkPolicy; an empty selector
    /// ({}) matches every namespace. Every namespace carries the label
    /// kubernetes.io/metadata.name with its own name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "!has(self.matchExpressions) || self.matchExpressions.all(e, e.operator in ['In', 'NotIn', 'Exists', 'DoesNotExist'])",
        "message": "matchExpressions operator must be In, NotIn, Exists or DoesNotExist",
    }]))]
    pub namespace_selector: Option<KubeLabelSelector>,
}

/// A namespace name: a DNS label.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct NamespaceName(
    #[schemars(
        length(min = 1, max = 63),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    )]
    pub String,
);

/// What may be referred to.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GrantTarget {
    /// The kinds of entity in this namespace that may be referred to, e.g. [Group, User]. Left
    /// out, every kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 7))]
    pub kinds: Option<Vec<GrantKind>>,
    /// The relations the referring entity may claim towards entities here, as its own status
    /// lists them: ownedBy (an owner), partOf (a system, domain, subcomponentOf or subdomainOf),
    /// memberOf (a User's memberOf), hasMember (a Group's members), childOf (a Group's parent),
    /// parentOf (a Group's children), providesApi, consumesApi, dependsOn, dependencyOf. Left
    /// out, every relation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 14))]
    pub relations: Option<Vec<GrantRelation>>,
}

/// A catalog kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum GrantKind {
    Component,
    #[serde(rename = "API")]
    Api,
    Resource,
    System,
    Domain,
    Group,
    User,
}

impl From<GrantKind> for Kind {
    fn from(k: GrantKind) -> Kind {
        match k {
            GrantKind::Component => Kind::Component,
            GrantKind::Api => Kind::Api,
            GrantKind::Resource => Kind::Resource,
            GrantKind::System => Kind::System,
            GrantKind::Domain => Kind::Domain,
            GrantKind::Group => Kind::Group,
            GrantKind::User => Kind::User,
        }
    }
}

/// A relation type, as statuses list them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum GrantRelation {
    OwnedBy,
    OwnerOf,
    PartOf,
    HasPart,
    ProvidesApi,
    ApiProvidedBy,
    ConsumesApi,
    ApiConsumedBy,
    DependsOn,
    DependencyOf,
    ChildOf,
    ParentOf,
    MemberOf,
    HasMember,
}

impl From<GrantRelation> for RelationType {
    fn from(r: GrantRelation) -> RelationType {
        use GrantRelation as G;
        use RelationType as R;
        match r {
            G::OwnedBy => R::OwnedBy,
            G::OwnerOf => R::OwnerOf,
            G::PartOf => R::PartOf,
            G::HasPart => R::HasPart,
            G::ProvidesApi => R::ProvidesApi,
            G::ApiProvidedBy => R::ApiProvidedBy,
            G::ConsumesApi => R::ConsumesApi,
            G::ApiConsumedBy => R::ApiConsumedBy,
            G::DependsOn => R::DependsOn,
            G::DependencyOf => R::DependencyOf,
            G::ChildOf => R::ChildOf,
            G::ParentOf => R::ParentOf,
            G::MemberOf => R::MemberOf,
            G::HasMember => R::HasMember,
        }
    }
}

/// A label selector the operator can evaluate, or `None` if it uses an operator Kubernetes does
/// not define (admission refuses those; such a selector then matches nothing).
fn selector(s: &KubeLabelSelector) -> Option<LabelSelector> {
    let mut match_expressions = Vec::new();
    for e in s.match_expressions.iter().flatten() {
        let operator = match e.operator.as_str() {
            "In" => LabelOperator::In,
            "NotIn" => LabelOperator::NotIn,
            "Exists" => LabelOperator::Exists,
            "DoesNotExist" => LabelOperator::DoesNotExist,
            _ => return None,
        };
        match_expressions.push(LabelRequirement {
            key: e.key.clone(),
            operator,
            values: e.values.iter().flatten().cloned().collect(),
        });
    }
    Some(LabelSelector {
        match_labels: s.match_labels.clone().unwrap_or_default(),
        match_expressions,
    })
}

impl CatalogGrantSpec {
    /// The grant as the pure core evaluates it.
    pub fn grant(&self) -> Grant {
        let from = &self.from;
        let never = LabelSelector {
            match_labels: BTreeMap::new(),
            match_expressions: vec![LabelRequirement {
                key: String::new(),
                operator: LabelOperator::In,
                values: BTreeSet::new(),
            }],
        };
        Grant {
            from: GrantFrom {
                all: from.all == Some(true),
                namespaces: from
                    .namespaces
                    .iter()
                    .flatten()
                    .map(|n| n.0.to_ascii_lowercase())
                    .collect(),
                selector: from
                    .namespace_selector
                    .as_ref()
                    .map(|s| selector(s).unwrap_or(never)),
            },
            kinds: self
                .to
                .iter()
                .flat_map(|t| t.kinds.iter().flatten())
                .map(|&k| k.into())
                .collect(),
            relations: self
                .to
                .iter()
                .flat_map(|t| t.relations.iter().flatten())
                .map(|&r| r.into())
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(v: serde_json::Value) -> CatalogGrantSpec {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn every_relation_and_kind_maps_onto_the_model() {
        for r in RelationType::ALL {
            let g: GrantRelation = serde_json::from_value(json!(r.as_str())).unwrap();
            assert_eq!(RelationType::from(g), r);
        }
        for k in Kind::ALL {
            let g: GrantKind = serde_json::from_value(json!(k.name())).unwrap();
            assert_eq!(Kind::from(g), k);
        }
    }

    #[test]
    fn a_spec_becomes_the_core_grant() {
        let g = spec(json!({
            "from": {"namespaces": ["team-a"], "namespaceSelector": {
                "matchLabels": {"tenant": "acme"},
                "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["sandbox"]}],
            }},
            "to": {"kinds": ["Group", "API"], "relations": ["ownedBy", "memberOf"]},
        }))
        .grant();
        assert!(!g.from.all);
        assert_eq!(g.from.namespaces, BTreeSet::from(["team-a".to_owned()]));
        let sel = g.from.selector.unwrap();
        assert_eq!(sel.match_labels["tenant"], "acme");
        assert_eq!(sel.match_expressions[0].operator, LabelOperator::NotIn);
        assert_eq!(g.kinds, BTreeSet::from([Kind::Group, Kind::Api]));
        assert_eq!(
            g.relations,
            BTreeSet::from([RelationType::OwnedBy, RelationType::MemberOf])
        );
        let all = spec(json!({"from": {"all": true}})).grant();
        assert!(all.from.all && all.kinds.is_empty() && all.relations.is_empty());
    }

    #[test]
    fn a_selector_with_an_unknown_operator_matches_nothing() {
        let g = spec(json!({"from": {"namespaceSelector": {
            "matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}],
        }}}))
        .grant();
        let sel = g.from.selector.unwrap();
        assert!(!sel.matches(&BTreeMap::new()));
        assert!(!sel.matches(&BTreeMap::from([("a".to_owned(), "2".to_owned())])));
    }
}
