//! The catalog read in full, from the cluster or from manifest files, for the commands that show
//! it (`export`, `graph`, the HTTP export) rather than resolve it.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, DynamicObject, ListParams};
use serde_json::{Map, Value};

use crate::api::{EntityStatus, GROUP, VERSION, api_resource, entity_from_value};
use crate::index::RelationIndex;
use crate::model::{Entity, EntityRef, Kind};
use crate::resolve::ResolveError;
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

/// Lists every catalog object in the cluster (in `namespace`, or in all namespaces), sorted by
/// kind, namespace and name.
pub async fn fetch(
    client: &kube::Client,
    namespace: Option<&str>,
) -> Result<Vec<CatalogObject>, kube::Error> {
    let mut out = Vec::new();
    for kind in Kind::ALL {
        let resource = api_resource(kind);
        let api: Api<DynamicObject> = match namespace {
            Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
            None => Api::all_with(client.clone(), &resource),
        };
        let mut params = ListParams::default().limit(500);
        loop {
            let page = api.list(&params).await?;
            for mut obj in page.items {
                obj.types = Some(kube::api::TypeMeta {
                    api_version: resource.api_version.clone(),
                    kind: resource.kind.clone(),
                });
                let value = serde_json::to_value(&obj).unwrap_or_default();
                out.extend(CatalogObject::from_value(value, ""));
            }
            match page.metadata.continue_ {
                Some(token) if !token.is_empty() => params = params.continue_token(&token),
                _ => break,
            }
        }
    }
    sort(&mut out);
    Ok(out)
}

/// Reads the catalog objects in manifest texts (`(source name, text)`) and gives each the status
/// the operator would write. Objects without a namespace get `default_namespace`.
pub fn from_manifests(
    inputs: &[(String, String)],
    default_namespace: &str,
    max_relations_per_type: usize,
    now: &Time,
) -> Result<Vec<CatalogObject>, ResolveError> {
    use serde::Deserialize;
    let mut out = Vec::new();
    for (path, text) in inputs {
        for (i, doc) in serde_norway::Deserializer::from_str(text).enumerate() {
            let bad = |message: String| ResolveError::Document {
                path: path.clone(),
                index: i + 1,
                message,
            };
            let value = Value::deserialize(doc).map_err(|e| bad(e.to_string()))?;
            if value.is_null() {
                continue;
            }
            if let Some(obj) = CatalogObject::from_value(value, default_namespace) {
                if let Err(e) = &obj.entity {
                    return Err(bad(e.clone()));
                }
                out.push(obj);
            }
        }
    }
    let mut index = RelationIndex::new(max_relations_per_type);
    for obj in &out {
        if let Ok(entity) = &obj.entity {
            index.upsert(entity, obj.generation);
        }
    }
    index.take_dirty();
    for obj in &mut out {
        obj.status =
            crate::status::desired(&index, &obj.entity_ref()).map(|d| render(&d, None, now));
    }
    sort(&mut out);
    Ok(out)
}

fn sort(objects: &mut [CatalogObject]) {
    objects.sort_by(|a, b| {
        (a.kind.name(), &a.namespace, &a.name).cmp(&(b.kind.name(), &b.namespace, &b.name))
    });
}

/// Why a command could not read the catalog.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Files(#[from] ResolveError),
    #[error("cannot read the catalog from the cluster: {0}")]
    Cluster(#[from] kube::Error),
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[from] std::io::Error),
}

/// How much of the catalog a command could read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Coverage {
    /// Every namespace.
    All,
    /// Only this namespace: RBAC forbids listing the others.
    Namespace(String),
}

/// The whole catalog, because relations cross namespaces; only if RBAC forbids listing every
/// namespace, the `fallback` namespace alone (when there is one), and says which it was.
pub async fn fetch_covering(
    client: &kube::Client,
    fallback: Option<&str>,
) -> Result<(Vec<CatalogObject>, Coverage), kube::Error> {
    match fetch(client, None).await {
        Ok(objects) => Ok((objects, Coverage::All)),
        Err(kube::Error::Api(e)) if e.code == 403 && fallback.is_some() => {
            let ns = fallback.unwrap_or_default();
            let objects = fetch(client, Some(ns)).await?;
            Ok((objects, Coverage::Namespace(ns.to_owned())))
        }
        Err(e) => Err(e),
    }
}

/// The catalog for a command: from manifest files (walked directories, `-` for stdin) when
/// `files` names any, otherwise from the cluster that KUBECONFIG or the in-cluster config points
/// at, as [`fetch_covering`] reads it. Objects in files without a namespace get `namespace`, or
/// `default`.
pub fn load(
    files: &[String],
    namespace: Option<&str>,
) -> Result<(Vec<CatalogObject>, Coverage), LoadError> {
    if !files.is_empty() {
        let inputs = crate::resolve::read_inputs(files)?;
        let now = Time(k8s_openapi::jiff::Timestamp::now());
        let objects = from_manifests(
            &inputs,
            namespace.unwrap_or("default"),
            crate::index::DEFAULT_MAX_RELATIONS_PER_TYPE,
            &now,
        )?;
        return Ok((objects, Coverage::All));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let client = kube::Client::try_default().await?;
        Ok(fetch_covering(&client, namespace).await?)
    })
}
