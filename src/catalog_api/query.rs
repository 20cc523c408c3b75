//! The list queries of Backstage's catalog API over a [`Snapshot`]: `GET /entities` (with and
//! without pages), `/entities/by-query` (cursor pages both ways), and `/entity-facets`, with
//! catalog-backend 4.0.0's semantics. Pure: a snapshot, what the caller may see, and a request
//! in; entries out.
//!
//! Where Backstage breaks ties by its internal entity id (a random UUID), the entity ref does
//! here: the order among entities with equal sort values is deterministic but not Backstage's.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Visibility;
use super::error::ApiError;
use super::search::{Condition, Predicate, lowercase, parse_predicate};
use super::store::{Entry, Snapshot};

/// Backstage's page size for `/entities/by-query` when none is asked for.
pub const DEFAULT_LIMIT: usize = 200;
/// The largest page anyone may ask for (Backstage has no bound; this API has one).
pub const MAX_LIMIT: usize = 10_000;

/// The entries a caller may see, in ref order, with their positions (the tie-breaking id).
pub struct View<'a> {
    pub snapshot: &'a Snapshot,
    pub visibility: &'a dyn Visibility,
}

impl<'a> View<'a> {
    pub fn visible(&self) -> impl Iterator<Item = (usize, &'a Entry)> + '_ {
        self.snapshot
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| self.visibility.may_read(e.kind, &e.kube_namespace))
    }

    /// The entity with this exact (stored, lowercased) ref, if the caller may see it.
    pub fn by_ref(&self, entity_ref: &str) -> Option<&'a Entry> {
        self.snapshot
            .by_ref(entity_ref)
            .filter(|e| self.visibility.may_read(e.kind, &e.kube_namespace))
    }

    pub fn by_uid(&self, uid: &str) -> Option<&'a Entry> {
        self.snapshot
            .by_uid(uid)
            .filter(|e| self.visibility.may_read(e.kind, &e.kube_namespace))
    }

    fn filtered(
        &self,
        filter: Option<&Predicate>,
    ) -> impl Iterator<Item = (usize, &'a Entry)> + '_ {
        let filter = filter.cloned();
        self.visible()
            .filter(move |(_, e)| filter.as_ref().is_none_or(|p| p.matches(&e.rows)))
    }
}

/// A row of an ordered answer: the sort value (lowercased), the entity's position (the
/// tie-break), the entity.
type Sorted<'v, 'e> = (Option<Cow<'v, str>>, usize, &'e Entry);

/// The sort values of one row under several order directives.
type Combo<'a> = Vec<Option<Cow<'a, str>>>;

/// One `order` directive of `GET /entities`: `asc:metadata.name`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub field: String,
    pub desc: bool,
}

impl Order {
    /// `GET /entities`' `order=asc:field` parameter.
    pub fn parse_param(s: &str) -> Result<Order, ApiError> {
        let bad = || {
            ApiError::input(format!(
                "Invalid order parameter \"{}\", expected \"<asc or desc>:<field name>\"",
                super::search::bounded(s)
            ))
        };
        let (dir, field) = s.split_once(':').ok_or_else(bad)?;
        if field.is_empty() {
            return Err(bad());
        }
        Ok(Order {
            field: field.to_owned(),
            desc: match dir {
                "asc" => false,
                "desc" => true,
                _ => return Err(bad()),
            },
        })
    }

    /// `/entities/by-query`'s `orderField=field,asc` parameter (the direction is optional).
    pub fn parse_order_field(s: &str) -> Result<Order, ApiError> {
        let mut parts = s.split(',');
        let field = parts.next().unwrap_or_default().to_owned();
        let desc = match parts.next() {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(_) => {
                return Err(ApiError::input(
                    "Invalid order field order, must be asc or desc",
                ));
            }
        };
        Ok(Order { field, desc })
    }
}

/// Keeps the `n` smallest of `rows` under `cmp`, sorted: a page needs only the rows up to its
/// end in order, and selecting them is linear where sorting all is not. `cmp` must be a total
/// order (every caller breaks ties by position).
fn smallest_sorted<T>(rows: &mut Vec<T>, n: usize, cmp: impl Fn(&T, &T) -> Ordering) {
    if n == 0 {
        rows.clear();
        return;
    }
    if n < rows.len() {
        rows.select_nth_unstable_by(n - 1, &cmp);
        rows.truncate(n);
    }
    rows.sort_by(cmp);
}

