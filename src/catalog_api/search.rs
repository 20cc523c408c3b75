//! What Backstage's catalog filters, orders and counts on: every entity flattened into
//! `(key, value)` rows, as its catalog backend's search table holds them, and the filter
//! predicates evaluated over those rows. Pure: JSON in, rows and answers out.
//!
//! The rows follow catalog-backend 4.0.0's `buildEntitySearch`: keys are lowercased dotted paths;
//! list items each give a row under the list's key, and each string item also gives a row
//! `<key>.<item>` = `true`; `relations.<type>` rows hold the targets; `metadata.name`,
//! `metadata.namespace` and `metadata.uid` are always there; keys over 200 characters are
//! dropped and values over 200 characters become null (the key still exists).

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::error::ApiError;

const MAX_KEY_LENGTH: usize = 200;
const MAX_VALUE_LENGTH: usize = 200;

/// Paths the generic walk skips: they are added on their own terms, or not searchable.
const SPECIAL_KEYS: [&str; 7] = [
    "attachments",
    "relations",
    "status",
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "metadata.etag",
];

/// One searchable row: a lowercased key and the value as written (`None` for null, or a value
/// too long to index). Filters compare the value lowercased; facets count it as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Row<'a> {
    pub key: &'a str,
    pub value: Option<&'a str>,
}

impl<'a> Row<'a> {
    /// The value lowercased, as filters and ordering compare it.
    pub fn lower(&self) -> Option<Cow<'a, str>> {
        self.value.map(lowercase)
    }
}

/// Where one row's value lies in [`Rows::text`]; `start == NULL` for a null value.
#[derive(Debug)]
struct Slot {
    key: Arc<str>,
    start: u32,
    end: u32,
}

const NULL: u32 = u32::MAX;

/// The search rows of one entity, compactly: the keys (shared between entities) and every value
/// in one text, so an entity's rows are two allocations however many it has.
#[derive(Debug, Default)]
pub struct Rows {
    slots: Box<[Slot]>,
    text: Box<str>,
}

impl Rows {
    pub fn iter(&self) -> impl Iterator<Item = Row<'_>> + '_ {
        self.slots.iter().map(|s| Row {
            key: &s.key,
            value: (s.start != NULL).then(|| &self.text[s.start as usize..s.end as usize]),
        })
    }
}

/// Lowercases without allocating when there is nothing to change.
pub fn lowercase(s: &str) -> Cow<'_, str> {
    if s.chars().any(char::is_uppercase) {
        Cow::Owned(s.to_lowercase())
    } else {
        Cow::Borrowed(s)
    }
}

/// Shares the key strings between entities: a catalog has few distinct keys.
#[derive(Default)]
pub struct Interner(HashSet<Arc<str>>);

impl Interner {
    pub fn get(&mut self, key: &str) -> Arc<str> {
        if let Some(k) = self.0.get(key) {
            return k.clone();
        }
        let k: Arc<str> = Arc::from(key);
        self.0.insert(k.clone());
        k
    }

    /// Forgets the keys only the interner still holds.
    pub fn prune(&mut self) {
        self.0.retain(|k| Arc::strong_count(k) > 1);
    }
}

/// A scalar as JavaScript's `String(value)` writes it.
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 1e21 => format!("{f:.0}"),
            _ => n.to_string(),
        }),
        _ => None,
    }
}

fn walk(
    path: &str,
    value: &Value,
    out: &mut Vec<(String, Option<String>)>,
    seen: &mut HashSet<String>,
) {
    if SPECIAL_KEYS.contains(&path) {
        return;
    }
    match value {
        Value::Null => out.push((path.to_owned(), None)),
        Value::Array(items) => {
            for item in items {
                walk(path, item, out, seen);
                if let Value::String(s) = item {
                    let key = format!("{path}.{s}");
                    if seen.insert(key.to_lowercase()) {
                        out.push((key, Some("true".into())));
                    }
                }
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                walk(&p, v, out, seen);
            }
        }
        scalar_value => out.push((path.to_owned(), scalar(scalar_value))),
    }
}

