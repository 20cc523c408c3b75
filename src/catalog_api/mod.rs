//! Backstage's catalog API (`/api/catalog`), read-only, answered from memory: every read method
//! of `@backstage/catalog-client`'s `CatalogApi`, with catalog-backend 4.0.0's semantics, over
//! the exported catalog the operator's watches keep in a [`Store`]. Writes are refused as
//! Backstage refuses them in read-only mode. Every answer is filtered through the caller's
//! [`Visibility`]: what it may not read does not exist for it.

pub mod builder;
pub mod error;
pub mod query;
pub mod search;
pub mod store;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use serde_json::{Value, json};

pub use error::ApiError;
use query::{Cursor, FullText, MAX_LIMIT, Order, QueryRequest, View};
use search::{Fields, Predicate, bounded, parse_filter_params, parse_predicate};
pub use store::{Snapshot, Store};

use crate::model::Kind;

/// What the caller may read (decided by [`crate::authz`]); the API filters every answer
/// through it.
pub use crate::authz::Visibility;

/// Every entity: the visibility of a request that carries none (`--api-auth=none`).
pub struct Everything;

impl Visibility for Everything {
    fn may_read(&self, _: Kind, _: &str) -> bool {
        true
    }
}

type Params = Vec<(String, String)>;

fn params(q: Result<Query<Params>, QueryRejection>) -> Result<Params, ApiError> {
    q.map(|Query(p)| p)
        .map_err(|_| ApiError::input("Malformed query string"))
}

fn all<'a>(p: &'a Params, name: &str) -> Vec<&'a str> {
    p.iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

fn one<'a>(p: &'a Params, name: &str) -> Option<&'a str> {
    p.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// A non-negative integer parameter, at most `max`.
fn number(p: &Params, name: &str, max: usize) -> Result<Option<usize>, ApiError> {
    let Some(v) = one(p, name) else {
        return Ok(None);
    };
    let n: i64 = v
        .parse()
        .map_err(|_| ApiError::input(format!("Invalid {name}, must be an integer")))?;
    if n < 0 {
        return Err(ApiError::input(format!(
            "Invalid {name}, must be zero or greater"
        )));
    }
    let n = n as usize;
    if n > max {
        return Err(ApiError::input(format!(
            "Invalid {name}, must be at most {max}"
        )));
    }
    Ok(Some(n))
}

struct Caller {
    snapshot: Arc<Snapshot>,
    visibility: Arc<dyn Visibility>,
}

impl Caller {
    fn new(store: &Store, vis: Option<Extension<Arc<dyn Visibility>>>) -> Result<Caller, ApiError> {
        let snapshot = store.snapshot();
        if !snapshot.complete {
            return Err(ApiError::unavailable(
                "the catalog is still being read from the API server",
            ));
        }
        Ok(Caller {
            snapshot,
            visibility: vis.map_or_else(
                || Arc::new(Everything) as Arc<dyn Visibility>,
                |Extension(v)| v,
            ),
        })
    }

    fn view(&self) -> View<'_> {
        View {
            snapshot: &self.snapshot,
            visibility: &*self.visibility,
        }
    }
}

type Vis = Option<Extension<Arc<dyn Visibility>>>;

/// The JSON text of one entity, projected to `fields`.
fn entity_text(json: &str, fields: Option<&Fields>) -> String {
    match fields {
        None => json.to_owned(),
        Some(f) => {
            let v: Value = serde_json::from_str(json).unwrap_or(Value::Null);
            f.project(&v).to_string()
        }
    }
}

/// A JSON array of entities (or `null`s), written from their stored text.
fn entity_array<'a>(
    entries: impl IntoIterator<Item = Option<&'a store::Entry>>,
    fields: Option<&Fields>,
) -> String {
    let mut out = String::from("[");
    for (i, e) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match e {
            Some(e) => match fields {
                None => out.push_str(&e.json),
                Some(_) => out.push_str(&entity_text(&e.json, fields)),
            },
            None => out.push_str("null"),
        }
    }
    out.push(']');
    out
}

fn json_text(text: String) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        text,
    )
        .into_response()
}