fn compare_values(a: &Option<Cow<str>>, b: &Option<Cow<str>>) -> Ordering {
    // Nulls last, whatever the direction.
    match (a, b) {
        (Some(a), Some(b)) => a.cmp(b),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// `GET /entities` with `limit`, `offset` or `after`: one page, ordered by `order` (the first
/// directive's key exactly as given; several directives each null-last), then by ref.
/// Returns the page and whether there is more.
pub fn entities_page<'a>(
    view: &View<'a>,
    filter: Option<&Predicate>,
    order: &[Order],
    limit: Option<usize>,
    offset: usize,
) -> (Vec<&'a Entry>, bool) {
    let rows: Vec<(usize, &'a Entry)> = match order {
        [] => view.filtered(filter).collect(),
        [one] => {
            // Entities with the field, once per value; then those without, by ref.
            let mut with: Vec<(Cow<str>, usize, &'a Entry)> = Vec::new();
            let mut without = Vec::new();
            for (i, e) in view.filtered(filter) {
                let before = with.len();
                with.extend(e.values(&one.field).map(|v| (v, i, e)));
                if with.len() == before {
                    without.push((i, e));
                }
            }
            // Only as many as the page reaches need sorting (the rest may follow unsorted
            // when there is no limit, so then all are).
            let reach = limit.map_or(usize::MAX, |l| offset.saturating_add(l).saturating_add(1));
            smallest_sorted(&mut with, reach, |a, b| {
                let c = a.0.cmp(&b.0);
                (if one.desc { c.reverse() } else { c }).then(a.1.cmp(&b.1))
            });
            with.into_iter()
                .map(|(_, i, e)| (i, e))
                .chain(without)
                .collect()
        }
        several => {
            let mut rows: Vec<(Combo<'_>, usize, &'a Entry)> = Vec::new();
            for (i, e) in view.filtered(filter) {
                let mut combos: Vec<Combo> = vec![Vec::new()];
                for o in several {
                    let values: Vec<Option<Cow<str>>> = {
                        let v: Vec<_> = e.values(&o.field).map(Some).collect();
                        if v.is_empty() { vec![None] } else { v }
                    };
                    combos = combos
                        .into_iter()
                        .flat_map(|c| {
                            values.iter().map(move |v| {
                                let mut c = c.clone();
                                c.push(v.clone());
                                c
                            })
                        })
                        .collect();
                    if combos.len() > MAX_LIMIT {
                        combos.truncate(MAX_LIMIT);
                    }
                }
                rows.extend(combos.into_iter().map(|c| (c, i, e)));
            }
            let reach = limit.map_or(usize::MAX, |l| offset.saturating_add(l).saturating_add(1));
            smallest_sorted(&mut rows, reach, |a, b| {
                for (k, o) in several.iter().enumerate() {
                    let c = match (&a.0[k], &b.0[k]) {
                        (Some(x), Some(y)) if o.desc => y.cmp(x),
                        (x, y) => compare_values(x, y),
                    };
                    if c != Ordering::Equal {
                        return c;
                    }
                }
                a.1.cmp(&b.1)
            });
            rows.into_iter().map(|(_, i, e)| (i, e)).collect()
        }
    };
    let rest = rows.into_iter().skip(offset);
    match limit {
        None => (rest.map(|(_, e)| e).collect(), false),
        Some(limit) => {
            let mut page: Vec<&Entry> = rest.take(limit + 1).map(|(_, e)| e).collect();
            let more = page.len() > limit;
            page.truncate(limit);
            (page, more)
        }
    }
}

/// Full-text filtering of `/entities/by-query`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FullText {
    pub term: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<String>>,
}

/// What `/entities/by-query` was asked, as its cursors carry it on.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    #[serde(rename = "o", default, skip_serializing_if = "Option::is_none")]
    pub order: Option<Order>,
    #[serde(rename = "t", default, skip_serializing_if = "Option::is_none")]
    pub full_text: Option<FullText>,
    /// The filter, as a predicate in JSON.
    #[serde(rename = "q", default, skip_serializing_if = "Option::is_none")]
    pub query: Option<Value>,
    /// Where the page ends: `[value, ref]` with a sort field, `[ref]` without.
    #[serde(rename = "v", default)]
    pub values: Vec<Option<String>>,
    /// The first row of the first page: no page before it.
    #[serde(rename = "f", default, skip_serializing_if = "Option::is_none")]
    pub first: Option<Vec<Option<String>>>,
    #[serde(rename = "p", default)]
    pub previous: bool,
    #[serde(rename = "n", default, skip_serializing_if = "Option::is_none")]
    pub total_items: Option<usize>,
}

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).expect("a cursor serializes"))
    }

    pub fn decode(s: &str) -> Result<Cursor, ApiError> {
        let bad = || ApiError::input("Malformed cursor, could not be parsed");
        let bytes = URL_SAFE_NO_PAD
            .decode(s.trim_end_matches('='))
            .map_err(|_| bad())?;
        serde_json::from_slice(&bytes).map_err(|_| bad())
    }
}

