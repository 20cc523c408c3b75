//! Offline validation of a catalog object against the same rules the API server applies at
//! admission: the CRD's own OpenAPI schema (types, required fields, lengths, patterns, list
//! sizes) and its CEL rules, read from the generated CRDs rather than restated, so `playbill
//! import` and `playbill validate` refuse exactly what `kubectl apply` would refuse, naming the
//! same field; unlike the API server they report the CEL rules of an object whose schema fails.

use std::collections::HashMap;
use std::sync::OnceLock;

use regex::Regex;
use serde_json::Value;

use super::crds;
use crate::model::Kind;

/// One field that admission would refuse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// `spec.tags[2]`, `metadata.name`.
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// The `spec` schema of every kind, as the generated CRDs carry it.
fn spec_schemas() -> &'static HashMap<String, Value> {
    static SCHEMAS: OnceLock<HashMap<String, Value>> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        crds()
            .into_iter()
            .filter_map(|crd| {
                let version = crd.spec.versions.first()?;
                let schema =
                    serde_json::to_value(version.schema.as_ref()?.open_api_v3_schema.as_ref()?)
                        .ok()?;
                Some((
                    crd.spec.names.kind.clone(),
                    schema["properties"]["spec"].clone(),
                ))
            })
            .collect()
    })
}

/// The `spec` schema of a `kind` object, as its generated CRD carries it.
pub fn spec_schema(kind: Kind) -> Option<&'static Value> {
    spec_schemas().get(kind.name())
}

/// Compiled regexes, by source: the schemas use a handful of patterns over and over.
fn regex(pattern: &str) -> Option<Regex> {
    static CACHE: OnceLock<std::sync::Mutex<HashMap<String, Option<Regex>>>> = OnceLock::new();
    let mut cache = CACHE.get_or_init(Default::default).lock().ok()?;
    cache
        .entry(pattern.to_owned())
        .or_insert_with(|| Regex::new(pattern).ok())
        .clone()
}

/// The regex of a CEL rule of the one form the CRDs use, `self.matches('RE')`.
pub(crate) fn cel_matches(rule: &str) -> Option<&str> {
    rule.strip_prefix("self.matches('")?.strip_suffix("')")
}

/// Every way `spec` of a `kind` object breaks the CRD schema, in document order.
pub fn validate_spec(kind: Kind, spec: &Value) -> Vec<FieldError> {
    let mut out = Vec::new();
    match spec_schemas().get(kind.name()) {
        Some(schema) => walk(schema, spec, "spec", &mut out),
        None => out.push(FieldError {
            path: "kind".into(),
            message: format!("no schema for kind {kind}"),
        }),
    }
    out
}

/// The keys Kubernetes knows in the metadata of any object.
const METADATA_FIELDS: [&str; 15] = [
    "name",
    "generateName",
    "namespace",
    "labels",
    "annotations",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "finalizers",
    "ownerReferences",
    "managedFields",
    "selfLink",
];

/// Every way a whole `kind` object (as a manifest holds it) breaks what admission checks: the
/// top-level keys, the metadata rules every object obeys (names, labels, annotations), and the
/// CRD's schema and CEL rules for `spec`, all of them at once, in document order. Unknown keys
/// outside `spec` are errors, as `kubectl apply` (strict field validation) makes them.
pub fn validate_object(kind: Kind, object: &Value) -> Vec<FieldError> {
    let mut out = Vec::new();
    let Some(top) = object.as_object() else {
        err(&mut out, "", "must be a mapping");
        return out;
    };
    for key in top.keys() {
        if !["apiVersion", "kind", "metadata", "spec", "status"].contains(&key.as_str()) {
            err(&mut out, key, format!("unknown field \"{key}\""));
        }
    }
    match top.get("metadata") {
        Some(Value::Object(meta)) => validate_metadata(meta, &mut out),
        Some(_) => err(&mut out, "metadata", "must be of type object"),
        None => err(&mut out, "metadata.name", "Required value"),
    }
    match top.get("spec") {
        Some(spec) => out.extend(validate_spec(kind, spec)),
        None => err(&mut out, "spec", "Required value"),
    }
    out
}

