//! The catalog API: custom resource types, their shared fields and status, and the bridge from
//! each resource to the pure model's [`Entity`].

mod fields;
mod grant;
mod kinds;
pub mod policy;
mod status;
pub mod validate;

pub use fields::{
    CommonFields, EntityRefString, ExtraFields, KindedRefString, Link, ListRefString, Profile, Tag,
};
pub use grant::{
    CatalogGrant, CatalogGrantSpec, GrantKind, GrantRelation, GrantSource, GrantTarget,
    NamespaceName,
};
pub use kinds::*;
pub use status::{EntityStatus, RelationEntry, UnknownField, UnresolvedRef};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::{CustomResourceExt, ResourceExt};

use crate::model::{Entity, Kind, RawRef, RefCollector};

/// The API group of every catalog kind.
pub const GROUP: &str = "catalog.playbill.dev";
/// The served and stored version.
pub const VERSION: &str = "v1alpha1";

/// What every catalog custom resource offers the operator.
pub trait CatalogResource:
    kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
    + CustomResourceExt
    + Clone
    + std::fmt::Debug
    + serde::de::DeserializeOwned
    + serde::Serialize
    + Send
    + Sync
    + 'static
{
    const KIND: Kind;

    /// The references in spec, in field order.
    fn refs(&self) -> Vec<RawRef>;

    fn status(&self) -> Option<&EntityStatus>;

    /// The keys of spec that no field of the kind holds.
    fn extra(&self) -> &ExtraFields;

    /// The keys of spec that no field of the kind holds and that are not custom on purpose, as
    /// the status lists them.
    fn unknown_fields(&self) -> Vec<UnknownField> {
        unknown_fields(
            Self::KIND,
            self.extra().keys().map(String::as_str),
            self.annotations()
                .get(crate::model::CUSTOM_KEYS_ANNOTATION)
                .map(String::as_str),
        )
    }

    /// The entity as the pure model sees it.
    fn entity(&self) -> Entity {
        Entity {
            kind: Self::KIND,
            namespace: self.namespace().unwrap_or_default(),
            name: self.name_any(),
            refs: self.refs(),
        }
    }
}

fn strs(list: &Option<Vec<ListRefString>>) -> impl Iterator<Item = &str> {
    list.iter().flatten().map(ListRefString::as_str)
}

fn kinded(list: &Option<Vec<KindedRefString>>) -> impl Iterator<Item = &str> {
    list.iter().flatten().map(KindedRefString::as_str)
}

fn one(r: &Option<EntityRefString>) -> Option<&str> {
    r.as_ref().map(EntityRefString::as_str)
}

macro_rules! catalog_resource {
    ($ty:ty, $kind:expr, |$s:ident| $refs:expr) => {
        impl CatalogResource for $ty {
            const KIND: Kind = $kind;

            fn refs(&self) -> Vec<RawRef> {
                let $s = &self.spec;
                $refs.finish()
            }

            fn status(&self) -> Option<&EntityStatus> {
                self.status.as_ref()
            }

            fn extra(&self) -> &ExtraFields {
                &self.spec.extra
            }
        }
    };
}

catalog_resource!(Component, Kind::Component, |s| RefCollector::default()
    .one("owner", Some(s.owner.as_str()))
    .one("system", one(&s.system))
    .one("subcomponentOf", one(&s.subcomponent_of))
    .many("providesApis", strs(&s.provides_apis))
    .many("consumesApis", strs(&s.consumes_apis))
    .many("dependsOn", kinded(&s.depends_on))
    .many("dependencyOf", kinded(&s.dependency_of)));
catalog_resource!(API, Kind::Api, |s| RefCollector::default()
    .one("owner", Some(s.owner.as_str()))
    .one("system", one(&s.system)));
catalog_resource!(Resource, Kind::Resource, |s| RefCollector::default()
    .one("owner", Some(s.owner.as_str()))
    .one("system", one(&s.system))
    .many("dependsOn", kinded(&s.depends_on))
    .many("dependencyOf", kinded(&s.dependency_of)));
catalog_resource!(System, Kind::System, |s| RefCollector::default()
    .one("owner", Some(s.owner.as_str()))
    .one("domain", one(&s.domain)));