/// `GET /entities`: the whole (filtered) catalog, or one page of it.
async fn entities(
    State(store): State<Arc<Store>>,
    vis: Vis,
    q: Result<Query<Params>, QueryRejection>,
) -> Result<Response, ApiError> {
    let p = params(q)?;
    let filter = parse_filter_params(&all(&p, "filter"))?;
    let fields = Fields::parse(all(&p, "fields"))?;
    let order = all(&p, "order")
        .into_iter()
        .map(Order::parse_param)
        .collect::<Result<Vec<_>, _>>()?;
    let mut limit = number(&p, "limit", MAX_LIMIT)?;
    let mut offset = number(&p, "offset", usize::MAX)?;
    let after = one(&p, "after");
    if limit == Some(0) {
        return Err(ApiError::input("Invalid limit, must be greater than zero"));
    }
    if after == Some("") {
        return Err(ApiError::input("Invalid after, must not be empty"));
    }
    let caller = Caller::new(&store, vis)?;
    let view = caller.view();
    if limit.is_none() && offset.is_none() && after.is_none() {
        // No pages: everything, as Backstage's by-query walk answers it.
        let page = query::query_entities(
            &view,
            QueryRequest::Initial {
                filter,
                order: order.first().cloned(),
                full_text: None,
                offset: 0,
                count_total: false,
            },
            usize::MAX - 1,
        )?;
        return Ok(json_text(entity_array(
            page.items.into_iter().map(Some),
            fields.as_ref(),
        )));
    }
    if let Some(after) = after {
        let bad = || ApiError::input("Malformed after cursor, could not be parsed");
        let bytes = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, after)
            .map_err(|_| bad())?;
        let c: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
        if let Some(l) = c.get("limit") {
            let l = l
                .as_u64()
                .filter(|l| (1..=MAX_LIMIT as u64).contains(l))
                .ok_or_else(bad)?;
            limit = Some(l as usize);
        }
        if let Some(o) = c.get("offset") {
            offset = Some(o.as_u64().ok_or_else(bad)? as usize);
        }
    }
    let offset = offset.unwrap_or(0);
    let (page, more) = query::entities_page(&view, filter.as_ref(), &order, limit, offset);
    let mut res = json_text(entity_array(page.into_iter().map(Some), fields.as_ref()));
    if more && let Some(limit) = limit {
        let cursor = json!({"limit": limit, "offset": offset + limit}).to_string();
        let after = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, cursor);
        let mut q: Vec<(String, String)> = p
            .into_iter()
            .filter(|(k, _)| k != "offset" && k != "after")
            .collect();
        q.push(("after".into(), after));
        let query: String = q
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        if let Ok(v) = format!("</api/catalog/entities?{query}>; rel=\"next\"").parse() {
            res.headers_mut().insert(header::LINK, v);
        }
    }
    Ok(res)
}

/// Percent-encodes a query component.
fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn query_response(page: query::QueryPage, fields: Option<&Fields>) -> Response {
    let mut page_info = serde_json::Map::new();
    if let Some(n) = &page.next {
        page_info.insert("nextCursor".into(), n.encode().into());
    }
    if let Some(p) = &page.prev {
        page_info.insert("prevCursor".into(), p.encode().into());
    }
    let items = entity_array(page.items.into_iter().map(Some), fields);
    json_text(format!(
        "{{\"items\":{items},\"totalItems\":{},\"pageInfo\":{}}}",
        page.total_items,
        Value::Object(page_info)
    ))
}

fn total_items_mode(v: Option<&str>) -> Result<bool, ApiError> {
    match v {
        None | Some("include") => Ok(true),
        Some("exclude") => Ok(false),
        Some(other) => Err(ApiError::input(format!(
            "Invalid totalItems parameter \"{}\", expected one of: include, exclude",
            bounded(other)
        ))),
    }
}