/// The search rows of one entity (its JSON as the API serves it), deduplicated on
/// `(key, lowercased value)` as Backstage does.
pub fn rows(entity: &Value, interner: &mut Interner) -> Rows {
    let mut raw = Vec::new();
    let mut seen = HashSet::new();
    walk("", entity, &mut raw, &mut seen);
    let meta = &entity["metadata"];
    for key in ["name", "namespace", "uid"] {
        raw.push((format!("metadata.{key}"), scalar(&meta[key])));
    }
    for r in entity["relations"].as_array().into_iter().flatten() {
        if let (Some(t), Some(target)) = (r["type"].as_str(), r["targetRef"].as_str()) {
            raw.push((format!("relations.{t}"), Some(target.to_owned())));
        }
    }
    let mut slots = Vec::with_capacity(raw.len());
    let mut text = String::new();
    let mut dedup: HashSet<(String, Option<String>)> = HashSet::new();
    for (key, value) in raw {
        let key = key.to_lowercase();
        if key.chars().count() > MAX_KEY_LENGTH {
            continue;
        }
        let value = value.filter(|v| v.chars().count() <= MAX_VALUE_LENGTH);
        if dedup.insert((key.clone(), value.as_ref().map(|v| v.to_lowercase()))) {
            let (start, end) = match value {
                // An entity is at most a Kubernetes object (1.5 MiB): offsets fit in a u32.
                Some(v) => {
                    let start = text.len() as u32;
                    text.push_str(&v);
                    (start, text.len() as u32)
                }
                None => (NULL, NULL),
            };
            slots.push(Slot {
                key: interner.get(&key),
                start,
                end,
            });
        }
    }
    Rows {
        slots: slots.into(),
        text: text.into(),
    }
}

/// What one field must satisfy.
#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    /// Any of these values (lowercased).
    In(Vec<String>),
    Exists(bool),
    HasPrefix(String),
    /// `relations` `$contains {type, targetRef}`: a relation of that type (lowercased), to
    /// one of these targets when given.
    Relation(String, Option<Vec<String>>),
}

/// A filter over the search rows: Backstage's filter predicates (`$all`, `$any`, `$not`, field
/// conditions), which the `filter` query parameter also turns into.
#[derive(Clone, Debug, PartialEq)]
pub enum Predicate {
    All(Vec<Predicate>),
    Any(Vec<Predicate>),
    Not(Box<Predicate>),
    /// A lowercased key and its condition.
    Field(String, Condition),
}

impl Predicate {
    pub fn matches(&self, rows: &Rows) -> bool {
        match self {
            Predicate::All(ps) => ps.iter().all(|p| p.matches(rows)),
            Predicate::Any(ps) => ps.iter().any(|p| p.matches(rows)),
            Predicate::Not(p) => !p.matches(rows),
            Predicate::Field(key, cond) => {
                let mut of_key = rows.iter().filter(|r| r.key == key);
                match cond {
                    Condition::Exists(want) => of_key.next().is_some() == *want,
                    Condition::In(values) => {
                        of_key.any(|r| r.lower().is_some_and(|v| values.iter().any(|w| *w == *v)))
                    }
                    Condition::HasPrefix(prefix) => {
                        of_key.any(|r| r.lower().is_some_and(|v| v.starts_with(prefix.as_str())))
                    }
                    Condition::Relation(rtype, targets) => {
                        let key = format!("relations.{rtype}");
                        rows.iter().filter(|r| r.key == key).any(|r| match targets {
                            None => true,
                            Some(t) => r.lower().is_some_and(|v| t.iter().any(|w| *w == *v)),
                        })
                    }
                }
            }
        }
    }
}

/// Text from the caller, cut short for an error message.
pub fn bounded(s: &str) -> String {
    const MAX: usize = 100;
    if s.chars().count() <= MAX {
        s.to_owned()
    } else {
        let cut: String = s.chars().take(MAX).collect();
        format!("{cut}…")
    }
}

