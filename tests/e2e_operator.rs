//! The operator against a real API server: statuses converge to what the pure index computes,
//! react to changes on both ends of a reference, and cost nothing when nothing changes.

mod support;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::*;

static OPERATOR: Mutex<Option<OperatorProcess>> = Mutex::new(None);

fn start_operator() -> OperatorProcess {
    let lease = format!("playbill-e2e-{}", std::process::id());
    let op = operator_process(
        &["--lease-name", &lease, "--log-level", "playbill=debug,info"],
        "operator",
    );
    wait_for(Duration::from_secs(60), "operator ready", || {
        http_get(op.port, "/readyz").is_some_and(|(code, _)| code == 200)
    });
    op
}

/// Makes sure the shared operator runs; returns its port.
fn operator() -> u16 {
    ensure_crds();
    let mut guard = OPERATOR.lock().unwrap_or_else(|e| e.into_inner());
    if guard.is_none() {
        *guard = Some(start_operator());
    }
    guard.as_ref().unwrap().port
}

/// Stops the shared operator with SIGTERM (as Kubernetes does) and starts a new one.
fn restart_operator() -> u16 {
    let mut guard = OPERATOR.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(mut op) = guard.take() {
        op.stop(Duration::from_secs(20));
    }
    let op = start_operator();
    let port = op.port;
    *guard = Some(op);
    port
}

fn get(kind: &str, ns: &str, name: &str) -> Value {
    serde_json::from_str(&kubectl(&["get", kind, name, "-n", ns, "-o", "json"], None)).unwrap()
}

fn ready(obj: &Value) -> Option<(String, String, String)> {
    let c = obj["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")?;
    Some((
        c["status"].as_str()?.to_owned(),
        c["reason"].as_str()?.to_owned(),
        c["message"].as_str().unwrap_or_default().to_owned(),
    ))
}

