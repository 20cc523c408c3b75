//! The catalog as its readers see it (`export`, `graph`, `resolve`, the HTTP export): one
//! [`CatalogObject`] per entity, whether the cluster module listed it or it was read
//! from manifest files. Pure: no I/O here, so every reader shares one view of an object.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::{Map, Value};

use crate::api::{EntityStatus, GROUP, VERSION, entity_from_value};
use crate::consent::{Consents, CrossNamespaceRefs};
use crate::index::RelationIndex;
use crate::manifest::{Input, ManifestError};
use crate::model::{Entity, EntityRef, Kind};
use crate::status::{READY, render};

/// One catalog object with everything a reader of the catalog sees.
#[derive(Clone, Debug, PartialEq)]
pub struct CatalogObject {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
    pub uid: Option<String>,
    pub resource_version: Option<String>,
    pub generation: Option<i64>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub spec: Map<String, Value>,
    /// The entity as the model reads it, or why `spec` does not fit the schema.
    pub entity: Result<Entity, String>,
    /// The status written by the operator (from the cluster) or resolved offline (from files).
    pub status: Option<EntityStatus>,
}

/// Whether an entity is Ready, as its status says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadyState {
    True,
    False,
    /// No status yet, or one without a Ready condition.
    Unknown,
}

impl CatalogObject {
    /// Reads a catalog object from its JSON form (an API object or a manifest). `None` for
    /// anything that is not a catalog kind; objects without a namespace get `default_namespace`.
    pub fn from_value(mut value: Value, default_namespace: &str) -> Option<CatalogObject> {
        if value.get("apiVersion")?.as_str()? != format!("{GROUP}/{VERSION}") {
            return None;
        }
        let kind = Kind::ALL
            .into_iter()
            .find(|k| value.get("kind").and_then(Value::as_str) == Some(k.name()))?;
        if !value.get("metadata").is_some_and(Value::is_object) {
            value["metadata"] = Value::Object(Map::new());
        }
        let meta = value["metadata"].as_object_mut()?;
        meta.entry("namespace")
            .or_insert_with(|| default_namespace.into());
        let str_map = |v: Option<&Value>| -> BTreeMap<String, String> {
            v.and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                        .collect()
                })
                .unwrap_or_default()
        };
        let text = |k: &str| meta.get(k).and_then(Value::as_str).map(str::to_owned);
        let namespace = text("namespace").unwrap_or_default();
        let name = text("name").unwrap_or_default();
        let uid = text("uid");
        let resource_version = text("resourceVersion");
        let generation = meta.get("generation").and_then(Value::as_i64);
        let labels = str_map(meta.get("labels"));
        let annotations = str_map(meta.get("annotations"));
        let spec = value
            .get("spec")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let status = value
            .get("status")
            .and_then(|s| serde_json::from_value(s.clone()).ok());
        let entity = if name.is_empty() {
            Err("metadata.name: required".to_owned())
        } else {
            entity_from_value(value)?.map_err(|e| e.to_string())
        };
        Some(CatalogObject {
            kind,
            namespace,
            name,
            uid,
            resource_version,
            generation,
            labels,
            annotations,
            spec,
            entity,
            status,
        })
    }

    pub fn entity_ref(&self) -> EntityRef {
        EntityRef::of(self.kind, &self.namespace, &self.name)
    }

    pub fn ready(&self) -> ReadyState {
        let condition = self
            .status
            .as_ref()
            .and_then(|s| s.conditions.iter().find(|c| c.type_ == READY));
        match condition.map(|c| c.status.as_str()) {
            Some("True") => ReadyState::True,
            Some("False") => ReadyState::False,
            _ => ReadyState::Unknown,
        }
    }
}

/// Reads the catalog objects in manifest texts and gives each the status the operator would
/// write. Objects without a namespace get `default_namespace`; documents of other kinds are
/// ignored, and one catalog object that does not fit its schema fails the whole read.
pub fn from_manifests(
    inputs: &[Input],
    default_namespace: &str,
    max_relations_per_type: usize,
    now: &Time,
) -> Result<Vec<CatalogObject>, ManifestError> {
    let (objects, _) = from_manifests_with(
        inputs,
        default_namespace,
        max_relations_per_type,
        CrossNamespaceRefs::Allow,
        now,
    )?;
    Ok(objects)
}

/// [`from_manifests`] with references across namespaces treated as `mode` says, under the
/// `CatalogGrant`s and `Namespace` labels in the same manifests; also returns those.
pub fn from_manifests_with(
    inputs: &[Input],
    default_namespace: &str,
    max_relations_per_type: usize,
    mode: CrossNamespaceRefs,
    now: &Time,
) -> Result<(Vec<CatalogObject>, Consents), ManifestError> {
    let mut out = Vec::new();
    let values = crate::manifest::values(inputs)?;
    let mut consents = Consents::new(mode);
    let mut rest = Vec::new();
    for (source, value) in values {
        match CatalogObject::from_value(value.clone(), default_namespace) {
            Some(obj) => {
                if let Err(e) = &obj.entity {
                    return Err(ManifestError::document(&source, e.clone()));
                }
                out.push(obj);
            }
            None => rest.push((source, value)),
        }
    }
    crate::tenancy::name_labels(&mut consents, out.iter().map(|o| o.namespace.as_str()));
    for (source, value) in &rest {
        crate::tenancy::add_manifest(&mut consents, value, default_namespace)
            .map_err(|e| ManifestError::document(source, e.to_string()))?;
    }
    let mut index = RelationIndex::with_mode(max_relations_per_type, mode);
    for ns in consents.namespaces() {
        let labels = consents.labels(&ns).cloned().unwrap_or_default();
        index.upsert_namespace(&ns, labels);
    }
    for (ns, name) in consents.grant_names() {
        if let Some(g) = consents.grant(&ns, &name) {
            index.upsert_grant(&ns, &name, g.clone());
        }
    }
    for obj in &out {
        if let Ok(entity) = &obj.entity {
            index.upsert(entity, obj.generation);
        }
    }
    index.take_dirty();
    for obj in &mut out {
        obj.status = crate::status::desired(&index, &obj.entity_ref()).map(|mut d| {
            d.status.unknown_fields = crate::api::unknown_fields(
                obj.kind,
                obj.spec.keys().map(String::as_str),
                obj.annotations
                    .get(crate::model::CUSTOM_KEYS_ANNOTATION)
                    .map(String::as_str),
            );
            render(&d, None, now)
        });
    }
    sort(&mut out);
    Ok((out, consents))
}

/// Sorted by kind, namespace and name, the order every reader lists the catalog in.
pub fn sort(objects: &mut [CatalogObject]) {
    objects.sort_by(|a, b| {
        (a.kind.name(), &a.namespace, &a.name).cmp(&(b.kind.name(), &b.namespace, &b.name))
    });
}