catalog_resource!(Domain, Kind::Domain, |s| RefCollector::default()
    .one("owner", Some(s.owner.as_str()))
    .one("subdomainOf", one(&s.subdomain_of)));
catalog_resource!(Group, Kind::Group, |s| RefCollector::default()
    .one("parent", one(&s.parent))
    .many("children", s.children.iter().map(ListRefString::as_str))
    .many("members", strs(&s.members)));
catalog_resource!(User, Kind::User, |s| RefCollector::default()
    .many("memberOf", s.member_of.iter().map(ListRefString::as_str)));

/// The most unknown fields a status lists.
pub const MAX_UNKNOWN_FIELDS: usize = 20;

/// The fields of `spec` of a `kind` object, as its generated CRD schema names them (sorted): the
/// one list the operator, `playbill validate` and the admission policy in the chart all use.
pub fn known_fields(kind: Kind) -> Vec<&'static str> {
    static KNOWN: std::sync::OnceLock<Vec<(Kind, Vec<String>)>> = std::sync::OnceLock::new();
    let all = KNOWN.get_or_init(|| {
        Kind::ALL
            .into_iter()
            .map(|k| {
                let fields = validate::spec_schema(k)
                    .and_then(|s| s["properties"].as_object())
                    .map(|p| p.keys().cloned().collect())
                    .unwrap_or_default();
                (k, fields)
            })
            .collect()
    });
    all.iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, f)| f.iter().map(String::as_str).collect())
        .unwrap_or_default()
}

/// The keys among `keys` (of a `kind` object's spec) that the kind has no field for and that are
/// not custom (`x-` prefixed or listed in `custom_annotation`, the value of the
/// catalog.playbill.dev/custom-keys annotation), each with its warning; at most
/// [`MAX_UNKNOWN_FIELDS`], those with a suggestion first.
pub fn unknown_fields<'a>(
    kind: Kind,
    keys: impl IntoIterator<Item = &'a str>,
    custom_annotation: Option<&str>,
) -> Vec<UnknownField> {
    let custom = crate::model::custom_keys(custom_annotation);
    let mut unknown = crate::model::unknown_keys(keys, &known_fields(kind), &custom);
    // The likely typos, those with a suggestion, first (as the admission warnings list them).
    unknown.sort_by_key(|u| u.suggestion.is_none());
    unknown
        .into_iter()
        .take(MAX_UNKNOWN_FIELDS)
        .map(|u| UnknownField {
            field: u.field(),
            suggestion: u.suggestion.as_ref().map(|s| format!("spec.{s}")),
            message: u.message(kind),
        })
        .collect()
}

fn decode<K: CatalogResource>(value: serde_json::Value) -> Result<Entity, serde_json::Error> {
    serde_json::from_value::<K>(value).map(|k| k.entity())
}

/// Reads one catalog object of any kind from its JSON form, as found in a manifest.
///
/// Returns `None` for objects that are not catalog kinds, and the deserialisation error (which
/// names the field) for catalog objects that do not fit the schema.
pub fn entity_from_value(value: serde_json::Value) -> Option<Result<Entity, serde_json::Error>> {
    let api_version = value.get("apiVersion")?.as_str()?;
    if api_version != format!("{GROUP}/{VERSION}") {
        return None;
    }
    let kind = Kind::ALL
        .into_iter()
        .find(|k| value.get("kind").and_then(|v| v.as_str()) == Some(k.name()))?;
    Some(match kind {
        Kind::Component => decode::<Component>(value),
        Kind::System => decode::<System>(value),
        Kind::Api => decode::<API>(value),
        Kind::Resource => decode::<Resource>(value),
        Kind::Domain => decode::<Domain>(value),
        Kind::Group => decode::<Group>(value),
        Kind::User => decode::<User>(value),
    })
}

/// The API resource (group, version, kind, plural) of a catalog kind, for dynamic clients.
pub fn api_resource(kind: Kind) -> kube::api::ApiResource {
    use kube::api::ApiResource;
    match kind {
        Kind::Component => ApiResource::erase::<Component>(&()),
        Kind::System => ApiResource::erase::<System>(&()),
        Kind::Api => ApiResource::erase::<API>(&()),
        Kind::Resource => ApiResource::erase::<Resource>(&()),
        Kind::Domain => ApiResource::erase::<Domain>(&()),
        Kind::Group => ApiResource::erase::<Group>(&()),
        Kind::User => ApiResource::erase::<User>(&()),
    }
}

