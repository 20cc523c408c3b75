//! Backstage's `filter` query parameter for `GET /api/catalog/entities`, so clients written for
//! Backstage's catalog API can ask Playbill the same questions.
//!
//! `filter=kind=component,metadata.namespace=default` keeps entities matching every condition;
//! several `filter` parameters keep entities matching any of them. A condition without `=`
//! (`filter=spec.system`) asks for the field to exist. Values match case-insensitively, a list
//! field matches when any item does, and `relations.<type>=<ref>` matches a relation, as in
//! Backstage.

use serde_json::Value;

/// One `filter` parameter: conditions that must all hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filter(Vec<(String, Option<String>)>);

impl Filter {
    pub fn parse(param: &str) -> Filter {
        Filter(
            param
                .split(',')
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(|c| match c.split_once('=') {
                    Some((k, v)) => (k.trim().to_owned(), Some(v.trim().to_lowercase())),
                    None => (c.to_owned(), None),
                })
                .collect(),
        )
    }

    fn matches(&self, entity: &Value) -> bool {
        self.0.iter().all(|(path, want)| {
            let found = lookup(entity, path);
            match want {
                None => !found.is_empty(),
                Some(w) => found.iter().any(|v| v == w),
            }
        })
    }
}

/// The values at a dotted path, lowercased; lists contribute each item. Keys may contain dots
/// (annotation keys do), so the longest key that exists wins at each step.
fn lookup(entity: &Value, path: &str) -> Vec<String> {
    let mut out = Vec::new();
    // Backstage's own spelling for relations: `relations.ownedBy=group:default/team-a`.
    if let Some(rtype) = path.strip_prefix("relations.")
        && !["type", "targetref"].contains(&rtype.to_ascii_lowercase().as_str())
    {
        for r in entity["relations"].as_array().into_iter().flatten() {
            if r["type"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case(rtype))
            {
                collect(&r["targetRef"], "", &mut out);
            }
        }
        return out;
    }
    collect(entity, path, &mut out);
    out
}

fn collect(value: &Value, path: &str, out: &mut Vec<String>) {
    if path.is_empty() {
        match value {
            Value::Array(items) => items.iter().for_each(|i| collect(i, "", out)),
            Value::String(s) => out.push(s.to_lowercase()),
            Value::Null => {}
            other => out.push(other.to_string().to_lowercase()),
        }
        return;
    }
    match value {
        Value::Object(map) => {
            // Try the longest prefix of `path` that names a key.
            let mut ends: Vec<usize> = path.match_indices('.').map(|(i, _)| i).collect();
            ends.push(path.len());
            for &end in ends.iter().rev() {
                let key = &path[..end];
                let matched = map.iter().find(|(k, _)| k.eq_ignore_ascii_case(key));
                if let Some((_, v)) = matched {
                    collect(v, path.get(end + 1..).unwrap_or(""), out);
                    return;
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect(i, path, out)),
        _ => {}
    }
}

/// Keeps the entities that match any of `filters`; no filters keep everything.
pub fn apply(entities: Vec<Value>, filters: &[Filter]) -> Vec<Value> {
    if filters.is_empty() {
        return entities;
    }
    entities
        .into_iter()
        .filter(|e| filters.iter().any(|f| f.matches(e)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Vec<Value> {
        vec![
            json!({"kind": "Component", "metadata": {"namespace": "default", "name": "Web",
                   "annotations": {"backstage.io/techdocs-ref": "dir:."}, "tags": ["java"]},
                   "spec": {"type": "website", "system": "shop"},
                   "relations": [{"type": "ownedBy", "targetRef": "group:default/team-a"}]}),
            json!({"kind": "API", "metadata": {"namespace": "ops", "name": "orders"},
                   "spec": {"type": "openapi"}}),
        ]
    }

    fn names(filters: &[&str]) -> Vec<String> {
        let filters: Vec<Filter> = filters.iter().map(|f| Filter::parse(f)).collect();
        apply(sample(), &filters)
            .iter()
            .map(|e| e["metadata"]["name"].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn conditions_and_within_a_filter_or_across_filters() {
        assert_eq!(names(&[]), ["Web", "orders"]);
        assert_eq!(names(&["kind=component"]), ["Web"]);
        assert_eq!(
            names(&["kind=Component,metadata.namespace=ops"]),
            Vec::<String>::new()
        );
        assert_eq!(names(&["kind=component", "kind=api"]), ["Web", "orders"]);
        assert_eq!(names(&["metadata.name=web"]), ["Web"], "case-insensitive");
    }

    #[test]
    fn existence_lists_and_dotted_keys() {
        assert_eq!(names(&["spec.system"]), ["Web"]);
        assert_eq!(names(&["metadata.tags=java"]), ["Web"]);
        assert_eq!(
            names(&["metadata.annotations.backstage.io/techdocs-ref=dir:."]),
            ["Web"]
        );
        assert_eq!(
            names(&["relations.targetRef=group:default/team-a"]),
            ["Web"]
        );
        assert_eq!(names(&["relations.ownedBy=group:default/team-a"]), ["Web"]);
        assert_eq!(
            names(&["relations.ownerOf=group:default/team-a"]),
            Vec::<String>::new()
        );
    }
}