fn validate_metadata(meta: &serde_json::Map<String, Value>, out: &mut Vec<FieldError>) {
    for key in meta.keys() {
        if !METADATA_FIELDS.contains(&key.as_str()) {
            err(
                out,
                &format!("metadata.{key}"),
                format!("unknown field \"metadata.{key}\""),
            );
        }
    }
    match meta.get("name").or_else(|| meta.get("generateName")) {
        None => err(out, "metadata.name", "Required value"),
        Some(Value::String(name)) if meta.contains_key("name") && !is_dns_subdomain(name) => err(
            out,
            "metadata.name",
            "must be a lowercase RFC 1123 subdomain: at most 253 lowercase letters, digits, '-' and '.', starting and ending with a letter or digit",
        ),
        Some(Value::String(_)) => {}
        Some(_) => err(out, "metadata.name", "must be of type string"),
    }
    match meta.get("namespace") {
        Some(Value::String(ns)) if !is_dns_label(ns) => err(
            out,
            "metadata.namespace",
            "must be a lowercase RFC 1123 label: at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit",
        ),
        Some(Value::String(_)) | None => {}
        Some(_) => err(out, "metadata.namespace", "must be of type string"),
    }
    for (field, value_ok) in [
        ("labels", is_label_value as fn(&str) -> bool),
        ("annotations", |_: &str| true),
    ] {
        let Some(map) = meta.get(field) else { continue };
        let Some(map) = map.as_object() else {
            err(out, &format!("metadata.{field}"), "must be of type object");
            continue;
        };
        for (k, v) in map {
            let path = format!("metadata.{field}.{k}");
            if !is_qualified_name(k) {
                err(
                    out,
                    &path,
                    "key must be an optional DNS prefix and '/', then 1-63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit",
                );
            }
            match v.as_str() {
                Some(s) if !value_ok(s) => err(
                    out,
                    &path,
                    "must be at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit",
                ),
                Some(_) => {}
                None => err(out, &path, "must be of type string"),
            }
        }
    }
}

fn err(out: &mut Vec<FieldError>, path: &str, message: impl Into<String>) {
    out.push(FieldError {
        path: path.to_owned(),
        message: message.into(),
    });
}

fn walk(schema: &Value, value: &Value, path: &str, out: &mut Vec<FieldError>) {
    if value.is_null() {
        if schema["nullable"] != Value::Bool(true) {
            err(out, path, "must not be null");
        }
        return;
    }
    let ty = schema["type"].as_str().unwrap_or_default();
    let type_ok = match ty {
        "string" => value.is_string(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        _ => true,
    };
    if !type_ok {
        err(out, path, format!("must be of type {ty}"));
        return;
    }
    match value {
        Value::String(s) => check_string(schema, s, path, out),
        Value::Array(items) => {
            if let Some(max) = schema["maxItems"].as_u64()
                && items.len() as u64 > max
            {
                err(out, path, format!("must have at most {max} items"));
            }
            if let Some(min) = schema["minItems"].as_u64()
                && (items.len() as u64) < min
            {
                err(out, path, format!("must have at least {min} items"));
            }
            for (i, item) in items.iter().enumerate() {
                walk(&schema["items"], item, &format!("{path}[{i}]"), out);
            }
        }
        Value::Object(fields) => {
            for required in schema["required"].as_array().into_iter().flatten() {
                let key = required.as_str().unwrap_or_default();
                if !fields.contains_key(key) {
                    err(out, &format!("{path}.{key}"), "Required value");
                }
            }
            let properties = schema["properties"].as_object();
            let keeps_unknown = schema["x-kubernetes-preserve-unknown-fields"] == Value::Bool(true);
            for (key, v) in fields {
                match properties.and_then(|p| p.get(key)) {
                    Some(s) => walk(s, v, &format!("{path}.{key}"), out),
                    None if keeps_unknown => {}
                    // The API server would silently drop it: refuse rather than lose data.
                    None => err(
                        out,
                        &format!("{path}.{key}"),
                        "unknown field: Kubernetes would drop it",
                    ),
                }
            }
        }
        _ => {}
    }
}

fn check_string(schema: &Value, s: &str, path: &str, out: &mut Vec<FieldError>) {
    let len = s.chars().count() as u64;
    if let Some(min) = schema["minLength"].as_u64()
        && len < min
    {
        let message = if min == 1 {
            "must not be empty".to_owned()
        } else {
            format!("must be at least {min} characters")
        };
        err(out, path, message);
        return;
    }
    if let Some(max) = schema["maxLength"].as_u64()
        && len > max
    {
        err(out, path, format!("must be at most {max} characters"));
        return;
    }
    if let Some(pattern) = schema["pattern"].as_str()
        && regex(pattern).is_some_and(|re| !re.is_match(s))
    {
        err(out, path, format!("must match {pattern}"));
        return;
    }
    for rule in schema["x-kubernetes-validations"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let Some(re) = rule["rule"].as_str().and_then(cel_matches).and_then(regex) else {
            continue;
        };
        if !re.is_match(s) {
            err(out, path, rule["message"].as_str().unwrap_or("is invalid"));
            return;
        }
    }
}

/// Kubernetes' rule for object names of custom resources: a DNS-1123 subdomain.
pub fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && !s.is_empty() && s.split('.').all(is_dns_label)
}