/// A first `/entities/by-query` request, or one that follows a cursor.
#[derive(Clone, Debug, PartialEq)]
pub enum QueryRequest {
    Initial {
        filter: Option<Predicate>,
        order: Option<Order>,
        full_text: Option<FullText>,
        offset: usize,
        count_total: bool,
    },
    Next(Cursor),
}

/// One `/entities/by-query` page.
pub struct QueryPage<'a> {
    pub items: Vec<&'a Entry>,
    pub total_items: usize,
    pub next: Option<Cursor>,
    pub prev: Option<Cursor>,
}

/// Predicates turned back into the JSON they are read from, for cursors.
pub fn predicate_json(p: &Predicate) -> Value {
    match p {
        Predicate::All(ps) => json!({"$all": ps.iter().map(predicate_json).collect::<Vec<_>>()}),
        Predicate::Any(ps) => json!({"$any": ps.iter().map(predicate_json).collect::<Vec<_>>()}),
        Predicate::Not(p) => json!({"$not": predicate_json(p)}),
        Predicate::Field(key, cond) => {
            let c = match cond {
                Condition::In(v) => json!({"$in": v}),
                Condition::Exists(b) => json!({"$exists": b}),
                Condition::HasPrefix(s) => json!({"$hasPrefix": s}),
                Condition::Relation(t, refs) => match refs {
                    Some(r) => json!({"$contains": {"type": t, "targetRef": {"$in": r}}}),
                    None => json!({"$contains": {"type": t}}),
                },
            };
            let mut m = serde_json::Map::new();
            m.insert(key.clone(), c);
            Value::Object(m)
        }
    }
}

fn contains_term(v: &str, term: &str) -> bool {
    lowercase(v).contains(term)
}