/// The `filter` query parameters: each a comma-separated list of `key=value` (or `key` for
/// existence) statements. Within one parameter the keys AND and several values of one key OR;
/// the parameters OR. `None` when there is nothing to filter on.
pub fn parse_filter_params(params: &[&str]) -> Result<Option<Predicate>, ApiError> {
    let mut outer = Vec::new();
    for param in params {
        let statements: Vec<&str> = param
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        if statements.is_empty() {
            continue;
        }
        // Keys in first-seen order, each with its values (None: existence).
        let mut by_key: Vec<(String, Option<Vec<String>>)> = Vec::new();
        for statement in statements {
            let (key, value) = match statement.split_once('=') {
                Some((k, v)) => (k.trim(), Some(v.trim())),
                None => (statement, None),
            };
            if key.is_empty() {
                return Err(ApiError::input(format!(
                    "Invalid filter, '{}' is not a valid statement (expected a string on the form a=b or a= or a)",
                    bounded(statement)
                )));
            }
            let slot = match by_key.iter_mut().position(|(k, _)| k == key) {
                Some(i) => &mut by_key[i].1,
                None => {
                    by_key.push((key.to_owned(), None));
                    &mut by_key.last_mut().expect("just pushed").1
                }
            };
            if let Some(v) = value {
                slot.get_or_insert_with(Vec::new).push(v.to_lowercase());
            }
        }
        let mut inner: Vec<Predicate> = by_key
            .into_iter()
            .map(|(k, values)| {
                let cond = match values {
                    None => Condition::Exists(true),
                    Some(v) => Condition::In(v),
                };
                Predicate::Field(k.to_lowercase(), cond)
            })
            .collect();
        outer.push(if inner.len() == 1 {
            inner.remove(0)
        } else {
            Predicate::All(inner)
        });
    }
    Ok(match outer.len() {
        0 => None,
        1 => Some(outer.remove(0)),
        _ => Some(Predicate::Any(outer)),
    })
}

fn primitive(v: &Value) -> Option<String> {
    match v {
        Value::String(_) | Value::Bool(_) | Value::Number(_) => scalar(v).map(|s| s.to_lowercase()),
        _ => None,
    }
}

/// A filter predicate as JSON (`query` of `POST /entities/by-query`, `/entity-facets`,
/// `/entities/by-refs`), checked as Backstage's schema checks it.
pub fn parse_predicate(v: &Value) -> Result<Predicate, ApiError> {
    parse_predicate_at(v, 0).map_err(|m| ApiError::input(format!("Invalid query: {m}")))
}

/// Deeper than any real query; bounds the work an input can ask for.
const MAX_DEPTH: usize = 32;

fn parse_predicate_at(v: &Value, depth: usize) -> Result<Predicate, String> {
    if depth > MAX_DEPTH {
        return Err(format!("nested more than {MAX_DEPTH} levels"));
    }
    let Value::Object(map) = v else {
        return Err("a predicate must be an object".into());
    };
    let list = |key: &str, x: &Value| -> Result<Vec<Predicate>, String> {
        x.as_array()
            .ok_or_else(|| format!("{key} must be an array"))?
            .iter()
            .map(|p| parse_predicate_at(p, depth + 1))
            .collect()
    };
    if let Some(x) = map.get("$not") {
        return Ok(Predicate::Not(Box::new(parse_predicate_at(x, depth + 1)?)));
    }
    if let Some(x) = map.get("$all") {
        return Ok(Predicate::All(list("$all", x)?));
    }
    if let Some(x) = map.get("$any") {
        return Ok(Predicate::Any(list("$any", x)?));
    }
    let mut fields = Vec::with_capacity(map.len());
    for (key, value) in map {
        if key.starts_with('$') {
            return Err(format!("unknown operator {}", bounded(key)));
        }
        fields.push(Predicate::Field(key.to_lowercase(), condition(key, value)?));
    }
    Ok(if fields.len() == 1 {
        fields.remove(0)
    } else {
        Predicate::All(fields)
    })
}

fn condition(key: &str, value: &Value) -> Result<Condition, String> {
    if let Some(p) = primitive(value) {
        return Ok(Condition::In(vec![p]));
    }
    let bad = || {
        format!(
            "invalid value for field \"{}\": expected a primitive value, $exists, $in, $hasPrefix, or $contains",
            bounded(key)
        )
    };
    let Value::Object(op) = value else {
        return Err(bad());
    };
    if op.len() != 1 {
        return Err(bad());
    }
    let (name, arg) = op.iter().next().expect("one entry");
    match name.as_str() {
        "$exists" => arg.as_bool().map(Condition::Exists).ok_or_else(bad),
        "$in" => arg
            .as_array()
            .ok_or_else(bad)?
            .iter()
            .map(|x| primitive(x).ok_or_else(bad))
            .collect::<Result<Vec<_>, _>>()
            .map(Condition::In),
        "$hasPrefix" => arg
            .as_str()
            .map(|s| Condition::HasPrefix(s.to_lowercase()))
            .ok_or_else(bad),
        "$contains" => {
            if let Some(p) = primitive(arg) {
                return Ok(Condition::In(vec![p]));
            }
            let Value::Object(target) = arg else {
                return Err(bad());
            };
            if !key.eq_ignore_ascii_case("relations") {
                return Err(format!(
                    "object form of $contains is not supported for field \"{}\"",
                    bounded(key)
                ));
            }
            relation(target)
        }
        _ => Err(bad()),
    }
}

