//! The API end to end over a small catalog, through the router, as an HTTP client sees it.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

use super::*;
use crate::consent::{Consents, CrossNamespaceRefs};

const CATALOG: &str = r#"
apiVersion: catalog.playbill.dev/v1alpha1
kind: Group
metadata: {name: team-a, namespace: default, uid: g-1}
spec: {type: team, children: []}
---
apiVersion: catalog.playbill.dev/v1alpha1
kind: System
metadata: {name: shop, namespace: default, uid: s-1}
spec: {owner: team-a, tags: [retail]}
---
apiVersion: catalog.playbill.dev/v1alpha1
kind: Component
metadata: {name: web, namespace: default, uid: c-1}
spec: {type: website, lifecycle: production, owner: team-a, system: shop, tags: [java, web]}
---
apiVersion: catalog.playbill.dev/v1alpha1
kind: Component
metadata: {name: api, namespace: default, uid: c-2}
spec: {type: service, lifecycle: experimental, owner: team-a, system: shop, tags: [java]}
---
apiVersion: catalog.playbill.dev/v1alpha1
kind: Component
metadata: {name: vault, namespace: secret, uid: c-3}
spec: {type: service, lifecycle: production, owner: default/team-a, system: default/shop}
"#;

fn store() -> Arc<Store> {
    let now = k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(Default::default());
    let objects =
        crate::catalog::from_manifests(&[("c.yaml".into(), CATALOG.into())], "default", 1000, &now)
            .unwrap();
    let store = Store::new();
    store.replace(Snapshot::build(
        &objects,
        &Consents::new(CrossNamespaceRefs::Allow),
        true,
    ));
    store
}

/// Hides one Kubernetes namespace.
struct HideNamespace(&'static str);

impl Visibility for HideNamespace {
    fn may_read(&self, _: Kind, namespace: &str) -> bool {
        namespace != self.0
    }
}

async fn call(
    store: &Arc<Store>,
    vis: Option<Arc<dyn Visibility>>,
    method: &str,
    uri: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(uri);
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let mut req = req
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .unwrap();
    if let Some(v) = vis {
        req.extensions_mut().insert(v);
    }
    let res = router(store.clone()).oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 24)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn get(store: &Arc<Store>, uri: &str) -> (StatusCode, Value) {
    call(store, None, "GET", uri, None).await
}

fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|e| e["metadata"]["name"].as_str().unwrap_or("-").to_owned())
        .collect()
}

#[tokio::test]
async fn lists_filter_project_order_and_page() {
    let s = store();
    let (status, all) = get(&s, "/api/catalog/entities").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(names(&all), ["api", "web", "vault", "team-a", "shop"]);
    let (_, v) = get(
        &s,
        "/api/catalog/entities?filter=kind=component,kind=system",
    )
    .await;
    assert_eq!(
        names(&v),
        ["api", "web", "vault", "shop"],
        "one key's values OR"
    );
    let (_, v) = get(&s, "/api/catalog/entities?filter=metadata.tags=WEB").await;
    assert_eq!(names(&v), ["web"]);
    let (_, v) = get(
        &s,
        "/api/catalog/entities?filter=relations.ownedBy=group:default/team-a,kind=component&filter=kind=group",
    )
    .await;
    assert_eq!(names(&v), ["api", "web", "vault", "team-a"]);
    let (_, v) = get(
        &s,
        "/api/catalog/entities?fields=metadata.name&filter=kind=system",
    )
    .await;
    assert_eq!(v, json!([{"metadata": {"name": "shop"}}]));
    let (_, v) = get(&s, "/api/catalog/entities?order=desc:metadata.name&limit=2").await;
    assert_eq!(names(&v), ["web", "vault"]);
    let (_, v) = get(
        &s,
        "/api/catalog/entities?order=asc:spec.lifecycle&limit=10",
    )
    .await;
    assert_eq!(
        names(&v),
        ["api", "web", "vault", "team-a", "shop"],
        "ties by ref, without the field last"
    );
    let (_, v) = get(&s, "/api/catalog/entities?limit=2&offset=4").await;
    assert_eq!(names(&v), ["shop"]);
}

