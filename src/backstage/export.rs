//! `playbill export` and the operator's HTTP export: the catalog as Backstage entities.
//!
//! Pure: catalog objects in, Backstage entities out. Names, namespaces and rewritten references
//! come back from the annotations `import` left; relations are computed for the restored
//! entities by the same rules the operator uses, so they read exactly as Backstage's catalog
//! API would show them (lowercase refs, Backstage names), with no per-type cap.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::{Map, Value};

use super::names::{
    BRIDGE_ANNOTATIONS, METADATA_ANNOTATION, METADATA_IN_SPEC, NAME_ANNOTATION,
    NAMESPACE_ANNOTATION, REFS_ANNOTATION, is_backstage_name, kube_name,
};
use crate::api::validate::is_dns_label;
use crate::catalog::CatalogObject;
use crate::consent::{Consents, CrossNamespaceRefs};
use crate::model::{
    Entity, EntityRef, Kind, RawRef, RefRule, Relation, catalog_relations_where, parse_ref, rule,
    split_ref,
};

/// Annotations that tools add to live objects and that mean nothing to Backstage.
pub const TOOL_ANNOTATIONS: [&str; 1] = ["kubectl.kubernetes.io/last-applied-configuration"];

/// The annotations that an object's Backstage identity and restored references are read from
/// ([`Exporter::new`], [`Exporter::restored`]).
pub const HEAD_ANNOTATIONS: [&str; 3] = [NAME_ANNOTATION, NAMESPACE_ANNOTATION, REFS_ANNOTATION];

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

/// What an object's Backstage identity, restored references and relations are read from: the
/// object without its spec, labels or other annotations. The catalog API keeps one per object
/// between exports.
#[derive(Clone, Debug)]
pub struct Head {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
    /// Only those of [`HEAD_ANNOTATIONS`] the object has.
    pub annotations: BTreeMap<String, String>,
    pub entity: Result<Entity, String>,
}

impl Head {
    pub fn of(o: &CatalogObject) -> Head {
        Head {
            kind: o.kind,
            namespace: o.namespace.clone(),
            name: o.name.clone(),
            annotations: o
                .annotations
                .iter()
                .filter(|(k, _)| HEAD_ANNOTATIONS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            entity: o.entity.clone(),
        }
    }

    pub fn entity_ref(&self) -> EntityRef {
        EntityRef::of(self.kind, &self.namespace, &self.name)
    }
}

/// The Backstage identity of an object: namespace and name as Backstage knew them.
fn backstage_identity(o: &Head) -> (String, String) {
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
    let heads: Vec<Head> = objects.iter().map(Head::of).collect();
    let exporter = Exporter::new(&heads, options);
    let mut restored = Vec::new();
    for (o, head) in objects.iter().zip(&heads) {
        match exporter.restored(head) {
            Ok(e) => restored.push(e),
            Err(why) => out.skipped.push(format!(
                "{} {}/{}: spec does not fit the schema: {why}",
                o.kind, o.namespace, o.name
            )),
        }
    }
    let mut relations = options
        .relations
        .then(|| exporter.relations(&restored, consents));
    for (o, e) in objects.iter().filter(|o| o.entity.is_ok()).zip(&restored) {
        let rows = relations
            .as_mut()
            .map(|r| backstage_relations(r.remove(&e.entity_ref()).unwrap_or_default()));
        out.entities.push(exporter.entity(o, e, rows));
    }
    out
}

/// The relations of one entity as Backstage's API lists them.
pub fn backstage_relations(rows: impl IntoIterator<Item = Relation>) -> Vec<BackstageRelation> {
    rows.into_iter()
        .map(|r| BackstageRelation {
            type_: r.rtype.as_str().into(),
            target_ref: r.target,
        })
        .collect()
}

/// The export in steps, for a caller that keeps entities between exports (the catalog API):
/// what every object's Backstage identity is, each object's references restored to Backstage
/// names, the relations of them all, and one object's entity. The identities and the
/// restoring read only kind, namespace, name, annotations and the model's entity of each
/// object, not its spec.
pub struct Exporter {
    options: Options,
    identities: BTreeMap<EntityRef, (String, String)>,
    /// The Kubernetes namespace of each restored Backstage ref.
    kube_namespace: BTreeMap<EntityRef, String>,
}

impl Exporter {
    pub fn new<'a>(objects: impl IntoIterator<Item = &'a Head>, options: Options) -> Self {
        let mut identities = BTreeMap::new();
        let mut kube_namespace = BTreeMap::new();
        for o in objects {
            let (ns, name) = backstage_identity(o);
            kube_namespace.insert(EntityRef::of(o.kind, &ns, &name), o.namespace.clone());
            identities.insert(o.entity_ref(), (ns, name));
        }
        Exporter {
            options,
            identities,
            kube_namespace,
        }
    }

