//! `playbill export` and the operator's HTTP export: the catalog as Backstage entities.
//!
//! Pure: catalog objects in, Backstage entities out. Names, namespaces and rewritten references
//! come back from the annotations `import` left; relations are computed for the restored
//! entities by the same rules the operator uses, so they read exactly as Backstage's catalog
//! API would show them (lowercase refs, Backstage names), with no per-type cap.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

use super::names::{
    BRIDGE_ANNOTATIONS, METADATA_ANNOTATION, METADATA_IN_SPEC, NAME_ANNOTATION,
    NAMESPACE_ANNOTATION, REFS_ANNOTATION, is_backstage_name, kube_name,
};
use crate::api::validate::is_dns_label;
use crate::catalog::CatalogObject;
use crate::consent::Consents;
use crate::model::{
    Entity, EntityRef, RawRef, catalog_relations_where, parse_ref, rule, split_ref,
};

/// Annotations that tools add to live objects and that mean nothing to Backstage.
pub const TOOL_ANNOTATIONS: [&str; 1] = ["kubectl.kubernetes.io/last-applied-configuration"];

/// The fields of Backstage's `metadata` that export writes itself; the extras import kept in
/// [`METADATA_ANNOTATION`] never replace them.
pub const METADATA_FIELDS: [&str; 10] = [
    "namespace",
    "name",
    "uid",
    "etag",
    "labels",
    "annotations",
    "title",
    "description",
    "tags",
    "links",
];

/// A Backstage entity, with its fields in the order Backstage's API lists them.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BackstageEntity {
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    pub kind: String,
    pub metadata: BackstageMetadata,
    pub spec: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relations: Option<Vec<BackstageRelation>>,
    /// The Kubernetes namespace the entity lives in (not part of the output).
    #[serde(skip)]
    pub kube_namespace: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BackstageMetadata {
    pub namespace: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<Value>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub links: Option<Value>,
    /// Backstage metadata that Kubernetes could not hold, as import kept it.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BackstageRelation {
    #[serde(rename = "type")]
    pub type_: String,
    #[serde(rename = "targetRef")]
    pub target_ref: String,
}

/// What an export includes besides the entities themselves.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// `relations`, as Backstage's API shows them. Off for a file Backstage registers as a
    /// location: it computes relations itself.
    pub relations: bool,
    /// `metadata.uid` and `metadata.etag` (the object's uid and resourceVersion), as the API has
    /// them. Off for a location file: Backstage assigns its own.
    pub server_fields: bool,
}

/// The export, and the objects it had to leave out with why.
#[derive(Debug, Default)]
pub struct Export {
    pub entities: Vec<BackstageEntity>,
    pub skipped: Vec<String>,
}

/// The Backstage identity of an object: namespace and name as Backstage knew them.
fn backstage_identity(o: &CatalogObject) -> (String, String) {
    let namespace = o
        .annotations
        .get(NAMESPACE_ANNOTATION)
        .filter(|ns| is_dns_label(ns))
        .cloned()
        .unwrap_or_else(|| o.namespace.clone());
    // Only while it still describes this object: a copied annotation must not rename another.
    let name = o
        .annotations
        .get(NAME_ANNOTATION)
        .filter(|n| is_backstage_name(n) && kube_name(n) == o.name)
        .cloned()
        .unwrap_or_else(|| o.name.clone());
    (namespace, name)
}