/// Every catalog CRD, in a stable order.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![
        Component::crd(),
        System::crd(),
        API::crd(),
        Resource::crd(),
        Domain::crd(),
        Group::crd(),
        User::crd(),
    ]
}

/// Every CRD Playbill defines: the catalog kinds, then CatalogGrant.
pub fn all_crds() -> Vec<CustomResourceDefinition> {
    let mut all = crds();
    all.push(CatalogGrant::crd());
    all
}

/// Every CRD as one multi-document YAML stream: the bytes committed under `crds/`.
pub fn crds_yaml() -> Result<String, serde_norway::Error> {
    let mut out = String::new();
    for crd in all_crds() {
        out.push_str("---\n");
        out.push_str(&serde_norway::to_string(&crd)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn spec_keeps_unknown_keys_and_round_trips() {
        let value = json!({
            "apiVersion": "catalog.playbill.dev/v1alpha1",
            "kind": "Component",
            "metadata": {"name": "checkout", "namespace": "shop"},
            "spec": {
                "type": "service",
                "lifecycle": "production",
                "owner": "team-a",
                "title": "Checkout",
                "tags": ["java"],
                "links": [{"url": "https://example.com", "title": "Docs"}],
                "dependsOn": ["resource:db"],
                "costCenter": "cc-42",
                "nested": {"a": [1, 2]},
            }
        });
        let c: Component = serde_json::from_value(value.clone()).unwrap();
        assert_eq!(c.spec.common.title.as_deref(), Some("Checkout"));
        assert_eq!(c.spec.extra.get("costCenter"), Some(&json!("cc-42")));
        assert!(
            !c.spec.extra.contains_key("title"),
            "known keys must not leak into extra"
        );
        assert!(!c.spec.extra.contains_key("owner"));
        assert_eq!(serde_json::to_value(&c).unwrap()["spec"], value["spec"]);
    }

    #[test]
    fn known_fields_come_from_the_crd_schema() {
        assert_eq!(
            known_fields(Kind::Component),
            [
                "consumesApis",
                "dependencyOf",
                "dependsOn",
                "description",
                "lifecycle",
                "links",
                "owner",
                "providesApis",
                "subcomponentOf",
                "system",
                "tags",
                "title",
                "type"
            ]
        );
        for kind in Kind::ALL {
            let known = known_fields(kind);
            for common in ["title", "description", "tags", "links"] {
                assert!(known.contains(&common), "{kind:?}: {known:?}");
            }
            for rule in crate::model::rules_for(kind) {
                assert!(known.contains(&rule.field), "{kind:?}: {}", rule.field);
            }
        }
        // Exactly the keys serde keeps aside as extra are reported.
        let c: Component = serde_json::from_value(json!({
            "apiVersion": "catalog.playbill.dev/v1alpha1", "kind": "Component",
            "metadata": {"name": "c", "namespace": "n"},
            "spec": {"type": "t", "lifecycle": "l", "owner": "o", "title": "T",
                "tags": ["a"], "sytem": "s"}
        }))
        .unwrap();
        let unknown: Vec<_> = c.unknown_fields().into_iter().map(|u| u.field).collect();
        assert_eq!(unknown, ["spec.sytem"]);
    }

    #[test]
    fn entity_lists_references_in_field_order_with_indexes() {
        let c: Component = serde_json::from_value(json!({
            "apiVersion": "catalog.playbill.dev/v1alpha1",
            "kind": "Component",
            "metadata": {"name": "checkout", "namespace": "shop"},
            "spec": {
                "type": "service", "lifecycle": "production", "owner": "team-a",
                "system": "shop", "providesApis": ["orders"], "dependsOn": ["resource:db", "component:auth"]
            }
        }))
        .unwrap();
        let e = c.entity();
        assert_eq!(
            (e.kind, e.namespace.as_str(), e.name.as_str()),
            (Kind::Component, "shop", "checkout")
        );
        let paths: Vec<_> = e
            .refs
            .iter()
            .map(|r| (r.path(), r.value.as_str()))
            .collect();
        assert_eq!(
            paths,
            [
                ("spec.owner".to_string(), "team-a"),
                ("spec.system".to_string(), "shop"),
                ("spec.providesApis[0]".to_string(), "orders"),
                ("spec.dependsOn[0]".to_string(), "resource:db"),
                ("spec.dependsOn[1]".to_string(), "component:auth"),
            ]
        );
    }

    #[test]
    fn group_and_user_references() {
        let g: Group = serde_json::from_value(json!({
            "apiVersion": "catalog.playbill.dev/v1alpha1", "kind": "Group",
            "metadata": {"name": "team-a", "namespace": "org"},
            "spec": {"type": "team", "parent": "eng", "children": [], "members": ["jdoe"]}
        }))
        .unwrap();
        let refs: Vec<_> = g.refs().into_iter().map(|r| r.path()).collect();
        assert_eq!(refs, ["spec.parent", "spec.members[0]"]);
        let u: User = serde_json::from_value(json!({
            "apiVersion": "catalog.playbill.dev/v1alpha1", "kind": "User",
            "metadata": {"name": "jdoe", "namespace": "org"},
            "spec": {"memberOf": ["team-a", "group:ops/sre"]}
        }))
        .unwrap();
        let refs: Vec<_> = u.refs().into_iter().map(|r| r.path()).collect();
        assert_eq!(refs, ["spec.memberOf[0]", "spec.memberOf[1]"]);
    }

    /// The `.one`/`.many` field names above restate the rule table by hand; a typo or a swapped
    /// field there would silently drop or misfile a relation. Fill every field the table names
    /// for a kind (two entries for a list, each value naming its field), decode with the CRD
    /// type, and require exactly the table's fields back, with the table's list-ness and values.
    #[test]
    fn crd_reference_fields_match_the_rule_table() {
        use std::collections::BTreeSet;
        let required = |kind: Kind| match kind {
            Kind::Component => json!({"type": "service", "lifecycle": "production"}),
            Kind::Api => json!({"type": "openapi", "lifecycle": "production", "definition": "x"}),
            Kind::Resource | Kind::Group => json!({"type": "t"}),
            Kind::System | Kind::Domain | Kind::User => json!({}),
        };
        // Kinded, so the value is valid in any reference field, and unique per field and entry.
        let value = |field: &str, i: usize| format!("component:{}-{i}", field.to_lowercase());
        for kind in Kind::ALL {
            let mut spec = required(kind);
            let mut want = BTreeSet::new();
            for rule in crate::model::rules_for(kind) {
                let entries = if rule.list {
                    vec![Some(0), Some(1)]
                } else {
                    vec![None]
                };
                for &index in &entries {
                    want.insert((rule.field, index, value(rule.field, index.unwrap_or(0))));
                }
                spec[rule.field] = match rule.list {
                    true => json!([value(rule.field, 0), value(rule.field, 1)]),
                    false => json!(value(rule.field, 0)),
                };
            }
            assert!(!want.is_empty(), "{kind:?} holds no references");
            let entity = entity_from_value(json!({
                "apiVersion": format!("{GROUP}/{VERSION}"),
                "kind": kind.name(),
                "metadata": {"name": "x", "namespace": "n"},
                "spec": spec,
            }))
            .expect("a catalog kind")
            .unwrap_or_else(|e| panic!("{kind:?}: {e}"));
            let got: BTreeSet<_> = entity
                .refs
                .into_iter()
                .map(|r| (r.field, r.index, r.value))
                .collect();
            assert_eq!(
                got, want,
                "{kind:?}: CRD reference fields differ from the rule table"
            );
        }
    }

    #[test]
    fn every_kind_has_a_crd_and_the_model_kind_matches() {
        assert_eq!(Component::KIND.name(), "Component");
        assert_eq!(API::KIND.name(), "API");
        assert_eq!(Resource::KIND.name(), "Resource");
        assert_eq!(System::KIND.name(), "System");
        assert_eq!(Domain::KIND.name(), "Domain");
        assert_eq!(Group::KIND.name(), "Group");
        assert_eq!(User::KIND.name(), "User");
        for (crd, kind) in crds().iter().zip([
            Kind::Component,
            Kind::System,
            Kind::Api,
            Kind::Resource,
            Kind::Domain,
            Kind::Group,
            Kind::User,
        ]) {
            assert_eq!(crd.spec.names.kind, kind.name());
        }
    }
}