fn relation(target: &Map<String, Value>) -> Result<Condition, String> {
    let mut rtype = None;
    let mut refs = None;
    for (k, v) in target {
        match k.to_lowercase().as_str() {
            "type" => {
                rtype = Some(
                    v.as_str()
                        .ok_or("relations $contains needs a \"type\" string")?,
                )
            }
            "targetref" => {
                refs = Some(match v {
                    Value::String(s) => vec![s.to_lowercase()],
                    Value::Object(o) if o.len() == 1 => {
                        let list = o
                            .get("$in")
                            .and_then(Value::as_array)
                            .ok_or("targetRef must be a string or {\"$in\": [strings]}")?;
                        if list.is_empty() {
                            return Err("empty \"$in\" for relations $contains".into());
                        }
                        list.iter()
                            .map(|x| x.as_str().map(str::to_lowercase))
                            .collect::<Option<Vec<_>>>()
                            .ok_or("targetRef must be a string or {\"$in\": [strings]}")?
                    }
                    _ => return Err("targetRef must be a string or {\"$in\": [strings]}".into()),
                })
            }
            _ => {
                return Err(format!(
                    "unsupported key \"{}\" in relations $contains; only \"type\" and \"targetRef\"",
                    bounded(k)
                ));
            }
        }
    }
    let rtype = rtype
        .filter(|t| !t.is_empty())
        .ok_or("relations $contains needs a \"type\" string")?;
    Ok(Condition::Relation(rtype.to_lowercase(), refs))
}

/// The `fields` projection: comma-separated dotted paths; a path whose parts do not name keys
/// joins them (`metadata.annotations.backstage.io/x`), as Backstage resolves them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fields(Vec<String>);

impl Fields {
    /// `None` when no field is asked for (whole entities).
    pub fn parse<'a>(
        params: impl IntoIterator<Item = &'a str>,
    ) -> Result<Option<Fields>, ApiError> {
        let mut out: Vec<String> = Vec::new();
        for p in params {
            for f in p.split(',').map(str::trim).filter(|f| !f.is_empty()) {
                if f.contains('[') {
                    return Err(ApiError::input(format!(
                        "Invalid field \"{}\", array type fields are not supported",
                        bounded(f)
                    )));
                }
                if !out.iter().any(|o| o == f) {
                    out.push(f.to_owned());
                }
            }
        }
        Ok((!out.is_empty()).then_some(Fields(out)))
    }

    /// The parts of `entity` these fields name.
    pub fn project(&self, entity: &Value) -> Value {
        let mut out = Value::Object(Map::new());
        for field in &self.0 {
            let (path, value) = resolve(entity, field);
            if let Some(v) = value {
                set(&mut out, &path, v.clone());
            }
        }
        out
    }
}

fn child<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    match v {
        Value::Object(m) => m.get(key),
        Value::Array(a) => key.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => None,
    }
}

/// Walks `field` into `entity`; parts that name no key join the next part.
fn resolve<'a>(entity: &'a Value, field: &str) -> (Vec<String>, Option<&'a Value>) {
    let parts: Vec<&str> = field.split('.').collect();
    let mut path = Vec::new();
    let mut current = entity;
    let mut pending = String::new();
    for (i, part) in parts.iter().enumerate() {
        let key = if pending.is_empty() {
            (*part).to_owned()
        } else {
            format!("{pending}.{part}")
        };
        if let Some(next) = child(current, &key) {
            path.push(key);
            current = next;
            pending.clear();
        } else if i + 1 < parts.len() {
            pending = key;
        } else {
            return (path, None);
        }
    }
    (path, Some(current))
}

