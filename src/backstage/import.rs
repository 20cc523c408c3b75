//! `playbill import`: Backstage catalog-info.yaml documents into Playbill manifests (docs/backstage.md#moving-in-playbill-import).
//!
//! Pure: texts in, manifests and messages out. Every entity is converted whole or reported;
//! nothing half-converted reaches the output.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::names::{
    METADATA_ANNOTATION, METADATA_IN_SPEC, NAME_ANNOTATION, NAMESPACE_ANNOTATION, REFS_ANNOTATION,
    import_ref, is_backstage_name, kube_name, move_namespace,
};
use crate::api::validate::{
    FieldError, is_dns_label, is_label_value, is_qualified_name, validate_spec,
};
use crate::api::{GROUP, VERSION, entity_from_value};
pub use crate::manifest::Source;
use crate::model::{EntityRef, Kind, parse_ref, rule, rules_for};

/// An entity that cannot be imported, and the field that is at fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportError {
    pub source: Source,
    pub field: String,
    pub message: String,
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.source, self.field, self.message)
    }
}

/// A Playbill manifest, with its fields in the order people expect to read them.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Manifest {
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    pub kind: String,
    pub metadata: ManifestMetadata,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spec: Option<Map<String, Value>>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ManifestMetadata {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// One imported entity.
#[derive(Clone, Debug, PartialEq)]
pub struct Imported {
    pub source: Source,
    pub kind: Kind,
    /// The Backstage name as written, for messages.
    pub backstage_name: String,
    pub backstage_namespace: String,
    /// The references import rewrote: path → [as Backstage wrote it, as Kubernetes holds it].
    pub rewritten: BTreeMap<String, [String; 2]>,
    pub manifest: Manifest,
}

/// What an import produced.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Namespaces the entities need, other than `default`, as Namespace manifests.
    pub namespaces: Vec<Manifest>,
    pub entities: Vec<Imported>,
    /// Documents skipped on purpose (Location, Template).
    pub notes: Vec<String>,
    pub errors: Vec<ImportError>,
}

impl Outcome {
    /// The manifests as one multi-document YAML stream: namespaces first, then the entities in
    /// input order.
    pub fn to_yaml(&self) -> Result<String, serde_json::Error> {
        let docs = self
            .namespaces
            .iter()
            .chain(self.entities.iter().map(|e| &e.manifest))
            .map(serde_json::to_value)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(crate::yaml::documents(&docs))
    }
}

/// Options of an import.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Backstage namespace → Kubernetes namespace, for the namespaces that move.
    pub namespaces: BTreeMap<String, String>,
    /// Leave the Namespace manifests out (when namespaces are managed elsewhere).
    pub skip_namespaces: bool,
}

enum Document {
    Empty,
    Skipped(String),
    Entity(Box<Imported>),
    Invalid(Vec<FieldError>),
}

/// Imports every document of every input `(source name, text)`; placeholders (`{$text: ./file}`)
/// are refused, as no files can be read.
pub fn import(inputs: &[crate::manifest::Input], options: &Options) -> Outcome {
    import_with(inputs, options, &super::placeholders::NoFiles)
}

/// Imports every document of every input `(source name, text)`, with Backstage's placeholders
/// resolved from `files`. An input that a placeholder reads (an `openapi.yaml` next to the
/// entity, in a directory being imported) is data, not entities: it is skipped with a note.
pub fn import_with(
    inputs: &[crate::manifest::Input],
    options: &Options,
    files: &dyn super::placeholders::Files,
) -> Outcome {
    let mut out = Outcome::default();
    let mut read = BTreeSet::new();
    let mut documents = Vec::new();
    for (path, text) in inputs {
        for (source, value) in crate::manifest::documents(path, text) {
            let value = value.map(|mut value| {
                let errors = super::placeholders::resolve(&mut value, path, files, &mut read);
                (value, errors)
            });
            let failed = value.is_err();
            documents.push((source, value));
            if failed {
                // Nothing follows it: the rest of this file is unreadable.
                break;
            }
        }
    }
    let mut noted = BTreeSet::new();
    for (source, value) in documents {
        if files
            .identify(&source.path)
            .is_some_and(|f| read.contains(&f))
        {
            if noted.insert(source.path.clone()) {
                out.notes.push(format!(
                    "{}: skipped: a placeholder reads this file as data",
                    source.path
                ));
            }
            continue;
        }
        {
            let value = match value {
                Ok((value, errors)) if errors.is_empty() => value,
                Ok((_, errors)) => {
                    out.errors.extend(errors.into_iter().map(|e| ImportError {
                        source: source.clone(),
                        field: e.path,
                        message: e.message,
                    }));
                    continue;
                }
                Err(e) => {
                    out.errors.push(ImportError {
                        source,
                        field: "document".into(),
                        message: format!("not valid YAML: {e}"),
                    });
                    continue;
                }
            };
            let converted = convert(&value, source.clone(), options);
            match converted {
                Document::Empty => {}
                Document::Skipped(note) => out.notes.push(format!("{source}: {note}")),
                Document::Entity(e) => out.entities.push(*e),
                Document::Invalid(errors) => {
                    out.errors.extend(errors.into_iter().map(|e| ImportError {
                        source: source.clone(),
                        field: e.path,
                        message: e.message,
                    }))
                }
            }
        }
    }
    reject_collisions(&mut out);
    keep_dangling_references_dangling(&mut out, &options.namespaces);
    // In input order; a stable sort keeps each document's errors in field order.
    out.errors.sort_by(|a, b| a.source.cmp(&b.source));
    if !options.skip_namespaces {
        let used: BTreeSet<&str> = out
            .entities
            .iter()
            .filter_map(|e| e.manifest.metadata.namespace.as_deref())
            .filter(|ns| *ns != "default")
            .collect();
        out.namespaces = used
            .into_iter()
            .map(|ns| Manifest {
                api_version: "v1".into(),
                kind: "Namespace".into(),
                metadata: ManifestMetadata {
                    name: ns.into(),
                    namespace: None,
                    labels: BTreeMap::new(),
                    annotations: BTreeMap::new(),
                },
                spec: None,
            })
            .collect();
    }
    out
}

