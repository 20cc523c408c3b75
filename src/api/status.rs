//! The status every catalog kind shares (docs/reference.md#status).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What the operator found when it resolved this entity's references. Written only by the
/// operator; never edit it by hand.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EntityStatus {
    /// The metadata.generation this status describes. When it is behind metadata.generation, the
    /// operator has not yet seen the latest spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// This entity's own canonical reference, kind:namespace/name in lowercase, as other entities
    /// and Backstage refer to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_ref: Option<String>,
    /// Every relation of this entity, computed exactly as Backstage's catalog computes them: its
    /// own references and the references other entities make to it. Sorted by type, then
    /// targetRef. At most a configured number per type are listed, and fewer if the status would
    /// otherwise grow too large (256 KiB); relationCounts then has the full counts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relations: Vec<RelationEntry>,
    /// Full counts of relations per type, present when some were left out of relations: more
    /// than the configured number of one type, or more than fit the status's size budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relation_counts: Option<BTreeMap<String, i64>>,
    /// References in spec that do not resolve, and why. At most a configured number are listed,
    /// and fewer if the status would otherwise grow too large; unresolvedRefCount then has the
    /// full number.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unresolved_refs: Vec<UnresolvedRef>,
    /// The full number of references in spec that do not resolve, present when unresolvedRefs
    /// lists only some of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unresolved_ref_count: Option<i64>,
    /// Keys in spec that this kind has no field for, such as a misspelled field name, each with
    /// the known field it most likely meant. They are kept (Backstage allows extra keys) and do
    /// not affect Ready. Keys starting with x- and keys listed, comma-separated, in the
    /// catalog.playbill.dev/custom-keys annotation are custom on purpose and not listed. At most
    /// 20 are listed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown_fields: Vec<UnknownField>,
    /// Conditions of the entity. Ready is True when every reference resolves to an entity of an
    /// allowed kind.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// Number of entities that are part of this one (hasPart relations): a System's components,
    /// APIs and resources, a Domain's systems and subdomains, a Component's subcomponents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parts: Option<i64>,
    /// Number of entities this Group or User owns (ownerOf relations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owns: Option<i64>,
    /// Number of members of this Group (hasMember relations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members: Option<i64>,
    /// Number of child groups of this Group (parentOf relations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub children: Option<i64>,
    /// Number of groups this User is a member of (memberOf relations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<i64>,
    /// Number of components that provide this API (apiProvidedBy relations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub providers: Option<i64>,
    /// Number of components that consume this API (apiConsumedBy relations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumers: Option<i64>,
}

/// One relation from this entity to another.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RelationEntry {
    /// The Backstage relation type, such as ownedBy, partOf or dependsOn.
    #[serde(rename = "type")]
    pub type_: String,
    /// The canonical reference of the other entity, kind:namespace/name in lowercase. It may name
    /// an entity that does not exist (see unresolvedRefs).
    pub target_ref: String,
}

/// A key in spec that this kind has no field for.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UnknownField {
    /// The key's path, such as spec.sytem.
    pub field: String,
    /// The known field it most likely meant, such as spec.system: one ignoring case, or else
    /// one a single edit away (a letter added, dropped or changed, or two letters swapped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suggestion: Option<String>,
    /// A human-readable warning, such as "spec.sytem is not a field of Component; did you mean
    /// spec.system?".
    pub message: String,
}

/// A reference in spec that does not resolve.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UnresolvedRef {
    /// The field that holds the reference, such as spec.owner or spec.dependsOn[2].
    pub field: String,
    /// The canonical reference the field resolves to, or the value as written when it does not
    /// parse.
    pub target_ref: String,
    /// Why it does not resolve: NotFound (no such entity), InvalidKind (the entity is of a kind
    /// the field does not allow) or InvalidReference (the value does not parse).
    pub reason: String,
    /// A human-readable explanation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}