fn set(out: &mut Value, path: &[String], value: Value) {
    let mut slot = out;
    for key in path {
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        slot = slot
            .as_object_mut()
            .expect("just made an object")
            .entry(key.clone())
            .or_insert(Value::Null);
    }
    *slot = value;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entity() -> Value {
        json!({
            "apiVersion": "backstage.io/v1alpha1",
            "kind": "Component",
            "metadata": {"namespace": "default", "name": "Web", "uid": "u1", "etag": "7",
                "tags": ["Java", "web"], "annotations": {"backstage.io/techdocs-ref": "dir:."},
                "description": "x".repeat(201)},
            "spec": {"type": "website", "owner": "team-a", "replicas": 3, "public": true, "none": null},
            "relations": [{"type": "ownedBy", "targetRef": "group:default/team-a"}]
        })
    }

    fn rows_of(v: &Value) -> Rows {
        rows(v, &mut Interner::default())
    }

    fn has(rows: &Rows, key: &str, value: Option<&str>) -> bool {
        rows.iter().any(|r| r.key == key && r.value == value)
    }

    #[test]
    fn rows_as_backstage_builds_its_search_table() {
        let r = rows_of(&entity());
        assert!(has(&r, "metadata.name", Some("Web")));
        assert!(has(&r, "metadata.tags", Some("Java")));
        assert!(has(&r, "metadata.tags.java", Some("true")));
        assert!(has(
            &r,
            "metadata.annotations.backstage.io/techdocs-ref",
            Some("dir:.")
        ));
        assert!(has(&r, "spec.replicas", Some("3")));
        assert!(has(&r, "spec.public", Some("true")));
        assert!(has(&r, "spec.none", None));
        assert!(has(&r, "metadata.description", None), "too long: null");
        assert!(has(&r, "relations.ownedby", Some("group:default/team-a")));
        assert!(!r.iter().any(|x| x.key == "metadata.etag"));
        assert!(
            !r.iter()
                .any(|x| x.key.starts_with("relations.") && x.key != "relations.ownedby")
        );
    }

    fn matches(filters: &[&str]) -> bool {
        let p = parse_filter_params(filters).unwrap().unwrap();
        p.matches(&rows_of(&entity()))
    }

    #[test]
    fn filter_parameters_as_backstage_reads_them() {
        assert!(matches(&["kind=component"]));
        assert!(
            matches(&["kind=component,kind=system"]),
            "values of one key OR"
        );
        assert!(!matches(&["kind=component,spec.type=service"]), "keys AND");
        assert!(
            matches(&["kind=system", "spec.type=WEBSITE"]),
            "parameters OR"
        );
        assert!(matches(&["metadata.tags=java"]), "list items");
        assert!(matches(&["relations.ownedBy=group:default/team-a"]));
        assert!(matches(&["spec.owner"]), "existence");
        assert!(matches(&["spec.none"]), "a null value still exists");
        assert!(!matches(&["spec.system"]));
        assert!(parse_filter_params(&["=x"]).is_err());
        assert_eq!(parse_filter_params(&[" , "]).unwrap(), None);
    }

    #[test]
    fn predicates() {
        let r = rows_of(&entity());
        let p = |v: Value| parse_predicate(&v).unwrap().matches(&r);
        assert!(p(
            json!({"kind": "component", "spec.type": {"$in": ["service", "Website"]}})
        ));
        assert!(p(json!({"$not": {"kind": "api"}})));
        assert!(!p(json!({"$any": []})));
        assert!(p(json!({"$all": []})));
        assert!(p(json!({"metadata.name": {"$hasPrefix": "we"}})));
        assert!(p(json!({"spec.system": {"$exists": false}})));
        assert!(p(json!({"metadata.tags": {"$contains": "JAVA"}})));
        assert!(p(json!({"relations": {"$contains": {"type": "ownedBy"}}})));
        assert!(!p(
            json!({"relations": {"$contains": {"type": "ownedBy", "targetRef": "group:default/x"}}})
        ));
        assert!(p(json!({"spec.replicas": 3})));
        assert!(parse_predicate(&json!({"kind": {"$regex": "x"}})).is_err());
        assert!(parse_predicate(&json!("component")).is_err());
        assert!(parse_predicate(&json!({"spec": {"$contains": {"type": "x"}}})).is_err());
    }

    #[test]
    fn fields_projection_joins_dotted_keys() {
        let f = Fields::parse([
            "kind,metadata.name",
            "metadata.annotations.backstage.io/techdocs-ref,nope.x",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            f.project(&entity()),
            json!({"kind": "Component", "metadata": {"name": "Web",
                "annotations": {"backstage.io/techdocs-ref": "dir:."}}})
        );
        assert!(Fields::parse(["spec.x[0]"]).is_err());
        assert_eq!(Fields::parse([" , "]).unwrap(), None);
    }
}