#[tokio::test]
async fn bad_input_is_a_400_in_backstages_shape() {
    let s = store();
    for uri in [
        "/api/catalog/entities?limit=-1",
        "/api/catalog/entities?limit=0",
        "/api/catalog/entities?offset=-5",
        "/api/catalog/entities?order=bogus",
        "/api/catalog/entities?filter==x",
        "/api/catalog/entities?limit=1000000",
        "/api/catalog/entities/by-query?cursor=%21%21",
        "/api/catalog/entity-facets",
    ] {
        let (status, v) = get(&s, uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(v["error"]["name"], "InputError", "{uri}");
        assert_eq!(v["response"]["statusCode"], 400);
        assert_eq!(v["request"]["method"], "GET");
    }
    let long = "x".repeat(5000);
    let (_, v) = get(&s, &format!("/api/catalog/entities?order={long}")).await;
    assert!(v.to_string().len() < 1000, "no echo of unbounded input");
    let (status, v) = call(&s, None, "POST", "/api/catalog/locations", Some(json!({}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(v["error"]["name"], "NotAllowedError");
}

#[tokio::test]
async fn by_query_pages_both_ways_with_a_total() {
    let s = store();
    let (_, p1) = get(
        &s,
        "/api/catalog/entities/by-query?limit=2&orderField=metadata.name,asc",
    )
    .await;
    assert_eq!(names(&p1["items"]), ["api", "shop"]);
    assert_eq!(p1["totalItems"], 5);
    assert!(p1["pageInfo"]["prevCursor"].is_null());
    let next = p1["pageInfo"]["nextCursor"].as_str().unwrap();
    let (_, p2) = get(
        &s,
        &format!("/api/catalog/entities/by-query?limit=2&cursor={next}"),
    )
    .await;
    assert_eq!(names(&p2["items"]), ["team-a", "vault"]);
    assert_eq!(p2["totalItems"], 5);
    let (_, p3) = get(
        &s,
        &format!(
            "/api/catalog/entities/by-query?limit=2&cursor={}",
            p2["pageInfo"]["nextCursor"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(names(&p3["items"]), ["web"]);
    assert!(p3["pageInfo"]["nextCursor"].is_null());
    let (_, back) = get(
        &s,
        &format!(
            "/api/catalog/entities/by-query?limit=2&cursor={}",
            p3["pageInfo"]["prevCursor"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(names(&back["items"]), ["team-a", "vault"]);
    let (_, back) = get(
        &s,
        &format!(
            "/api/catalog/entities/by-query?limit=2&cursor={}",
            back["pageInfo"]["prevCursor"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(names(&back["items"]), ["api", "shop"]);
    assert!(back["pageInfo"]["prevCursor"].is_null());
    // Full text on the sort field, and a predicate query.
    let (_, v) = get(
        &s,
        "/api/catalog/entities/by-query?orderField=metadata.name,desc&fullTextFilterTerm=A",
    )
    .await;
    assert_eq!(names(&v["items"]), ["vault", "team-a", "api"]);
    let (_, v) = call(
        &s,
        None,
        "POST",
        "/api/catalog/entities/by-query",
        Some(json!({"query": {"kind": "component", "spec.lifecycle": {"$in": ["production"]}},
                   "orderBy": [{"field": "metadata.name", "order": "asc"}], "fields": ["metadata.name"]})),
    )
    .await;
    assert_eq!(
        v["items"],
        json!([{"metadata": {"name": "vault"}}, {"metadata": {"name": "web"}}])
    );
}

#[tokio::test]
async fn lookups_refs_facets_and_ancestry() {
    let s = store();
    let (status, v) = get(&s, "/api/catalog/entities/by-name/Component/Default/WEB").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["metadata"]["uid"], "c-1");
    let (status, v) = get(&s, "/api/catalog/entities/by-uid/c-2").await;
    assert_eq!(
        (status, v["metadata"]["name"].clone()),
        (StatusCode::OK, json!("api"))
    );
    let (_, v) = call(
        &s,
        None,
        "POST",
        "/api/catalog/entities/by-refs",
        Some(json!({"entityRefs": ["system:default/shop", "component:default/nope", "component:default/web"],
                   "fields": ["kind"]})),
    )
    .await;
    assert_eq!(
        v,
        json!({"items": [{"kind": "System"}, null, {"kind": "Component"}]})
    );
    let (_, v) = get(
        &s,
        "/api/catalog/entity-facets?facet=spec.lifecycle&facet=metadata.tags&filter=kind=component",
    )
    .await;
    assert_eq!(
        v,
        json!({"facets": {
            "spec.lifecycle": [{"value": "experimental", "count": 1}, {"value": "production", "count": 2}],
            "metadata.tags": [{"value": "java", "count": 2}, {"value": "web", "count": 1}]}})
    );
    let (_, v) = get(
        &s,
        "/api/catalog/entities/by-name/component/default/web/ancestry",
    )
    .await;
    assert_eq!(v["rootEntityRef"], "component:default/web");
    assert_eq!(v["items"][0]["parentEntityRefs"], json!([]));
    let (status, v) = get(&s, "/api/catalog/entities/by-name/component/default/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(v["error"]["name"], "NotFoundError");
}

#[tokio::test]
async fn a_hidden_namespace_does_not_exist_for_the_caller() {
    let s = store();
    let hide: Option<Arc<dyn Visibility>> = Some(Arc::new(HideNamespace("secret")));
    let (_, v) = call(&s, hide.clone(), "GET", "/api/catalog/entities", None).await;
    assert_eq!(names(&v), ["api", "web", "team-a", "shop"]);
    let (status, _) = call(
        &s,
        hide.clone(),
        "GET",
        "/api/catalog/entities/by-name/component/secret/vault",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(
        &s,
        hide.clone(),
        "GET",
        "/api/catalog/entities/by-uid/c-3",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(
        &s,
        hide.clone(),
        "GET",
        "/api/catalog/entities/by-name/component/secret/vault/ancestry",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, v) = call(
        &s,
        hide.clone(),
        "POST",
        "/api/catalog/entities/by-refs",
        Some(json!({"entityRefs": ["component:secret/vault", "component:default/web"], "fields": ["kind"]})),
    )
    .await;
    assert_eq!(v, json!({"items": [null, {"kind": "Component"}]}));
    let (_, v) = call(
        &s,
        hide.clone(),
        "GET",
        "/api/catalog/entities/by-query?filter=kind=component",
        None,
    )
    .await;
    assert_eq!(v["totalItems"], 2);
    assert_eq!(names(&v["items"]), ["api", "web"]);
    let (_, v) = call(
        &s,
        hide.clone(),
        "GET",
        "/api/catalog/entity-facets?facet=metadata.namespace",
        None,
    )
    .await;
    assert_eq!(
        v,
        json!({"facets": {"metadata.namespace": [{"value": "default", "count": 4}]}})
    );
    let (_, v) = call(&s, hide, "GET", "/api/catalog/entities?limit=10", None).await;
    assert_eq!(names(&v).len(), 4);
    // Without a visibility, everything.
    let (_, v) = get(&s, "/api/catalog/entity-facets?facet=metadata.namespace").await;
    assert_eq!(
        v["facets"]["metadata.namespace"][1],
        json!({"value": "secret", "count": 1})
    );
}

#[tokio::test]
async fn validate_entity_uses_playbills_rules() {
    let s = store();
    let valid = json!({"entity": {"apiVersion": "backstage.io/v1alpha1", "kind": "Component",
        "metadata": {"name": "x"}, "spec": {"type": "service", "lifecycle": "production", "owner": "team-a"}},
        "location": "url:https://example.com/catalog-info.yaml"});
    let (status, _) = call(
        &s,
        None,
        "POST",
        "/api/catalog/validate-entity",
        Some(valid),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let invalid = json!({"entity": {"apiVersion": "backstage.io/v1alpha1", "kind": "Component",
        "metadata": {"name": "x"}, "spec": {"type": "service"}},
        "location": "url:https://example.com/catalog-info.yaml"});
    let (status, v) = call(
        &s,
        None,
        "POST",
        "/api/catalog/validate-entity",
        Some(invalid),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(!v["errors"].as_array().unwrap().is_empty(), "{v}");
}

#[tokio::test]
async fn not_ready_until_every_kind_is_listed() {
    let s = Store::new();
    let (status, v) = get(&s, "/api/catalog/entities").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(v["error"]["name"], "ServiceUnavailableError");
}

#[tokio::test]
async fn cursor_pages_through_ties_without_loss() {
    let s = store();
    for (field, order) in [
        ("kind", "asc"),
        ("kind", "desc"),
        ("spec.lifecycle", "desc"),
    ] {
        let mut seen = Vec::new();
        let mut uri = format!("/api/catalog/entities/by-query?limit=1&orderField={field},{order}");
        loop {
            let (_, v) = get(&s, &uri).await;
            seen.extend(names(&v["items"]));
            match v["pageInfo"]["nextCursor"].as_str() {
                Some(c) => uri = format!("/api/catalog/entities/by-query?limit=1&cursor={c}"),
                None => break,
            }
        }
        let total = if field == "kind" { 5 } else { 3 };
        let mut distinct = seen.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(
            (seen.len(), distinct.len()),
            (total, total),
            "{field} {order}: {seen:?}"
        );
    }
}

#[test]
fn the_store_keeps_what_the_export_reads_and_nothing_else() {
    let value = json!({
        "apiVersion": "catalog.playbill.dev/v1alpha1", "kind": "Component",
        "metadata": {"name": "web", "namespace": "default", "uid": "c-1",
            "managedFields": [{"manager": "kubectl"}], "annotations": {"a": "b"}},
        "spec": {"type": "website", "lifecycle": "production", "owner": "team-a"},
        "status": {"conditions": []}
    });
    let stored = store::StoredObject::new(value.clone()).unwrap();
    let s = Store::new();
    let me = crate::model::EntityRef::of(Kind::Component, "default", "web");
    s.apply(Kind::Component, me, Some(stored));
    let objects = s.objects();
    assert_eq!(objects.len(), 1);
    let want = crate::catalog::CatalogObject::from_value(value, "").unwrap();
    assert_eq!(
        (&objects[0].spec, &objects[0].annotations, &objects[0].uid),
        (&want.spec, &want.annotations, &want.uid)
    );
    assert!(objects[0].status.is_none());
    assert!(store::StoredObject::new(json!({"apiVersion": "v1", "kind": "ConfigMap"})).is_none());
}

#[test]
fn a_status_write_is_no_change_to_the_catalog() {
    let object = |rv: &str, owner: &str| {
        store::StoredObject::new(json!({
            "apiVersion": "catalog.playbill.dev/v1alpha1", "kind": "Component",
            "metadata": {"name": "web", "namespace": "default", "resourceVersion": rv},
            "spec": {"type": "website", "lifecycle": "production", "owner": owner},
            "status": {"observedGeneration": rv}
        }))
    };
    let s = Store::new();
    let me = crate::model::EntityRef::of(Kind::Component, "default", "web");
    let consents = Consents::new(CrossNamespaceRefs::Allow);
    let mut last = (u64::MAX, 0);
    s.apply(Kind::Component, me.clone(), object("1", "team-a"));
    assert!(s.refresh(&consents, 0, &mut last).is_some());
    s.apply(Kind::Component, me.clone(), object("2", "team-a"));
    assert!(
        s.refresh(&consents, 0, &mut last).is_none(),
        "only the status changed"
    );
    assert_eq!(s.objects()[0].resource_version.as_deref(), Some("1"));
    s.apply(Kind::Component, me, object("3", "team-b"));
    assert!(s.refresh(&consents, 0, &mut last).is_some());
    assert_eq!(s.objects()[0].resource_version.as_deref(), Some("3"));
}

/// The store after each change answers exactly as a snapshot built from scratch, and builds
/// anew only the entries whose answer changed.
#[test]
fn incremental_snapshots_equal_a_full_build_and_rebuild_only_what_changed() {
    let object =
        |kind: &str, name: &str, spec: serde_json::Value, annotations: serde_json::Value| {
            store::StoredObject::new(json!({
                "apiVersion": "catalog.playbill.dev/v1alpha1", "kind": kind,
                "metadata": {"name": name, "namespace": "default", "uid": format!("u-{name}"),
                    "annotations": annotations},
                "spec": spec
            }))
        };
    let component = |name: &str, owner: &str, description: &str| {
        object(
            "Component",
            name,
            json!({"type": "service", "lifecycle": "production", "owner": owner,
                "description": description, "dependsOn": ["component:db"]}),
            json!({}),
        )
    };
    let group = |name: &str, annotations: serde_json::Value| {
        object(
            "Group",
            name,
            json!({"type": "team", "children": []}),
            annotations,
        )
    };
    let r = |kind, name: &str| crate::model::EntityRef::of(kind, "default", name);
    let s = Store::new();
    let consents = Consents::new(CrossNamespaceRefs::Allow);
    let mut last = (u64::MAX, 0);
    let same_as_full_build = |s: &Store| {
        let full = Snapshot::build(&s.objects(), &consents, false);
        let texts = |snap: &Snapshot| -> Vec<String> {
            snap.entries.iter().map(|e| e.json.to_string()).collect()
        };
        assert_eq!(texts(&s.snapshot()), texts(&full));
    };
    s.apply(
        Kind::Group,
        r(Kind::Group, "team-a"),
        group("team-a", json!({})),
    );
    s.apply(
        Kind::Group,
        r(Kind::Group, "team-b"),
        group("team-b", json!({})),
    );
    s.apply(
        Kind::Component,
        r(Kind::Component, "db"),
        component("db", "team-a", "the database"),
    );
    for i in 0..5 {
        let name = format!("svc-{i}");
        s.apply(
            Kind::Component,
            r(Kind::Component, &name),
            component(&name, "team-a", "a service"),
        );
    }
    assert_eq!(s.refresh(&consents, 0, &mut last), Some(8));
    same_as_full_build(&s);

    // A description: that entity only.
    s.apply(
        Kind::Component,
        r(Kind::Component, "svc-0"),
        component("svc-0", "team-a", "new words"),
    );
    assert_eq!(s.refresh(&consents, 0, &mut last), Some(1));
    same_as_full_build(&s);

    // An owner: the entity and both groups (ownerOf on each side changes).
    s.apply(
        Kind::Component,
        r(Kind::Component, "svc-1"),
        component("svc-1", "team-b", "a service"),
    );
    assert_eq!(s.refresh(&consents, 0, &mut last), Some(3));
    same_as_full_build(&s);

    // A group renamed for Backstage (the import's annotation): every reference to it is
    // restored to the new name, so its owned entities' answers change with it.
    s.apply(
        Kind::Group,
        r(Kind::Group, "team-b"),
        group(
            "team-b",
            json!({"catalog.playbill.dev/backstage-name": "Team_B"}),
        ),
    );
    let rebuilt = s.refresh(&consents, 0, &mut last).unwrap();
    assert_eq!(rebuilt, 2, "team-b and svc-1, which it owns");
    same_as_full_build(&s);
    assert!(s.snapshot().by_ref("group:default/team_b").is_some());

    // A deletion: the entity is gone, and its owner loses ownerOf. Its dependents keep their
    // dependsOn relation (Backstage keeps relations to missing targets): their answers stay.
    s.delete(&r(Kind::Component, "db"));
    assert_eq!(s.refresh(&consents, 0, &mut last), Some(1), "team-a");
    same_as_full_build(&s);
    assert!(s.snapshot().by_ref("component:default/db").is_none());
    assert_eq!(s.refresh(&consents, 0, &mut last), None, "nothing changed");
}

/// Many random edits (owners, dependencies, APIs, systems, Backstage names and namespaces from
/// the import's annotations, rewritten references, specs that do not fit, deletions) in small
/// batches: after every build the store answers exactly as a snapshot built from scratch.
#[test]
fn incremental_snapshots_survive_random_edits() {
    struct Lcg(u64);
    impl Lcg {
        fn below(&mut self, n: u64) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 33) % n
        }
        fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
            xs[self.below(xs.len() as u64) as usize]
        }
    }
    const NAMESPACES: [&str; 2] = ["ns-a", "ns-b"];
    const GROUPS: [&str; 4] = ["team-a", "team-b", "team-c", "ns-b/team-a"];
    const COMPONENTS: [&str; 6] = ["svc-a", "svc-b", "svc-c", "svc-d", "ns-a/svc-a", "gone"];
    const SYSTEMS: [&str; 3] = ["shop", "ns-b/shop", "nowhere"];
    const APIS: [&str; 3] = ["orders", "ns-a/orders", "payments"];
    for (seed, mode) in (1..=6u64).map(|seed| {
        // Under consent (no grants: every reference across namespaces is refused) the store
        // builds afresh each time; it must still agree.
        let mode = if seed == 6 {
            CrossNamespaceRefs::Consent
        } else {
            CrossNamespaceRefs::Allow
        };
        (seed, mode)
    }) {
        let consents = Consents::new(mode);
        let mut rng = Lcg(seed);
        let s = Store::new();
        let mut last = (u64::MAX, 0);
        for step in 0..150 {
            for _ in 0..=rng.below(3) {
                let ns = rng.pick(&NAMESPACES);
                let (kind, name) = match rng.below(4) {
                    0 => (Kind::Group, rng.pick(&["team-a", "team-b", "team-c"])),
                    1 => (Kind::System, "shop"),
                    2 => (Kind::Api, rng.pick(&["orders", "payments"])),
                    _ => (
                        Kind::Component,
                        rng.pick(&["svc-a", "svc-b", "svc-c", "svc-d"]),
                    ),
                };
                let me = crate::model::EntityRef::of(kind, ns, name);
                if rng.below(6) == 0 {
                    s.delete(&me);
                    continue;
                }
                let mut annotations = serde_json::Map::new();
                if rng.below(4) == 0 {
                    // A Backstage name that maps back to this object's name.
                    annotations.insert(
                        "catalog.playbill.dev/backstage-name".into(),
                        json!(name.to_uppercase().replace('-', "_")),
                    );
                }
                if rng.below(5) == 0 {
                    annotations.insert(
                        "catalog.playbill.dev/backstage-namespace".into(),
                        json!(rng.pick(&["legacy", "ns-b", "ns-a"])),
                    );
                }
                let spec = match kind {
                    Kind::Group => json!({"type": "team", "children": [],
                        "parent": rng.pick(&GROUPS)}),
                    Kind::System => json!({"owner": rng.pick(&GROUPS)}),
                    Kind::Api => json!({"type": "openapi", "lifecycle": "production",
                        "owner": rng.pick(&GROUPS), "system": rng.pick(&SYSTEMS),
                        "definition": "openapi: 3.0.0"}),
                    _ if rng.below(10) == 0 => json!({"type": 7, "owner": []}),
                    _ => {
                        let owner = rng.pick(&GROUPS);
                        if rng.below(4) == 0 {
                            // The import kept how Backstage wrote the owner.
                            annotations.insert(
                                "catalog.playbill.dev/backstage-refs".into(),
                                json!(
                                    json!({"spec.owner": [owner.to_uppercase(), owner]})
                                        .to_string()
                                ),
                            );
                        }
                        json!({"type": "service", "lifecycle": "production", "owner": owner,
                            "system": rng.pick(&SYSTEMS),
                            "dependsOn": [format!("component:{}", rng.pick(&COMPONENTS)),
                                format!("component:{}", rng.pick(&COMPONENTS))],
                            "providesApis": [rng.pick(&APIS)],
                            "consumesApis": [rng.pick(&APIS)]})
                    }
                };
                let object = store::StoredObject::new(json!({
                    "apiVersion": "catalog.playbill.dev/v1alpha1", "kind": kind.name(),
                    "metadata": {"name": name, "namespace": ns, "annotations": annotations,
                        "uid": format!("{ns}-{name}-{}", kind.lower()),
                        "resourceVersion": step.to_string()},
                    "spec": spec
                }));
                s.apply(kind, me, object);
            }
            s.refresh(&consents, 0, &mut last);
            let full = Snapshot::build(&s.objects(), &consents, false);
            let texts = |snap: &Snapshot| -> Vec<String> {
                snap.entries
                    .iter()
                    .map(|e| format!("{} {} {}", e.entity_ref, e.kube_namespace, e.json))
                    .collect()
            };
            assert_eq!(
                texts(&s.snapshot()),
                texts(&full),
                "seed {seed}, step {step}"
            );
        }
    }
}