/// `GET /entities/by-query`.
async fn by_query_get(
    State(store): State<Arc<Store>>,
    vis: Vis,
    q: Result<Query<Params>, QueryRejection>,
) -> Result<Response, ApiError> {
    let p = params(q)?;
    let fields = Fields::parse(all(&p, "fields"))?;
    let limit = number(&p, "limit", MAX_LIMIT)?.unwrap_or(query::DEFAULT_LIMIT);
    let offset = number(&p, "offset", usize::MAX)?;
    let request = match one(&p, "cursor").filter(|c| !c.is_empty()) {
        Some(c) => QueryRequest::Next(Cursor::decode(c)?),
        None => {
            let order = all(&p, "orderField")
                .into_iter()
                .map(Order::parse_order_field)
                .collect::<Result<Vec<_>, _>>()?;
            // A comma-separated list (the client sends it so), or the parameter repeated.
            let text_fields: Vec<String> = all(&p, "fullTextFilterFields")
                .into_iter()
                .flat_map(|f| f.split(','))
                .map(str::trim)
                .filter(|f| !f.is_empty())
                .map(str::to_owned)
                .collect();
            QueryRequest::Initial {
                filter: parse_filter_params(&all(&p, "filter"))?,
                order: order.into_iter().next(),
                full_text: Some(FullText {
                    term: one(&p, "fullTextFilterTerm").unwrap_or_default().to_owned(),
                    fields: (!text_fields.is_empty()).then_some(text_fields),
                }),
                offset: offset.unwrap_or(0),
                count_total: total_items_mode(one(&p, "totalItems"))?,
            }
        }
    };
    let caller = Caller::new(&store, vis)?;
    let page = query::query_entities(&caller.view(), request, limit)?;
    Ok(query_response(page, fields.as_ref()))
}

/// A JSON request body, read as Backstage's express app reads it: anything but JSON is empty.
fn body(headers: &HeaderMap, bytes: &Bytes) -> Result<Value, ApiError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
        });
    if !is_json || bytes.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice(bytes).map_err(|_| ApiError::input("Malformed request body, not JSON"))
}

fn strings(v: Option<&Value>, what: &str) -> Result<Option<Vec<String>>, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| x.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .map(Some)
            .ok_or_else(|| {
                ApiError::input(format!("Invalid {what}, expected an array of strings"))
            }),
        Some(_) => Err(ApiError::input(format!(
            "Invalid {what}, expected an array of strings"
        ))),
    }
}

fn limit_of(v: Option<&Value>, default: usize) -> Result<usize, ApiError> {
    match v {
        None => Ok(default),
        Some(n) => match n.as_u64() {
            Some(n) if n as usize <= MAX_LIMIT => Ok(n as usize),
            _ => Err(ApiError::input(format!(
                "Invalid limit, must be an integer from 0 to {MAX_LIMIT}"
            ))),
        },
    }
}

/// `POST /entities/by-query`: the same, with a predicate `query`.
async fn by_query_post(
    State(store): State<Arc<Store>>,
    vis: Vis,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let b = body(&headers, &bytes)?;
    let Value::Object(b) = b else {
        return Err(ApiError::input("Expected body to be a JSON object"));
    };
    let fields = Fields::parse(
        strings(b.get("fields"), "fields")?
            .iter()
            .flatten()
            .map(String::as_str),
    )?;
    let limit = limit_of(b.get("limit"), query::DEFAULT_LIMIT)?;
    let request = match b.get("cursor") {
        Some(Value::String(c)) if !c.is_empty() => QueryRequest::Next(Cursor::decode(c)?),
        Some(Value::String(_)) => return Err(ApiError::input("Cursor cannot be empty")),
        Some(_) => return Err(ApiError::input("Invalid cursor, expected a string")),
        None => {
            let filter = match b.get("query") {
                None => None,
                Some(q @ Value::Object(_)) => Some(parse_predicate(q)?),
                Some(_) => return Err(ApiError::input("Query must be an object")),
            };
            let order = match b.get("orderBy") {
                None => None,
                Some(v) => {
                    let list: Vec<Value> = match v {
                        Value::Array(a) => a.clone(),
                        other => vec![other.clone()],
                    };
                    let mut orders = Vec::new();
                    for o in list {
                        let field = o["field"].as_str().ok_or_else(|| {
                            ApiError::input("Invalid orderBy, expected {field, order}")
                        })?;
                        let desc = match o["order"].as_str() {
                            Some("asc") => false,
                            Some("desc") => true,
                            _ => {
                                return Err(ApiError::input(
                                    "Invalid order field order, must be asc or desc",
                                ));
                            }
                        };
                        orders.push(Order {
                            field: field.to_owned(),
                            desc,
                        });
                    }
                    orders.into_iter().next()
                }
            };
            let full_text = match b.get("fullTextFilter") {
                None | Some(Value::Null) => None,
                Some(Value::Object(t)) => Some(FullText {
                    term: match t.get("term") {
                        None => String::new(),
                        Some(Value::String(s)) => s.clone(),
                        Some(_) => {
                            return Err(ApiError::input(
                                "Invalid fullTextFilter.term, expected a string",
                            ));
                        }
                    },
                    fields: strings(t.get("fields"), "fullTextFilter.fields")?,
                }),
                Some(_) => {
                    return Err(ApiError::input(
                        "Invalid fullTextFilter, expected an object",
                    ));
                }
            };
            let offset = match b.get("offset") {
                None => 0,
                Some(n) => n
                    .as_u64()
                    .ok_or_else(|| ApiError::input("Invalid offset, must be zero or greater"))?
                    as usize,
            };
            QueryRequest::Initial {
                filter,
                order,
                full_text,
                offset,
                count_total: total_items_mode(
                    b.get("totalItems").map(|v| v.as_str().unwrap_or("?")),
                )?,
            }
        }
    };
    let caller = Caller::new(&store, vis)?;
    let page = query::query_entities(&caller.view(), request, limit)?;
    Ok(query_response(page, fields.as_ref()))
}

