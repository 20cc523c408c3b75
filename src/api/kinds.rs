//! The seven catalog kinds as custom resources in `catalog.playbill.dev/v1alpha1`.
//!
//! Doc comments on fields become `kubectl explain` text: write them for users.

// Repeated `printcolumn(type_ = ...)` arguments inside `#[kube(...)]` are distinct columns, not
// duplicated attributes; clippy's lint misreads the derive's attribute syntax.
#![allow(clippy::duplicated_attributes)]

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::fields::{
    CommonFields, EntityRefString, ExtraFields, KindedRefString, ListRefString, Profile,
};
use super::status::EntityStatus;

/// A piece of software: a service, website, library or similar, owned by a team.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "catalog.playbill.dev",
    version = "v1alpha1",
    kind = "Component",
    namespaced,
    status = "EntityStatus",
    derive = "PartialEq",
    category = "catalog",
    shortname = "pbcomponent",
    shortname = "pbc",
    doc = "A Component is a piece of software, such as a service, website or library, in the Backstage catalog model.",
    printcolumn(name = "Type", type_ = "string", json_path = ".spec.type"),
    printcolumn(name = "Lifecycle", type_ = "string", json_path = ".spec.lifecycle"),
    printcolumn(name = "Owner", type_ = "string", json_path = ".spec.owner"),
    printcolumn(name = "System", type_ = "string", json_path = ".spec.system"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason",
        priority = 1
    ),
    printcolumn(
        name = "Parts",
        type_ = "integer",
        json_path = ".status.parts",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    selectable = ".spec.type",
    selectable = ".spec.lifecycle",
    selectable = ".spec.owner",
    selectable = ".spec.system",
    selectable = ".spec.subcomponentOf"
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct ComponentSpec {
    #[serde(flatten)]
    pub common: CommonFields,
    /// The type of component, free text. Conventional values are service, website and library.
    #[serde(rename = "type")]
    #[schemars(length(min = 1))]
    pub type_: String,
    /// The lifecycle state, free text. Conventional values are experimental, production and
    /// deprecated.
    #[schemars(length(min = 1))]
    pub lifecycle: String,
    /// The Group or User that owns the component, as an entity reference. The kind defaults to
    /// Group and the namespace to this component's namespace: "team-a", "user:jdoe" and
    /// "group:platform/sre" are all valid.
    pub owner: EntityRefString,
    /// The System the component belongs to. The kind defaults to System and the namespace to this
    /// component's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<EntityRefString>,
    /// The Component this one is a part of. The kind defaults to Component and the namespace to
    /// this component's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subcomponent_of: Option<EntityRefString>,
    /// APIs this component provides. The kind defaults to API and the namespace to this
    /// component's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provides_apis: Option<Vec<ListRefString>>,
    /// APIs this component consumes. The kind defaults to API and the namespace to this
    /// component's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumes_apis: Option<Vec<ListRefString>>,
    /// Components and Resources this component depends on. Each reference must name its kind,
    /// e.g. "resource:orders-db" or "component:payments/ledger". At most 1000 entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1000))]
    pub depends_on: Option<Vec<KindedRefString>>,
    /// Components and Resources that depend on this component. Each reference must name its kind.
    /// At most 1000 entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1000))]
    pub dependency_of: Option<Vec<KindedRefString>>,
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: ExtraFields,
}

/// An interface that components provide and consume.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "catalog.playbill.dev",
    version = "v1alpha1",
    kind = "API",
    plural = "apis",
    namespaced,
    status = "EntityStatus",
    derive = "PartialEq",
    category = "catalog",
    shortname = "pbapi",
    doc = "An API is an interface that Components provide and consume, in the Backstage catalog model.",
    printcolumn(name = "Type", type_ = "string", json_path = ".spec.type"),
    printcolumn(name = "Lifecycle", type_ = "string", json_path = ".spec.lifecycle"),
    printcolumn(name = "Owner", type_ = "string", json_path = ".spec.owner"),
    printcolumn(name = "System", type_ = "string", json_path = ".spec.system"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason",
        priority = 1
    ),
    printcolumn(
        name = "Providers",
        type_ = "integer",
        json_path = ".status.providers",
        priority = 1
    ),
    printcolumn(
        name = "Consumers",
        type_ = "integer",
        json_path = ".status.consumers",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    selectable = ".spec.type",
    selectable = ".spec.lifecycle",
    selectable = ".spec.owner",
    selectable = ".spec.system"
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct ApiSpec {
    #[serde(flatten)]
    pub common: CommonFields,
    /// The type of API definition, free text. Conventional values are openapi, asyncapi, graphql
    /// and grpc.
    #[serde(rename = "type")]
    #[schemars(length(min = 1))]
    pub type_: String,
    /// The lifecycle state, free text. Conventional values are experimental, production and
    /// deprecated.
    #[schemars(length(min = 1))]
    pub lifecycle: String,
    /// The Group or User that owns the API. The kind defaults to Group and the namespace to this
    /// API's namespace.
    pub owner: EntityRefString,
    /// The definition of the API in the format its type names (an OpenAPI document, a .proto
    /// file, ...).
    #[schemars(length(min = 1))]
    pub definition: String,
    /// The System the API belongs to. The kind defaults to System and the namespace to this API's
    /// namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<EntityRefString>,
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: ExtraFields,
}

/// Infrastructure a component needs at run time.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "catalog.playbill.dev",
    version = "v1alpha1",
    kind = "Resource",
    namespaced,
    status = "EntityStatus",
    derive = "PartialEq",
    category = "catalog",
    shortname = "pbresource",
    shortname = "pbres",
    doc = "A Resource is infrastructure a Component needs at run time, such as a database or a bucket, in the Backstage catalog model.",
    printcolumn(name = "Type", type_ = "string", json_path = ".spec.type"),
    printcolumn(name = "Owner", type_ = "string", json_path = ".spec.owner"),
    printcolumn(name = "System", type_ = "string", json_path = ".spec.system"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    selectable = ".spec.type",
    selectable = ".spec.owner",
    selectable = ".spec.system"
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct ResourceSpec {
    #[serde(flatten)]
    pub common: CommonFields,
    /// The type of resource, free text, such as database, s3-bucket or cluster.
    #[serde(rename = "type")]
    #[schemars(length(min = 1))]
    pub type_: String,
    /// The Group or User that owns the resource. The kind defaults to Group and the namespace to
    /// this resource's namespace.
    pub owner: EntityRefString,
    /// The System the resource belongs to. The kind defaults to System and the namespace to this
    /// resource's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<EntityRefString>,
    /// Components and Resources this resource depends on. Each reference must name its kind. At
    /// most 1000 entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1000))]
    pub depends_on: Option<Vec<KindedRefString>>,
    /// Components and Resources that depend on this resource. Each reference must name its kind.
    /// At most 1000 entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1000))]
    pub dependency_of: Option<Vec<KindedRefString>>,
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: ExtraFields,
}

/// A collection of components, APIs and resources that together expose some functionality.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "catalog.playbill.dev",
    version = "v1alpha1",
    kind = "System",
    namespaced,
    status = "EntityStatus",
    derive = "PartialEq",
    category = "catalog",
    shortname = "pbsystem",
    shortname = "pbsys",
    doc = "A System is a collection of Components, APIs and Resources that together expose some functionality, in the Backstage catalog model.",
    printcolumn(name = "Owner", type_ = "string", json_path = ".spec.owner"),
    printcolumn(name = "Domain", type_ = "string", json_path = ".spec.domain"),
    printcolumn(name = "Parts", type_ = "integer", json_path = ".status.parts"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Type",
        type_ = "string",
        json_path = ".spec.type",
        priority = 1
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    selectable = ".spec.owner",
    selectable = ".spec.domain",
    selectable = ".spec.type"
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct SystemSpec {
    #[serde(flatten)]
    pub common: CommonFields,
    /// The Group or User that owns the system. The kind defaults to Group and the namespace to
    /// this system's namespace.
    pub owner: EntityRefString,
    /// The Domain the system belongs to. The kind defaults to Domain and the namespace to this
    /// system's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<EntityRefString>,
    /// The type of system, free text.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "type")]
    #[schemars(length(min = 1))]
    pub type_: Option<String>,
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: ExtraFields,
}

/// A business area that groups related systems.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "catalog.playbill.dev",
    version = "v1alpha1",
    kind = "Domain",
    namespaced,
    status = "EntityStatus",
    derive = "PartialEq",
    category = "catalog",
    shortname = "pbdomain",
    shortname = "pbdom",
    doc = "A Domain is a business area that groups related Systems, in the Backstage catalog model.",
    printcolumn(name = "Owner", type_ = "string", json_path = ".spec.owner"),
    printcolumn(
        name = "Subdomain-Of",
        type_ = "string",
        json_path = ".spec.subdomainOf"
    ),
    printcolumn(name = "Parts", type_ = "integer", json_path = ".status.parts"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Type",
        type_ = "string",
        json_path = ".spec.type",
        priority = 1
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    selectable = ".spec.owner",
    selectable = ".spec.subdomainOf",
    selectable = ".spec.type"
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct DomainSpec {
    #[serde(flatten)]
    pub common: CommonFields,
    /// The Group or User that owns the domain. The kind defaults to Group and the namespace to
    /// this domain's namespace.
    pub owner: EntityRefString,
    /// The Domain this one is a subdomain of. The kind defaults to Domain and the namespace to
    /// this domain's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subdomain_of: Option<EntityRefString>,
    /// The type of domain, free text.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "type")]
    #[schemars(length(min = 1))]
    pub type_: Option<String>,
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: ExtraFields,
}

/// A team or other organisational unit.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "catalog.playbill.dev",
    version = "v1alpha1",
    kind = "Group",
    namespaced,
    status = "EntityStatus",
    derive = "PartialEq",
    category = "catalog",
    shortname = "pbgroup",
    shortname = "pbgrp",
    doc = "A Group is a team or other organisational unit of Users, in the Backstage catalog model.",
    printcolumn(name = "Type", type_ = "string", json_path = ".spec.type"),
    printcolumn(name = "Parent", type_ = "string", json_path = ".spec.parent"),
    printcolumn(name = "Members", type_ = "integer", json_path = ".status.members"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Children",
        type_ = "integer",
        json_path = ".status.children",
        priority = 1
    ),
    printcolumn(
        name = "Owns",
        type_ = "integer",
        json_path = ".status.owns",
        priority = 1
    ),
    printcolumn(
        name = "Display-Name",
        type_ = "string",
        json_path = ".spec.profile.displayName",
        priority = 1
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    selectable = ".spec.type",
    selectable = ".spec.parent",
    selectable = ".spec.profile.email"
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct GroupSpec {
    #[serde(flatten)]
    pub common: CommonFields,
    /// The type of group, free text. Conventional values are team, business-unit, product-area
    /// and root.
    #[serde(rename = "type")]
    #[schemars(length(min = 1))]
    pub type_: String,
    /// Profile information about the group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<Profile>,
    /// The parent Group in the organisation hierarchy. The kind defaults to Group and the
    /// namespace to this group's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<EntityRefString>,
    /// Child Groups. Required; may be empty. The kind defaults to Group and the namespace to this
    /// group's namespace.
    pub children: Vec<ListRefString>,
    /// Users who are members of this group. The kind defaults to User and the namespace to this
    /// group's namespace. Membership can also be stated from the User side with memberOf.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members: Option<Vec<ListRefString>>,
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: ExtraFields,
}

/// A person, such as an employee or contractor.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "catalog.playbill.dev",
    version = "v1alpha1",
    kind = "User",
    namespaced,
    status = "EntityStatus",
    derive = "PartialEq",
    category = "catalog",
    shortname = "pbuser",
    shortname = "pbusr",
    doc = "A User is a person, such as an employee or contractor, in the Backstage catalog model.",
    printcolumn(
        name = "Display-Name",
        type_ = "string",
        json_path = ".spec.profile.displayName"
    ),
    printcolumn(name = "Email", type_ = "string", json_path = ".spec.profile.email"),
    printcolumn(name = "Groups", type_ = "integer", json_path = ".status.groups"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Owns",
        type_ = "integer",
        json_path = ".status.owns",
        priority = 1
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    selectable = ".spec.profile.email"
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct UserSpec {
    #[serde(flatten)]
    pub common: CommonFields,
    /// Profile information about the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<Profile>,
    /// Groups the user is a member of. Required; may be empty. The kind defaults to Group and the
    /// namespace to this user's namespace.
    pub member_of: Vec<ListRefString>,
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: ExtraFields,
}