/// `/entities/by-query` (and `GET /entities` without pages, which Backstage answers with it).
pub fn query_entities<'a>(
    view: &View<'a>,
    request: QueryRequest,
    limit: usize,
) -> Result<QueryPage<'a>, ApiError> {
    let (cursor, offset, count_total, initial) = match request {
        QueryRequest::Initial {
            filter,
            order,
            full_text,
            offset,
            count_total,
        } => (
            Cursor {
                order,
                full_text,
                query: filter.as_ref().map(predicate_json),
                ..Cursor::default()
            },
            offset,
            count_total,
            true,
        ),
        QueryRequest::Next(c) => (c, 0, false, false),
    };
    let filter = cursor.query.as_ref().map(parse_predicate).transpose()?;
    let sort_key = cursor.order.as_ref().map(|o| o.field.to_lowercase());
    let desc = cursor.order.as_ref().is_some_and(|o| o.desc);
    let term = cursor
        .full_text
        .as_ref()
        .map(|t| t.term.trim().to_lowercase())
        .filter(|t| !t.is_empty());
    let text_fields: Vec<String> = cursor
        .full_text
        .as_ref()
        .and_then(|t| t.fields.clone())
        .unwrap_or_else(|| vec![sort_key.clone().unwrap_or_else(|| "metadata.uid".into())]);
    let in_scope =
        sort_key.is_some() && text_fields.len() == 1 && Some(&text_fields[0]) == sort_key.as_ref();
    let text_keys: Vec<String> = text_fields.iter().map(|f| f.to_lowercase()).collect();
    let text_match = |e: &Entry, term: &str| {
        e.rows.iter().any(|r| {
            text_keys.iter().any(|k| *k == r.key) && r.value.is_some_and(|v| contains_term(v, term))
        })
    };
    // (sort value, position, entry), one per sort value.
    let mut rows: Vec<Sorted<'_, 'a>> = Vec::new();
    let mut total = 0;
    for (i, e) in view.filtered(filter.as_ref()) {
        let general = term.as_deref().is_none_or(|t| text_match(e, t));
        match &sort_key {
            Some(key) => {
                let mut any = false;
                for v in e.values(key) {
                    any = true;
                    let keep = match term.as_deref() {
                        Some(t) if in_scope => v.contains(t),
                        _ => general,
                    };
                    if keep {
                        rows.push((Some(v), i, e));
                    }
                }
                if any && general {
                    total += 1;
                }
            }
            None => {
                if general {
                    rows.push((None, i, e));
                    total += 1;
                }
            }
        }
    }
    // The direction of travel: backwards from a previous-page cursor.
    let forward_cmp = |a: &Sorted, b: &Sorted| {
        let c = compare_values(&a.0, &b.0).then(a.1.cmp(&b.1));
        if desc { c.reverse() } else { c }
    };
    let backwards = cursor.previous;
    let travel_cmp = |a: &Sorted, b: &Sorted| {
        if backwards {
            forward_cmp(b, a)
        } else {
            forward_cmp(a, b)
        }
    };
    // Only rows strictly after the cursor, in the direction of travel.
    let after: Box<dyn Fn(&Sorted) -> bool> = match cursor.values.as_slice() {
        [value, Some(last_ref)] if sort_key.is_some() => {
            let value = value.clone();
            let last_ref = last_ref.clone();
            Box::new(move |r| {
                let c = compare_values(&r.0, &value.as_deref().map(Cow::Borrowed))
                    .then_with(|| (*r.2.entity_ref).cmp(last_ref.as_str()));
                let c = if desc { c.reverse() } else { c };
                if backwards {
                    c == Ordering::Less
                } else {
                    c == Ordering::Greater
                }
            })
        }
        [Some(last_ref)] if sort_key.is_none() => {
            let last_ref = last_ref.clone();
            Box::new(move |r| {
                let c = (*r.2.entity_ref).cmp(last_ref.as_str());
                if backwards {
                    c == Ordering::Less
                } else {
                    c == Ordering::Greater
                }
            })
        }
        [] => Box::new(|_| true),
        _ => return Err(ApiError::input("Malformed cursor, could not be parsed")),
    };
    let take = if backwards { limit } else { limit + 1 };
    let take = if limit == 0 { 0 } else { take };
    rows.retain(|r| after(r));
    smallest_sorted(&mut rows, offset.saturating_add(take), travel_cmp);
    let mut page: Vec<Sorted<'_, 'a>> = rows.into_iter().skip(offset).take(take).collect();
    if backwards {
        page.reverse();
    }
    let total_items = match cursor.total_items {
        Some(n) => n,
        None if count_total => total,
        None => 0,
    };
    let more = limit > 0 && (backwards || page.len() > limit);
    page.truncate(limit);
    let sort_values = |r: Option<&Sorted>| -> Vec<Option<String>> {
        let entity_ref = r.map(|r| r.2.entity_ref.to_string());
        if sort_key.is_some() {
            vec![
                r.and_then(|r| r.0.as_ref().map(|v| v.to_string())),
                entity_ref,
            ]
        } else {
            vec![entity_ref]
        }
    };
    let first_values = sort_values(page.first());
    let first = cursor.first.clone().unwrap_or_else(|| first_values.clone());
    let next = more.then(|| Cursor {
        values: sort_values(page.last()),
        first: Some(first.clone()),
        previous: false,
        total_items: Some(total_items),
        ..cursor.clone()
    });
    let prev = (!initial
        && cursor.first.is_some()
        && !page.is_empty()
        && Some(&first_values) != cursor.first.as_ref())
    .then(|| Cursor {
        values: first_values.clone(),
        first: cursor.first.clone(),
        previous: true,
        total_items: Some(total_items),
        ..cursor.clone()
    });
    Ok(QueryPage {
        items: page.into_iter().map(|(_, _, e)| e).collect(),
        total_items,
        next,
        prev,
    })
}

/// `/entity-facets`: per facet (as asked), the values written and how many entities hold each,
/// in value order.
pub fn facets(view: &View, facets: &[String], filter: Option<&Predicate>) -> Value {
    let keys: Vec<String> = facets.iter().map(|f| f.to_lowercase()).collect();
    let mut counts: BTreeMap<&str, BTreeMap<&str, usize>> = BTreeMap::new();
    for (_, e) in view.filtered(filter) {
        for r in e.rows.iter() {
            if let Some(v) = r.value
                && let Some(k) = keys.iter().find(|k| **k == r.key)
            {
                *counts.entry(k.as_str()).or_default().entry(v).or_default() += 1;
            }
        }
    }
    let mut out = serde_json::Map::new();
    for (facet, key) in facets.iter().zip(&keys) {
        let values: Vec<Value> = counts
            .get(key.as_str())
            .into_iter()
            .flatten()
            .map(|(v, n)| json!({"value": v, "count": n}))
            .collect();
        out.insert(facet.clone(), Value::Array(values));
    }
    json!({ "facets": out })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smallest_sorted_equals_the_head_of_a_full_sort() {
        // Values with many ties, broken by position as every caller does.
        let rows: Vec<(u32, usize)> = (0..200).map(|i| ((i * 7919 % 13) as u32, i)).collect();
        let mut all = rows.clone();
        all.sort();
        for n in [0, 1, 2, 12, 13, 100, 199, 200, 201, usize::MAX] {
            let mut some = rows.clone();
            smallest_sorted(&mut some, n, |a, b| a.cmp(b));
            assert_eq!(some, all[..n.min(all.len())], "n = {n}");
        }
    }
}