/// Two entities that become the same Kubernetes object are both refused: keeping either would
/// silently drop the other.
fn reject_collisions(out: &mut Outcome) {
    let mut by_object: BTreeMap<(Kind, String, String), Vec<usize>> = BTreeMap::new();
    for (i, e) in out.entities.iter().enumerate() {
        let m = &e.manifest.metadata;
        by_object
            .entry((
                e.kind,
                m.namespace.clone().unwrap_or_default(),
                m.name.clone(),
            ))
            .or_default()
            .push(i);
    }
    let mut rejected = BTreeSet::new();
    for ((kind, ns, name), members) in by_object {
        if members.len() < 2 {
            continue;
        }
        for &i in &members {
            let others: Vec<String> = members
                .iter()
                .filter(|&&j| j != i)
                .map(|&j| {
                    let o = &out.entities[j];
                    format!("{:?} ({})", o.backstage_name, o.source)
                })
                .collect();
            let e = &out.entities[i];
            out.errors.push(ImportError {
                source: e.source.clone(),
                field: "metadata.name".into(),
                message: format!(
                    "{:?} and {} would both be the {kind} {ns}/{name}: rename one of them",
                    e.backstage_name,
                    others.join(" and ")
                ),
            });
            rejected.insert(i);
        }
    }
    let mut i = 0;
    out.entities.retain(|_| {
        i += 1;
        !rejected.contains(&(i - 1))
    });
}

/// A reference that Backstage leaves dangling can, once normalised, name an entity that exists
/// (`Team_A` when only `team-a` exists), and Playbill would resolve what Backstage does not. Such
/// a reference keeps its name as written, so it dangles in both, and import says so.
fn keep_dangling_references_dangling(out: &mut Outcome, namespaces: &BTreeMap<String, String>) {
    let known: BTreeMap<EntityRef, EntityRef> = out
        .entities
        .iter()
        .map(|e| {
            let m = &e.manifest.metadata;
            let kube = EntityRef::of(e.kind, m.namespace.as_deref().unwrap_or(""), &m.name);
            let backstage = EntityRef::of(e.kind, &e.backstage_namespace, &e.backstage_name);
            (kube, backstage)
        })
        .collect();
    for e in &mut out.entities {
        let ns = e.manifest.metadata.namespace.clone().unwrap_or_default();
        let mut changed = false;
        for (path, [original, rewritten]) in e.rewritten.clone() {
            let field = path
                .trim_start_matches("spec.")
                .split('[')
                .next()
                .unwrap_or_default();
            let Some(rule) = rule(e.kind, field) else {
                continue;
            };
            let (Ok(meant), Ok(target)) = (
                parse_ref(&original, rule.default_kind, &e.backstage_namespace),
                parse_ref(&rewritten, rule.default_kind, &ns),
            ) else {
                continue;
            };
            let Some(found) = known.get(&target).filter(|found| **found != meant) else {
                continue;
            };
            let kept = move_namespace(&original, namespaces).unwrap_or_else(|| original.clone());
            out.notes.push(format!(
                "{}: {path}: {original:?} names no entity, as in Backstage; it is kept as {kept:?}, not normalised to {rewritten:?}, which would name {found}",
                e.source
            ));
            let spec = e.manifest.spec.get_or_insert_default();
            let index = path
                .split('[')
                .nth(1)
                .and_then(|i| i.trim_end_matches(']').parse::<usize>().ok());
            let slot = match index {
                Some(i) => spec.get_mut(field).and_then(|l| l.get_mut(i)),
                None => spec.get_mut(field),
            };
            if let Some(slot) = slot {
                *slot = Value::String(kept.clone());
            }
            if kept == original {
                e.rewritten.remove(&path);
            } else {
                e.rewritten.insert(path, [original, kept]);
            }
            changed = true;
        }
        if changed {
            let annotations = &mut e.manifest.metadata.annotations;
            if e.rewritten.is_empty() {
                annotations.remove(REFS_ANNOTATION);
            } else {
                annotations.insert(REFS_ANNOTATION.into(), json!(e.rewritten).to_string());
            }
        }
    }
}