/// Converts the catalog into Backstage entities, in the order given.
pub fn export(objects: &[CatalogObject], options: Options, consents: &Consents) -> Export {
    let mut out = Export::default();
    let identities: BTreeMap<EntityRef, (String, String)> = objects
        .iter()
        .map(|o| (o.entity_ref(), backstage_identity(o)))
        .collect();
    let mut restored = Vec::new();
    for o in objects {
        let entity = match &o.entity {
            Ok(e) => e,
            Err(why) => {
                out.skipped.push(format!(
                    "{} {}/{}: spec does not fit the schema: {why}",
                    o.kind, o.namespace, o.name
                ));
                continue;
            }
        };
        let (namespace, name) = identities[&o.entity_ref()].clone();
        let rewrites: BTreeMap<String, [String; 2]> = o
            .annotations
            .get(REFS_ANNOTATION)
            .and_then(|a| serde_json::from_str(a).ok())
            .unwrap_or_default();
        let mut spec = o.spec.clone();
        let mut refs = Vec::with_capacity(entity.refs.len());
        for raw in &entity.refs {
            let path = raw.path();
            let value = match rewrites.get(&path) {
                Some([backstage, kubernetes]) if *kubernetes == raw.value => backstage.clone(),
                _ => restore_ref(raw, o, &namespace, &identities)
                    .unwrap_or_else(|| raw.value.clone()),
            };
            if value != raw.value {
                let slot = match raw.index {
                    Some(i) => spec.get_mut(raw.field).and_then(|l| l.get_mut(i)),
                    None => spec.get_mut(raw.field),
                };
                if let Some(slot) = slot {
                    *slot = Value::String(value.clone());
                }
            }
            refs.push(RawRef {
                value,
                ..raw.clone()
            });
        }
        restored.push(Entity {
            kind: o.kind,
            namespace: namespace.clone(),
            name: name.clone(),
            refs,
        });
        let mut take = |k: &str| spec.remove(k);
        let (title, description, tags, links) = (
            take("title"),
            take("description"),
            take("tags"),
            take("links"),
        );
        debug_assert_eq!(METADATA_IN_SPEC, ["title", "description", "tags", "links"]);
        let annotations = o
            .annotations
            .iter()
            .filter(|(k, _)| {
                !BRIDGE_ANNOTATIONS.contains(&k.as_str()) && !TOOL_ANNOTATIONS.contains(&k.as_str())
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut extra: Map<String, Value> = o
            .annotations
            .get(METADATA_ANNOTATION)
            .and_then(|a| serde_json::from_str(a).ok())
            .unwrap_or_default();
        // Never let the kept extras shadow a field Backstage's metadata already has.
        for k in METADATA_FIELDS {
            extra.remove(k);
        }
        out.entities.push(BackstageEntity {
            api_version: "backstage.io/v1alpha1".into(),
            kind: o.kind.name().into(),
            metadata: BackstageMetadata {
                namespace,
                name,
                uid: o.uid.clone().filter(|_| options.server_fields),
                etag: o.resource_version.clone().filter(|_| options.server_fields),
                title,
                description,
                labels: o.labels.clone(),
                annotations,
                tags,
                links,
                extra,
            },
            spec,
            relations: None,
            kube_namespace: o.namespace.clone(),
        });
    }
    if options.relations {
        // Consent is between Kubernetes namespaces, and the restored Backstage names may
        // differ from them: map both ends back before asking.
        let kube_namespace: BTreeMap<EntityRef, &str> = objects
            .iter()
            .map(|o| {
                let (ns, name) = &identities[&o.entity_ref()];
                (EntityRef::of(o.kind, ns, name), o.namespace.as_str())
            })
            .collect();
        let mut relations = catalog_relations_where(&restored, |e, rule, t| {
            let from = kube_namespace
                .get(&e.entity_ref())
                .copied()
                .unwrap_or(&e.namespace);
            let target = EntityRef {
                namespace: kube_namespace
                    .get(t)
                    .map_or_else(|| t.namespace.clone(), |ns| (*ns).to_owned()),
                ..t.clone()
            };
            consents.permits(from, rule.forward, &target)
        });
        for (entity, e) in out.entities.iter_mut().zip(&restored) {
            let rows = relations.remove(&e.entity_ref()).unwrap_or_default();
            entity.relations = Some(
                rows.into_iter()
                    .map(|r| BackstageRelation {
                        type_: r.rtype.as_str().into(),
                        target_ref: r.target,
                    })
                    .collect(),
            );
        }
    }
    out
}

/// A reference rewritten to name its target as Backstage knows it, when the target is in the
/// catalog under a different Backstage name or namespace; `None` when the text can stay.
fn restore_ref(
    raw: &RawRef,
    holder: &CatalogObject,
    holder_backstage_ns: &str,
    identities: &BTreeMap<EntityRef, (String, String)>,
) -> Option<String> {
    let rule = rule(holder.kind, raw.field)?;
    let parts = split_ref(&raw.value).ok()?;
    let target = parse_ref(&raw.value, rule.default_kind, &holder.namespace).ok()?;
    let (ns, name) = identities.get(&target)?;
    let same_ns = parts.namespace.is_none() && ns == holder_backstage_ns
        || parts.namespace.is_some_and(|p| p.eq_ignore_ascii_case(ns));
    if same_ns && name.eq_ignore_ascii_case(parts.name) {
        return None;
    }
    let mut out = String::new();
    if let Some(kind) = parts.kind {
        out.push_str(kind);
        out.push(':');
    }
    if parts.namespace.is_some() || ns != holder_backstage_ns {
        out.push_str(ns);
        out.push('/');
    }
    out.push_str(name);
    Some(out)
}