    fn identity(&self, o: &Head) -> (String, String) {
        self.identities
            .get(&o.entity_ref())
            .cloned()
            .unwrap_or_else(|| backstage_identity(o))
    }

    /// The object as the model entity Backstage would read: its Backstage name and namespace,
    /// and its references as Backstage knows their targets (in the order of `o.entity`'s);
    /// why not, when its spec does not fit the schema.
    pub fn restored(&self, o: &Head) -> Result<Entity, String> {
        let entity = o.entity.as_ref().map_err(Clone::clone)?;
        let (namespace, name) = self.identity(o);
        let rewrites: BTreeMap<String, [String; 2]> = o
            .annotations
            .get(REFS_ANNOTATION)
            .and_then(|a| serde_json::from_str(a).ok())
            .unwrap_or_default();
        let refs = entity
            .refs
            .iter()
            .map(|raw| {
                let value = match rewrites.get(&raw.path()) {
                    Some([backstage, kubernetes]) if *kubernetes == raw.value => backstage.clone(),
                    _ => restore_ref(raw, o, &namespace, &self.identities)
                        .unwrap_or_else(|| raw.value.clone()),
                };
                RawRef {
                    value,
                    ..raw.clone()
                }
            })
            .collect();
        Ok(Entity {
            kind: o.kind,
            namespace,
            name,
            refs,
        })
    }

    /// The relations of every restored entity, counting only the references `consents`
    /// permits. Consent is between Kubernetes namespaces, and the restored Backstage names may
    /// differ from them: both ends are mapped back before asking.
    pub fn relations(
        &self,
        restored: &[Entity],
        consents: &Consents,
    ) -> BTreeMap<EntityRef, BTreeSet<Relation>> {
        catalog_relations_where(restored, |e, rule, t| self.permits(consents, e, rule, t))
    }

    fn permits(&self, consents: &Consents, e: &Entity, rule: &RefRule, t: &EntityRef) -> bool {
        if consents.mode() == CrossNamespaceRefs::Allow {
            return true;
        }
        let from = self
            .kube_namespace
            .get(&e.entity_ref())
            .map_or(e.namespace.as_str(), String::as_str);
        let target = EntityRef {
            namespace: self
                .kube_namespace
                .get(t)
                .map_or_else(|| t.namespace.clone(), Clone::clone),
            ..t.clone()
        };
        consents.permits(from, rule.forward, &target)
    }

    /// The Backstage entity of `o`, given what [`Exporter::restored`] made of it and its
    /// relations (`None` without them).
    pub fn entity(
        &self,
        o: &CatalogObject,
        restored: &Entity,
        relations: Option<Vec<BackstageRelation>>,
    ) -> BackstageEntity {
        let mut spec = o.spec.clone();
        if let Ok(entity) = &o.entity {
            for (raw, value) in entity.refs.iter().zip(&restored.refs) {
                if value.value == raw.value {
                    continue;
                }
                let slot = match raw.index {
                    Some(i) => spec.get_mut(raw.field).and_then(|l| l.get_mut(i)),
                    None => spec.get_mut(raw.field),
                };
                if let Some(slot) = slot {
                    *slot = Value::String(value.value.clone());
                }
            }
        }
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
        BackstageEntity {
            api_version: "backstage.io/v1alpha1".into(),
            kind: o.kind.name().into(),
            metadata: BackstageMetadata {
                namespace: restored.namespace.clone(),
                name: restored.name.clone(),
                uid: o.uid.clone().filter(|_| self.options.server_fields),
                etag: o
                    .resource_version
                    .clone()
                    .filter(|_| self.options.server_fields),
                title,
                description,
                labels: o.labels.clone(),
                annotations,
                tags,
                links,
                extra,
            },
            spec,
            relations,
            kube_namespace: o.namespace.clone(),
        }
    }
}

/// A reference rewritten to name its target as Backstage knows it, when the target is in the
/// catalog under a different Backstage name or namespace; `None` when the text can stay.
fn restore_ref(
    raw: &RawRef,
    holder: &Head,
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