/// A DNS-1123 label, which namespaces must be.
pub fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// A label or annotation key: an optional DNS-subdomain prefix and `/`, then a name of at most 63
/// characters of alphanumerics, `-`, `_` and `.`, starting and ending alphanumeric.
pub fn is_qualified_name(key: &str) -> bool {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    prefix.is_none_or(is_dns_subdomain) && is_label_value(name) && !name.is_empty()
}

/// A label value: empty, or at most 63 characters of alphanumerics, `-`, `_` and `.`, starting
/// and ending alphanumeric.
pub fn is_label_value(v: &str) -> bool {
    let b = v.as_bytes();
    b.is_empty()
        || (b.len() <= 63
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(c))
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_cel_rule_in_the_crds_is_understood() {
        fn rules(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Object(m) => {
                    if let Some(list) = m.get("x-kubernetes-validations").and_then(Value::as_array)
                    {
                        out.extend(
                            list.iter()
                                .filter_map(|r| r["rule"].as_str().map(String::from)),
                        );
                    }
                    m.values().for_each(|v| rules(v, out));
                }
                Value::Array(a) => a.iter().for_each(|v| rules(v, out)),
                _ => {}
            }
        }
        let mut all = Vec::new();
        for schema in spec_schemas().values() {
            rules(schema, &mut all);
        }
        assert!(!all.is_empty());
        for rule in all {
            let re = cel_matches(&rule).unwrap_or_else(|| panic!("rule not understood: {rule}"));
            assert!(regex(re).is_some(), "{re}");
        }
        assert_eq!(spec_schemas().len(), 7);
    }

    #[test]
    fn a_valid_spec_passes() {
        let spec = json!({
            "type": "service", "lifecycle": "production", "owner": "team-a",
            "tags": ["java", "c++"], "links": [{"url": "https://x", "title": "X"}],
            "dependsOn": ["resource:db"], "custom": {"any": ["thing"]},
        });
        assert_eq!(validate_spec(Kind::Component, &spec), []);
    }

    #[test]
    fn errors_name_the_field_like_admission_does() {
        let spec = json!({
            "type": "", "lifecycle": "production",
            "tags": ["Java"], "links": [{"title": "no url", "colour": "red"}],
            "dependsOn": ["db"], "system": "a:", "providesApis": [":x"],
        });
        let errors: Vec<String> = validate_spec(Kind::Component, &spec)
            .iter()
            .map(|e| e.path.clone())
            .collect();
        assert_eq!(
            errors,
            [
                "spec.owner",
                "spec.dependsOn[0]",
                "spec.links[0].url",
                "spec.links[0].colour",
                "spec.providesApis[0]",
                "spec.system",
                "spec.tags[0]",
                "spec.type",
            ]
        );
        let group = validate_spec(Kind::Group, &json!({"type": "team"}));
        assert_eq!(group[0].to_string(), "spec.children: Required value");
        let too_many = json!({"type": "t", "lifecycle": "l", "owner": "o",
            "dependsOn": (0..1001).map(|i| format!("component:c{i}")).collect::<Vec<_>>()});
        assert_eq!(
            validate_spec(Kind::Component, &too_many)[0].message,
            "must have at most 1000 items"
        );
    }

    /// Every manifest the API server must refuse (tests/e2e_api.rs checks that against the real
    /// server) is refused offline too, naming the same field.
    #[test]
    fn refuses_what_admission_refuses() {
        use serde::Deserialize;
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/invalid");
        let mut checked = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let field = text
                .lines()
                .find_map(|l| l.strip_prefix("# expect: "))
                .unwrap()
                .to_owned();
            let doc = Value::deserialize(serde_norway::Deserializer::from_str(&text)).unwrap();
            let kind = Kind::parse(doc["kind"].as_str().unwrap()).unwrap();
            let errors = validate_spec(kind, &doc["spec"]);
            assert!(
                errors.iter().any(|e| e.path == field),
                "{}: expected an error at {field}, got {errors:?}",
                path.display()
            );
            checked += 1;
        }
        assert!(checked >= 14);
    }

    #[test]
    fn kubernetes_name_rules() {
        assert!(is_dns_subdomain("billing.v2"));
        assert!(!is_dns_subdomain("a-.b") && !is_dns_subdomain("a..b"));
        assert!(!is_dns_subdomain("Team-a"));
        assert!(is_dns_label("team-a") && !is_dns_label("team_a") && !is_dns_label("-a"));
        assert!(is_qualified_name("backstage.io/techdocs-ref"));
        assert!(is_qualified_name("app.kubernetes.io/name"));
        assert!(!is_qualified_name("bad key"));
        assert!(!is_qualified_name("Bad.Prefix/x"));
        assert!(is_label_value("") && is_label_value("v1.2_3") && !is_label_value("-x"));
    }
}