/// `POST /entities/by-refs`: the entities in the order asked, `null` for those missing.
async fn by_refs(
    State(store): State<Arc<Store>>,
    vis: Vis,
    q: Result<Query<Params>, QueryRejection>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let p = params(q)?;
    let b = body(&headers, &bytes)?;
    let malformed = |why: &str| {
        ApiError::input(format!(
            "Malformed request body (did you remember to specify an application/json content type?), {why}"
        ))
    };
    let refs = strings(b.get("entityRefs"), "entityRefs")
        .map_err(|_| malformed("entityRefs must be an array of strings"))?
        .ok_or_else(|| malformed("entityRefs is required"))?;
    if refs.len() > MAX_LIMIT {
        return Err(ApiError::input(format!(
            "Too many entityRefs, at most {MAX_LIMIT}"
        )));
    }
    let body_fields = strings(b.get("fields"), "fields")
        .map_err(|_| malformed("fields must be an array of strings"))?;
    let fields = Fields::parse(
        body_fields
            .iter()
            .flatten()
            .map(String::as_str)
            .chain(all(&p, "fields")),
    )?;
    let query_filter = match b.get("query") {
        None => None,
        Some(q) => Some(parse_predicate(q)?),
    };
    let filter = match (parse_filter_params(&all(&p, "filter"))?, query_filter) {
        (Some(a), Some(b)) => Some(Predicate::All(vec![a, b])),
        (a, b) => a.or(b),
    };
    let caller = Caller::new(&store, vis)?;
    let view = caller.view();
    let items = refs.iter().map(|r| {
        view.by_ref(r)
            .filter(|e| filter.as_ref().is_none_or(|f| f.matches(&e.rows)))
    });
    let items = entity_array(items, fields.as_ref());
    Ok(json_text(format!("{{\"items\":{items}}}")))
}

fn entity_ref(kind: &str, namespace: &str, name: &str) -> String {
    format!(
        "{}:{}/{}",
        kind.to_lowercase(),
        namespace.to_lowercase(),
        name.to_lowercase()
    )
}