/// Waits until the object's status satisfies `pred` for its current generation.
fn wait_status(
    kind: &str,
    ns: &str,
    name: &str,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let obj = get(kind, ns, name);
        let current = obj["status"]["observedGeneration"] == obj["metadata"]["generation"];
        if current && pred(&obj) {
            return obj;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {kind}/{name} in {ns}: {what}\nlast: {:#}",
            obj["status"]
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn apply(doc: Value) {
    kubectl(
        &["apply", "--server-side", "-f", "-"],
        Some(&doc.to_string()),
    );
}

fn entity(kind: &str, ns: &str, name: &str, spec: Value) -> Value {
    json!({"apiVersion": "catalog.playbill.dev/v1alpha1", "kind": kind, "metadata": {"name": name, "namespace": ns}, "spec": spec})
}

fn group(ns: &str, name: &str) -> Value {
    entity("Group", ns, name, json!({"type": "team", "children": []}))
}

fn fresh_namespace(test: &str) -> (Namespaces, String) {
    let ns = unique_prefix(test);
    (Namespaces::create(std::slice::from_ref(&ns)), ns)
}

/// The resourceVersion of every catalog object in `ns`.
fn resource_versions(ns: &str) -> BTreeMap<String, String> {
    let out = kubectl(&["get", "catalog", "-n", ns, "-o", "json"], None);
    let list: Value = serde_json::from_str(&out).unwrap();
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                format!(
                    "{}/{}",
                    o["kind"].as_str().unwrap(),
                    o["metadata"]["name"].as_str().unwrap()
                ),
                o["metadata"]["resourceVersion"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect()
}

#[test]
fn example_catalog_converges_to_the_computed_statuses() {
    let port = operator();
    let prefix = unique_prefix("examples");
    let yaml = relocate(
        &read_dir_yaml(&repo_root().join("examples/catalog")),
        &prefix,
    );
    let docs = parse_docs(&yaml);
    let _ns = Namespaces(
        docs.iter()
            .filter(|d| d["kind"] == "Namespace")
            .map(|d| d["metadata"]["name"].as_str().unwrap().to_owned())
            .collect(),
    );
    // What the pure index says every status must be.
    let now =
        k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(k8s_openapi::jiff::Timestamp::now());
    let expected =
        playbill::resolve::resolve(&[("examples".into(), yaml.clone())], "default", 1000, &now)
            .unwrap();
    let writes_before = status_writes(port);
    let started = Instant::now();
    kubectl(&["apply", "--server-side", "-f", "-"], Some(&yaml));

    let mut converged = false;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last_diff = String::new();
    while Instant::now() < deadline {
        let mut diff = Vec::new();
        let mut seen = 0;
        for ns in &_ns.0 {
            let list: Value =
                serde_json::from_str(&kubectl(&["get", "catalog", "-n", ns, "-o", "json"], None))
                    .unwrap();
            for o in list["items"].as_array().unwrap() {
                seen += 1;
                let r = o["status"]["entityRef"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let Some(want) = expected.get(&r) else {
                    diff.push(format!("{}: no status yet", o["metadata"]["name"]));
                    continue;
                };
                let want = serde_json::to_value(want).unwrap();
                diff.extend(status_mismatches(&r, &want, o));
            }
        }
        if diff.is_empty() && seen == expected.len() {
            converged = true;
            break;
        }
        last_diff = diff.join("\n");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(converged, "example catalog did not converge:\n{last_diff}");
    eprintln!(
        "example catalog: {} entities converged in {:?} (poll granularity 200 ms) with {} status writes",
        expected.len(),
        started.elapsed(),
        status_writes(port) - writes_before
    );

    // Spot checks written by hand, so this test does not only compare the code with itself.
    let org = format!("{prefix}-acme-org");
    let shop = format!("{prefix}-acme-shop");
    let fgarcia = get("user", &org, "fgarcia");
    let (status, reason, message) = ready(&fgarcia).unwrap();
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "UnresolvedReferences")
    );
    assert!(
        message.contains(&format!(
            "spec.memberOf[1]: group:{org}/team-mobile not found"
        )),
        "{message}"
    );
    let importer = get("component", &shop, "catalog-importer");
    assert_eq!(
        importer["status"]["unresolvedRefs"][0]["reason"],
        "NotFound"
    );
    assert!(
        status_relations(&importer)
            .contains(&format!("dependsOn resource:{shop}/legacy-mainframe"))
    );
}

fn status_writes(port: u16) -> u64 {
    let (_, body) = http_get(port, "/metrics").expect("metrics served");
    body.lines()
        .filter(|l| l.starts_with("playbill_status_writes_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

#[test]
fn moving_a_component_updates_both_systems() {
    operator();
    let (_g, ns) = fresh_namespace("move");
    apply(group(&ns, "team"));
    for s in ["a", "b"] {
        apply(entity("System", &ns, s, json!({"owner": "team"})));
    }
    apply(entity(
        "Component",
        &ns,
        "web",
        json!({"type": "website", "lifecycle": "production", "owner": "team", "system": "a"}),
    ));
    wait_status("system", &ns, "a", "hasPart web", |o| {
        status_relations(o).contains(&format!("hasPart component:{ns}/web"))
    });
    apply(entity(
        "Component",
        &ns,
        "web",
        json!({"type": "website", "lifecycle": "production", "owner": "team", "system": "b"}),
    ));
    wait_status("system", &ns, "a", "no parts", |o| {
        !status_relations(o).iter().any(|r| r.starts_with("hasPart")) && o["status"]["parts"] == 0
    });
    wait_status("system", &ns, "b", "hasPart web", |o| {
        status_relations(o).contains(&format!("hasPart component:{ns}/web"))
            && o["status"]["parts"] == 1
    });
    wait_status("component", &ns, "web", "partOf b", |o| {
        status_relations(o)
            == [
                format!("ownedBy group:{ns}/team"),
                format!("partOf system:{ns}/b"),
            ]
    });
}

#[test]
fn deleting_a_group_unreadies_what_it_owned_until_it_returns() {
    operator();
    let (_g, ns) = fresh_namespace("delgroup");
    apply(group(&ns, "owners"));
    apply(entity(
        "Component",
        &ns,
        "svc",
        json!({"type": "service", "lifecycle": "production", "owner": "owners"}),
    ));
    apply(entity(
        "Resource",
        &ns,
        "db",
        json!({"type": "database", "owner": "group:owners"}),
    ));
    for (k, n) in [("component", "svc"), ("resource", "db")] {
        wait_status(k, &ns, n, "Ready", |o| {
            ready(o).is_some_and(|r| r.0 == "True")
        });
    }
    kubectl(&["delete", "group", "owners", "-n", &ns], None);
    for (k, n) in [("component", "svc"), ("resource", "db")] {
        let o = wait_status(k, &ns, n, "NotFound", |o| {
            ready(o).is_some_and(|r| r.0 == "False")
        });
        assert_eq!(ready(&o).unwrap().1, "UnresolvedReferences");
        assert_eq!(o["status"]["unresolvedRefs"][0]["reason"], "NotFound");
        assert_eq!(o["status"]["unresolvedRefs"][0]["field"], "spec.owner");
    }
    // The flip is reported as a Kubernetes Event on the entity.
    wait_for(Duration::from_secs(15), "Warning event", || {
        let ev = kubectl(
            &["get", "events.events.k8s.io", "-n", &ns, "-o", "json"],
            None,
        );
        let ev: Value = serde_json::from_str(&ev).unwrap();
        ev["items"].as_array().unwrap().iter().any(|e| {
            e["regarding"]["name"] == "svc"
                && e["reason"] == "UnresolvedReferences"
                && e["type"] == "Warning"
        })
    });
    apply(group(&ns, "owners"));
    for (k, n) in [("component", "svc"), ("resource", "db")] {
        let o = wait_status(k, &ns, n, "Ready again", |o| {
            ready(o).is_some_and(|r| r.0 == "True")
        });
        assert!(o["status"].get("unresolvedRefs").is_none());
    }
    let g = wait_status("group", &ns, "owners", "owns 2", |o| {
        o["status"]["owns"] == 2
    });
    assert_eq!(
        status_relations(&g),
        [
            format!("ownerOf component:{ns}/svc"),
            format!("ownerOf resource:{ns}/db")
        ]
    );
}

#[test]
fn wrong_kinds_cycles_mixed_case_and_cross_namespace_refs() {
    operator();
    let (_g1, ns) = fresh_namespace("kinds");
    let (_g2, other) = fresh_namespace("kinds-other");
    apply(group(&other, "platform"));
    apply(entity(
        "System",
        &ns,
        "shop",
        json!({"owner": format!("Group:{}/Platform", other.to_uppercase())}),
    ));
    apply(entity(
        "API",
        &ns,
        "orders",
        json!({"type": "openapi", "lifecycle": "production", "owner": "system:shop", "definition": "openapi: 3.0.0"}),
    ));
    let o = wait_status("api", &ns, "orders", "InvalidKind", |o| {
        ready(o).is_some_and(|r| r.0 == "False")
    });
    assert_eq!(o["status"]["unresolvedRefs"][0]["reason"], "InvalidKind");
    assert!(
        ready(&o)
            .unwrap()
            .2
            .starts_with(&format!("spec.owner: system:{ns}/shop is a System"))
    );
    let shop = wait_status("system", &ns, "shop", "Ready", |o| {
        ready(o).is_some_and(|r| r.0 == "True")
    });
    assert!(
        status_relations(&shop).contains(&format!("ownedBy group:{other}/platform")),
        "{:?}",
        status_relations(&shop)
    );
    wait_status("group", &other, "platform", "ownerOf shop", |o| {
        status_relations(o).contains(&format!("ownerOf system:{ns}/shop"))
    });

    for (name, parent) in [("a", "b"), ("b", "c"), ("c", "A")] {
        apply(entity(
            "Group",
            &ns,
            name,
            json!({"type": "team", "children": [], "parent": parent}),
        ));
    }
    for name in ["a", "b", "c"] {
        let o = wait_status("group", &ns, name, "CycleDetected", |o| {
            ready(o).is_some_and(|r| r.1 == "CycleDetected")
        });
        assert!(
            ready(&o).unwrap().2.contains("spec.parent"),
            "{:?}",
            ready(&o)
        );
    }
    apply(entity(
        "Group",
        &ns,
        "c",
        json!({"type": "team", "children": []}),
    ));
    for name in ["a", "b", "c"] {
        wait_status("group", &ns, name, "cycle broken", |o| {
            ready(o).is_some_and(|r| r.0 == "True")
        });
    }
    let out = kubectl(
        &[
            "wait",
            "--for=condition=Ready",
            "group/a",
            "group/b",
            "-n",
            &ns,
            "--timeout=30s",
        ],
        None,
    );
    assert!(out.contains("condition met"), "{out}");
}

#[test]
fn idle_catalog_restart_and_field_ownership_cost_no_writes() {
    operator();
    let (_g, ns) = fresh_namespace("idle");
    apply(group(&ns, "team"));
    apply(entity(
        "User",
        &ns,
        "jdoe",
        json!({"memberOf": ["team"], "profile": {"email": "jdoe@example.com"}}),
    ));
    apply(entity(
        "Component",
        &ns,
        "svc",
        json!({"type": "service", "lifecycle": "production", "owner": "user:jdoe"}),
    ));
    for (k, n) in [("group", "team"), ("user", "jdoe"), ("component", "svc")] {
        wait_status(k, &ns, n, "Ready", |o| {
            ready(o).is_some_and(|r| r.0 == "True")
        });
    }
    // Every status complete before the idle window: a write can legitimately come a moment after
    // Ready does (the operator holds writes while changes stream in).
    wait_status("group", &ns, "team", "member", |o| {
        o["status"]["members"] == 1
    });
    wait_status("user", &ns, "jdoe", "owner and member", |o| {
        o["status"]["owns"] == 1 && o["status"]["groups"] == 1
    });

    // The operator owns status and nothing else.
    let svc: Value = serde_json::from_str(&kubectl(
        &[
            "get",
            "component",
            "svc",
            "-n",
            &ns,
            "-o",
            "json",
            "--show-managed-fields",
        ],
        None,
    ))
    .unwrap();
    let mine: Vec<&Value> = svc["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["manager"] == "playbill")
        .collect();
    assert_eq!(mine.len(), 1, "{:#}", svc["metadata"]["managedFields"]);
    assert_eq!(mine[0]["subresource"], "status");
    let owned: Vec<&String> = mine[0]["fieldsV1"].as_object().unwrap().keys().collect();
    assert_eq!(owned, ["f:status"]);
    assert!(
        svc["metadata"].get("finalizers").is_none()
            && svc["metadata"].get("ownerReferences").is_none()
    );

    let before = resource_versions(&ns);
    std::thread::sleep(Duration::from_secs(30));
    assert_eq!(
        resource_versions(&ns),
        before,
        "an idle catalog was written to"
    );

    restart_operator();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        resource_versions(&ns),
        before,
        "a restart rewrote unchanged statuses"
    );
    // And the restarted operator still reacts.
    kubectl(&["delete", "group", "team", "-n", &ns], None);
    wait_status("user", &ns, "jdoe", "NotFound", |o| {
        ready(o).is_some_and(|r| r.0 == "False")
    });
}

#[test]
fn metrics_and_health_endpoints() {
    let port = operator();
    assert_eq!(http_get(port, "/healthz").unwrap().0, 200);
    assert_eq!(http_get(port, "/readyz").unwrap().0, 200);
    let (code, body) = http_get(port, "/metrics").unwrap();
    assert_eq!(code, 200);
    // Families, not samples: a counter has no `_total` sample before its first write, and this
    // test may run before any other has made the operator write.
    for family in [
        "playbill_entities",
        "playbill_status_writes",
        "playbill_status_write_duration_seconds",
        "playbill_queue_duration_seconds",
        "playbill_resolve_duration_seconds",
        "playbill_leader",
    ] {
        assert!(body.contains(family), "{family} missing from /metrics");
    }
    // A replica is ready once its watches have synced, which can be before it wins the lease.
    wait_for(Duration::from_secs(30), "playbill_leader 1", || {
        http_get(port, "/metrics").is_some_and(|(_, body)| body.contains("playbill_leader 1"))
    });
}