fn field_error(path: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        path: path.into(),
        message: message.into(),
    }
}

/// A string-to-string map from `metadata.<key>`, checked with Kubernetes' rules.
fn string_map(
    meta: &Map<String, Value>,
    key: &str,
    value_ok: fn(&str) -> bool,
    errors: &mut Vec<FieldError>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(v) = meta.get(key) else {
        return out;
    };
    let Some(map) = v.as_object() else {
        errors.push(field_error(&format!("metadata.{key}"), "must be a mapping"));
        return out;
    };
    for (k, v) in map {
        let path = format!("metadata.{key}.{k}");
        if !is_qualified_name(k) {
            errors.push(field_error(
                &path,
                "key must be an optional DNS prefix and '/', then 1-63 letters, digits, '-', '_' or '.'",
            ));
        }
        match v.as_str() {
            Some(s) if value_ok(s) => {
                out.insert(k.clone(), s.to_owned());
            }
            Some(_) => errors.push(field_error(
                &path,
                "must be at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit",
            )),
            None => errors.push(field_error(&path, "must be a string")),
        }
    }
    out
}

fn convert(doc: &Value, source: Source, options: &Options) -> Document {
    if doc.is_null() {
        return Document::Empty;
    }
    let Some(top) = doc.as_object() else {
        return Document::Invalid(vec![field_error("document", "must be a mapping")]);
    };
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_owned();
    let kind_text = text(top.get("kind"));
    let name_text = text(doc.pointer("/metadata/name"));
    match kind_text.to_ascii_lowercase().as_str() {
        "location" => {
            return Document::Skipped(format!(
                "skipped Location {name_text:?}: Playbill reads entities, not locations; import the files it points to"
            ));
        }
        "template" => {
            return Document::Skipped(format!(
                "skipped Template {name_text:?}: templates belong to Backstage's scaffolder, not to the catalog"
            ));
        }
        _ => {}
    }
    let mut errors = Vec::new();
    let api_version = text(top.get("apiVersion"));
    if api_version.is_empty() {
        errors.push(field_error("apiVersion", "Required value"));
    } else if !api_version.starts_with("backstage.io/") {
        errors.push(field_error(
            "apiVersion",
            format!("{api_version:?} is not a Backstage catalog version (backstage.io/v1alpha1)"),
        ));
    }
    let kind = Kind::parse(&kind_text);
    if kind_text.is_empty() {
        errors.push(field_error("kind", "Required value"));
    } else if kind.is_none() {
        errors.push(field_error(
            "kind",
            format!(
                "{kind_text:?} is not a kind Playbill holds ({})",
                Kind::ALL.map(Kind::name).join(", ")
            ),
        ));
    }
    let Some(kind) = kind else {
        return Document::Invalid(errors);
    };
    for key in top.keys() {
        if ![
            "apiVersion",
            "kind",
            "metadata",
            "spec",
            "relations",
            "status",
        ]
        .contains(&key.as_str())
        {
            errors.push(field_error(key, "not a field of a Backstage entity"));
        }
    }
    let empty = Map::new();
    let meta = match top.get("metadata") {
        Some(Value::Object(m)) => m,
        Some(_) => {
            errors.push(field_error("metadata", "must be a mapping"));
            &empty
        }
        None => {
            errors.push(field_error("metadata", "Required value"));
            &empty
        }
    };
    let name = match meta.get("name") {
        None if top.contains_key("metadata") => {
            errors.push(field_error("metadata.name", "Required value"));
            String::new()
        }
        None => String::new(),
        Some(Value::String(n)) if is_backstage_name(n) => n.clone(),
        Some(_) => {
            errors.push(field_error(
                "metadata.name",
                "must be 1-63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit",
            ));
            String::new()
        }
    };
    let backstage_ns = match meta.get("namespace") {
        None => "default".to_owned(),
        Some(Value::String(ns)) if is_dns_label(ns) => ns.clone(),
        Some(_) => {
            errors.push(field_error(
                "metadata.namespace",
                "must be 1-63 lowercase letters, digits and '-', starting and ending with a letter or digit",
            ));
            "default".to_owned()
        }
    };
    let labels = string_map(meta, "labels", is_label_value, &mut errors);
    let mut annotations = string_map(meta, "annotations", |_| true, &mut errors);
    for key in annotations.keys() {
        if key.starts_with("catalog.playbill.dev/") {
            errors.push(field_error(
                &format!("metadata.annotations.{key}"),
                "catalog.playbill.dev/ annotations are Playbill's own",
            ));
        }
    }
    let mut spec = match top.get("spec") {
        Some(Value::Object(s)) => s.clone(),
        Some(_) => {
            errors.push(field_error("spec", "must be a mapping"));
            Map::new()
        }
        None => {
            errors.push(field_error("spec", "Required value"));
            Map::new()
        }
    };
    // Backstage metadata that Kubernetes metadata cannot hold: the four catalog fields move into
    // spec, anything else is kept in an annotation.
    let mut extra_meta = Map::new();
    for (key, value) in meta {
        match key.as_str() {
            "name" | "namespace" | "labels" | "annotations" => {}
            // Assigned by a Backstage server, not part of what anyone writes.
            "uid" | "etag" => {}
            k if METADATA_IN_SPEC.contains(&k) => {
                if spec.contains_key(k) {
                    errors.push(field_error(
                        &format!("spec.{k}"),
                        format!("Playbill keeps metadata.{k} in spec.{k}; this entity has both"),
                    ));
                }
                spec.insert(k.to_owned(), value.clone());
            }
            _ => {
                extra_meta.insert(key.clone(), value.clone());
            }
        }
    }
    for k in METADATA_IN_SPEC {
        if top.get("spec").and_then(|s| s.get(k)).is_some() && !meta.contains_key(k) {
            errors.push(field_error(
                &format!("spec.{k}"),
                format!("Playbill keeps metadata.{k} here; move it into metadata or rename it"),
            ));
        }
    }
    let namespace = options
        .namespaces
        .get(&backstage_ns)
        .cloned()
        .unwrap_or_else(|| backstage_ns.clone());
    let kname = kube_name(&name);

    // References: normalised wherever the target's name or namespace changes.
    let mut rewritten: BTreeMap<String, [String; 2]> = BTreeMap::new();
    for rule in rules_for(kind) {
        let mut rewrite = |path: String, v: &mut Value| {
            if let Some(raw) = v.as_str()
                && let Some(new) = import_ref(raw, &options.namespaces)
            {
                rewritten.insert(path, [raw.to_owned(), new.clone()]);
                *v = Value::String(new);
            }
        };
        match spec.get_mut(rule.field) {
            Some(Value::Array(items)) => {
                for (i, item) in items.iter_mut().enumerate() {
                    rewrite(format!("spec.{}[{i}]", rule.field), item);
                }
            }
            Some(v) => rewrite(format!("spec.{}", rule.field), v),
            None => {}
        }
    }

    let spec_value = Value::Object(spec);
    for e in validate_spec(kind, &spec_value) {
        // Report the fields that came from Backstage's metadata where the user wrote them.
        let path = METADATA_IN_SPEC
            .iter()
            .find(|k| e.path.starts_with(&format!("spec.{k}")) && meta.contains_key(**k))
            .map(|_| e.path.replacen("spec.", "metadata.", 1))
            .unwrap_or(e.path);
        errors.push(field_error(&path, e.message));
    }
    if !errors.is_empty() {
        return Document::Invalid(errors);
    }

    if kname != name {
        annotations.insert(NAME_ANNOTATION.into(), name.clone());
    }
    if namespace != backstage_ns {
        annotations.insert(NAMESPACE_ANNOTATION.into(), backstage_ns.clone());
    }
    if !rewritten.is_empty() {
        annotations.insert(REFS_ANNOTATION.into(), json!(rewritten).to_string());
    }
    if !extra_meta.is_empty() {
        annotations.insert(
            METADATA_ANNOTATION.into(),
            Value::Object(extra_meta).to_string(),
        );
    }
    let Value::Object(spec) = spec_value else {
        unreachable!("built as an object above")
    };
    let manifest = Manifest {
        api_version: format!("{GROUP}/{VERSION}"),
        kind: kind.name().into(),
        metadata: ManifestMetadata {
            name: kname,
            namespace: Some(namespace),
            labels,
            annotations,
        },
        spec: Some(spec),
    };
    // The schema check above is the admission check; the typed read must agree with it.
    if let Some(Err(e)) = serde_json::to_value(&manifest)
        .ok()
        .and_then(entity_from_value)
    {
        return Document::Invalid(vec![field_error("spec", e.to_string())]);
    }
    Document::Entity(Box::new(Imported {
        source,
        kind,
        backstage_name: name,
        backstage_namespace: backstage_ns,
        rewritten,
        manifest,
    }))
}