/// `GET /entities/by-name/{kind}/{namespace}/{name}`.
async fn by_name(
    State(store): State<Arc<Store>>,
    vis: Vis,
    Path((kind, namespace, name)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let caller = Caller::new(&store, vis)?;
    match caller.view().by_ref(&entity_ref(&kind, &namespace, &name)) {
        Some(e) => Ok(json_text(e.json.to_string())),
        None => Err(ApiError::not_found(format!(
            "No entity named '{}' found, with kind '{}' in namespace '{}'",
            bounded(&name),
            bounded(&kind),
            bounded(&namespace)
        ))),
    }
}

/// `GET /entities/by-name/{kind}/{namespace}/{name}/ancestry`: the entity alone. Backstage's
/// parents are the locations that emitted an entity; entities provided (as Playbill's are, and
/// as its provider hands them to Backstage) have none.
async fn ancestry(
    State(store): State<Arc<Store>>,
    vis: Vis,
    Path((kind, namespace, name)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let caller = Caller::new(&store, vis)?;
    let r = entity_ref(&kind, &namespace, &name);
    match caller.view().by_ref(&r) {
        Some(e) => Ok(json_text(format!(
            "{{\"rootEntityRef\":{},\"items\":[{{\"entity\":{},\"parentEntityRefs\":[]}}]}}",
            Value::String(e.entity_ref.to_string()),
            e.json
        ))),
        None => Err(ApiError::not_found(format!(
            "No such entity {}",
            bounded(&r)
        ))),
    }
}

/// `GET /entities/by-uid/{uid}`.
async fn by_uid(
    State(store): State<Arc<Store>>,
    vis: Vis,
    Path(uid): Path<String>,
) -> Result<Response, ApiError> {
    let caller = Caller::new(&store, vis)?;
    match caller.view().by_uid(&uid) {
        Some(e) => Ok(json_text(e.json.to_string())),
        None => Err(ApiError::not_found(format!(
            "No entity with uid {}",
            bounded(&uid)
        ))),
    }
}

const MAX_FACETS: usize = 100;

fn facets_response(
    store: &Store,
    vis: Vis,
    facets: Vec<String>,
    filter: Option<Predicate>,
) -> Result<Response, ApiError> {
    if facets.len() > MAX_FACETS {
        return Err(ApiError::input(format!(
            "Too many facets, at most {MAX_FACETS}"
        )));
    }
    let caller = Caller::new(store, vis)?;
    let v = query::facets(&caller.view(), &facets, filter.as_ref());
    Ok(json_text(v.to_string()))
}

/// `GET /entity-facets?facet=...&filter=...`.
async fn facets_get(
    State(store): State<Arc<Store>>,
    vis: Vis,
    q: Result<Query<Params>, QueryRejection>,
) -> Result<Response, ApiError> {
    let p = params(q)?;
    let facets: Vec<String> = all(&p, "facet")
        .into_iter()
        .filter(|f| !f.is_empty())
        .map(str::to_owned)
        .collect();
    if facets.is_empty() {
        return Err(ApiError::input("Missing facet parameter"));
    }
    let filter = parse_filter_params(&all(&p, "filter"))?;
    facets_response(&store, vis, facets, filter)
}

/// `POST /entity-facets` with `{facets, query}`.
async fn facets_post(
    State(store): State<Arc<Store>>,
    vis: Vis,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let b = body(&headers, &bytes)?;
    let facets: Vec<String> = strings(b.get("facets"), "facets")?
        .unwrap_or_default()
        .into_iter()
        .filter(|f| !f.is_empty())
        .collect();
    if facets.is_empty() {
        return Err(ApiError::input("Missing or empty facets parameter"));
    }
    let filter = match b.get("query") {
        None => None,
        Some(q) => Some(parse_predicate(q)?),
    };
    facets_response(&store, vis, facets, filter)
}

fn validation_errors(messages: Vec<String>) -> Response {
    let errors: Vec<Value> = messages
        .into_iter()
        .map(|m| json!({"name": "InputError", "message": m}))
        .collect();
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        json!({ "errors": errors }).to_string(),
    )
        .into_response()
}

/// `POST /validate-entity` with `{entity, location}`: 200 when Playbill would take the entity
/// (the import's mapping, the CRD schema and its CEL rules, offline), else 400 with every
/// reason.
async fn validate_entity(headers: HeaderMap, bytes: Bytes) -> Response {
    let b = match body(&headers, &bytes) {
        Ok(Value::Object(b)) if !b.is_empty() => b,
        Ok(_) => return validation_errors(vec!["Missing request body".into()]),
        Err(e) => return validation_errors(vec![e.message]),
    };
    let Some(location) = b.get("location").and_then(Value::as_str) else {
        return validation_errors(vec!["Malformed request: location must be a string".into()]);
    };
    let Some(entity) = b.get("entity").filter(|e| e.is_object()) else {
        return validation_errors(vec!["Malformed request: entity must be an object".into()]);
    };
    if !location.starts_with("url:") {
        return validation_errors(vec![format!(
            "Invalid location ref {}, only 'url:<target>' is supported, e.g. url:https://host/path",
            bounded(location)
        )]);
    }
    let mut envelope = Vec::new();
    for field in ["apiVersion", "kind"] {
        if !entity[field].is_string() {
            envelope.push(format!("{field} must be a string"));
        }
    }
    if !entity["metadata"]["name"].is_string() {
        envelope.push("metadata.name must be a string".into());
    }
    if !envelope.is_empty() {
        return validation_errors(envelope);
    }
    let input = ("entity".to_owned(), entity.to_string());
    let out = crate::backstage::import::import(&[input], &Default::default());
    let mut messages: Vec<String> = out
        .errors
        .iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect();
    messages.extend(
        out.notes
            .iter()
            .map(|n| format!("Playbill does not hold this entity: {n}")),
    );
    if out.entities.is_empty() && messages.is_empty() {
        messages.push("not a catalog entity".into());
    }
    if messages.is_empty() {
        StatusCode::OK.into_response()
    } else {
        validation_errors(messages)
    }
}

/// `GET /locations`: no locations are registered in Playbill's catalog.
async fn locations() -> Response {
    json_text("[]".into())
}

/// `POST /locations/by-query`: no locations.
async fn locations_by_query(headers: HeaderMap, bytes: Bytes) -> Result<Response, ApiError> {
    let b = body(&headers, &bytes)?;
    if let Some(c) = b.get("cursor") {
        if c.as_str().is_none_or(str::is_empty) {
            return Err(ApiError::input("Cursor cannot be empty"));
        }
        return Err(ApiError::input("Malformed cursor, unknown encoding"));
    }
    if let Some(l) = b.get("limit")
        && l.as_u64().is_none_or(|l| l < 1)
    {
        return Err(ApiError::input("Limit must be a positive integer >= 1"));
    }
    if let Some(q) = b.get("query") {
        parse_predicate(q)?;
    }
    Ok(json_text(
        r#"{"items":[],"totalItems":0,"pageInfo":{}}"#.into(),
    ))
}

async fn location_by_id(Path(id): Path<String>) -> ApiError {
    ApiError::not_found(format!("Found no location with ID {}", bounded(&id)))
}

async fn location_by_entity(
    Path((kind, namespace, name)): Path<(String, String, String)>,
) -> ApiError {
    ApiError::not_found(format!(
        "found no location for {}",
        bounded(&entity_ref(&kind, &namespace, &name))
    ))
}

async fn read_only() -> ApiError {
    ApiError::read_only()
}

async fn not_found() -> ApiError {
    ApiError::not_found("No such route in the catalog API")
}

/// Everything under `/api/catalog`, answered from `store`. A request extension
/// `Arc<dyn Visibility>` narrows what the caller sees; without one it sees everything.
pub fn router(store: Arc<Store>) -> Router {
    let api = Router::new()
        .route("/entities", get(entities))
        .route("/entities/by-query", get(by_query_get).post(by_query_post))
        .route("/entities/by-refs", post(by_refs))
        .route("/entities/by-uid/{uid}", get(by_uid).delete(read_only))
        .route("/entities/by-name/{kind}/{namespace}/{name}", get(by_name))
        .route(
            "/entities/by-name/{kind}/{namespace}/{name}/ancestry",
            get(ancestry),
        )
        .route("/entity-facets", get(facets_get).post(facets_post))
        .route("/validate-entity", post(validate_entity))
        .route("/locations", get(locations).post(read_only))
        .route("/locations/by-query", post(locations_by_query))
        .route(
            "/locations/{id}",
            get(location_by_id).put(read_only).delete(read_only),
        )
        .route(
            "/locations/by-entity/{kind}/{namespace}/{name}",
            get(location_by_entity),
        )
        .route("/refresh", post(read_only))
        .route("/analyze-location", post(read_only))
        .fallback(not_found)
        .with_state(store)
        .layer(axum::middleware::from_fn(error::with_request));
    Router::new().nest("/api/catalog", api)
}
