//! The Backstage bridge on a real API server: Backstage YAML → `playbill import` → `kubectl apply`
//! → operator → `playbill export` (and the operator's HTTP export) gives back the original
//! entities, plus their relations.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use support::*;

const FIXTURES: &str = "tests/bridge/backstage";

/// Runs the built `playbill` with `args` and `stdin`; (exit ok, stdout, stderr).
fn playbill(args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_playbill"))
        .args(args)
        .env("KUBECONFIG", kubeconfig())
        .current_dir(repo_root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let input = stdin.unwrap_or("").to_owned();
    let mut pipe = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || pipe.write_all(input.as_bytes()));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// The Backstage entities of the fixtures, keyed `kind:namespace/name` (lowercase), with the
/// namespace made explicit as Backstage holds it.
fn originals() -> BTreeMap<String, Value> {
    let mut files = Vec::new();
    let mut dirs = vec![repo_root().join(FIXTURES)];
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                files.push(p);
            }
        }
    }
    let mut out = BTreeMap::new();
    for f in files {
        for mut doc in parse_docs(&std::fs::read_to_string(&f).unwrap()) {
            let meta = doc["metadata"].as_object_mut().unwrap();
            meta.entry("namespace").or_insert(json!("default"));
            out.insert(key(&doc), doc);
        }
    }
    out
}

fn key(e: &Value) -> String {
    format!(
        "{}:{}/{}",
        e["kind"].as_str().unwrap().to_lowercase(),
        e["metadata"]["namespace"].as_str().unwrap(),
        e["metadata"]["name"].as_str().unwrap().to_lowercase()
    )
}

fn by_key(entities: Vec<Value>) -> BTreeMap<String, Value> {
    entities.into_iter().map(|e| (key(&e), e)).collect()
}

/// An entity without what only the cluster adds (uid, etag) or computes (relations).
fn bare(mut e: Value) -> Value {
    let obj = e.as_object_mut().unwrap();
    obj.remove("relations");
    let meta = obj["metadata"].as_object_mut().unwrap();
    meta.remove("uid");
    meta.remove("etag");
    e
}

#[test]
fn backstage_yaml_round_trips_through_the_cluster() {
    ensure_crds();
    let originals = originals();
    assert!(originals.len() >= 20, "a varied input set");
    let prefix = unique_prefix("bridge");
    // Every Backstage namespace moves into one of this test's own.
    let backstage_namespaces: BTreeSet<String> = originals
        .values()
        .map(|e| e["metadata"]["namespace"].as_str().unwrap().to_owned())
        .collect();
    assert!(backstage_namespaces.len() >= 3, "{backstage_namespaces:?}");
    let mapped: BTreeMap<String, String> = backstage_namespaces
        .iter()
        .map(|ns| (ns.clone(), format!("{prefix}-{ns}")))
        .collect();
    let _cleanup = Namespaces(mapped.values().cloned().collect());

    let mut args = vec!["import".to_owned()];
    for (from, to) in &mapped {
        args.push("--map-namespace".into());
        args.push(format!("{from}={to}"));
    }
    args.push(FIXTURES.into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, manifests, stderr) = playbill(&args, None);
    assert!(ok, "import failed: {stderr}");

    // The output applies as it is, Namespaces included, with plain client-side apply.
    let applied = kubectl_run(&["apply", "-f", "-"], Some(&manifests));
    assert!(applied.ok, "kubectl apply: {}", applied.stderr);

    let mut operator = operator_process(
        // The export's content is under test here; its auth in e2e_api_auth.
        &[
            "--lease-name",
            &format!("playbill-{prefix}"),
            "--api-auth=none",
        ],
        "bridge",
    );
    let namespaces: Vec<&String> = mapped.values().collect();
    let statuses = || -> Vec<Value> {
        namespaces
            .iter()
            .flat_map(|ns| {
                let list: Value = serde_json::from_str(&kubectl(
                    &["get", "catalog", "-n", ns, "-o", "json"],
                    None,
                ))
                .unwrap();
                list["items"].as_array().unwrap().clone()
            })
            .collect()
    };
    wait_for(
        Duration::from_secs(120),
        "every imported entity to have a status",
        || {
            let items = statuses();
            items.len() == originals.len()
                && items
                    .iter()
                    .all(|o| o["status"]["observedGeneration"] == o["metadata"]["generation"])
        },
    );

    // The CLI export, one Kubernetes namespace at a time (other tests share the cluster).
    let mut exported = Vec::new();
    for ns in &namespaces {
        let (ok, json, stderr) = playbill(&["export", "-o", "json", "-n", ns], None);
        assert!(ok, "export failed: {stderr}");
        let list: Vec<Value> = serde_json::from_str(&json).unwrap();
        exported.extend(list);
    }
    let exported = by_key(exported);
    assert_eq!(
        exported.keys().collect::<Vec<_>>(),
        originals.keys().collect::<Vec<_>>()
    );
    let live = statuses();
    let uids: BTreeSet<&str> = live
        .iter()
        .map(|o| o["metadata"]["uid"].as_str().unwrap())
        .collect();
    for (k, e) in &exported {
        assert!(
            uids.contains(e["metadata"]["uid"].as_str().unwrap_or_default()),
            "{k}: uid is the object's"
        );
        assert!(e["metadata"]["etag"].is_string(), "{k}: etag");
        assert_eq!(bare(e.clone()), originals[k], "{k} round-trips exactly");
    }

    // Relations: as the offline export computes them, which the Backstage test holds equal to
    // what Backstage's own catalog computes for the originals.
    let (ok, offline, stderr) = playbill(&["export", "-o", "json", "-f", "-"], Some(&manifests));
    assert!(ok, "offline export failed: {stderr}");
    let offline = by_key(serde_json::from_str(&offline).unwrap());
    for (k, e) in &exported {
        assert!(
            e["relations"].as_array().is_some_and(|r| !r.is_empty())
                || offline[k]["relations"] == json!([]),
            "{k} has relations"
        );
        assert_eq!(e["relations"], offline[k]["relations"], "relations of {k}");
        assert_eq!(bare(e.clone()), bare(offline[k].clone()), "{k}");
    }

    // The operator's HTTP export: the same entities, in the shape of Backstage's API.
    // It follows the watches a moment after the statuses: wait until it holds every object.
    let port = operator.port;
    let serve = || -> BTreeMap<String, Value> {
        let (code, body) = http_get(port, "/api/catalog/entities").unwrap();
        assert!(code == 200 || code == 503, "{code}: {body}");
        let served: Vec<Value> = serde_json::from_str(&body).unwrap_or_default();
        served
            .into_iter()
            .filter(|e| uids.contains(e["metadata"]["uid"].as_str().unwrap_or_default()))
            .map(|e| (key(&e), e))
            .collect()
    };
    wait_for(
        Duration::from_secs(30),
        "the API to hold the catalog",
        || serve().len() == exported.len(),
    );
    let served = serve();
    assert_eq!(
        served.keys().collect::<Vec<_>>(),
        exported.keys().collect::<Vec<_>>()
    );
    for (k, e) in &served {
        // The API sorts the lists Backstage sorts on ingest; export keeps the manifests' order.
        let mut want = bare(exported[k].clone());
        for f in playbill::catalog_api::store::SORTED_BY_BACKSTAGE {
            if let Some(Value::Array(items)) = want["spec"].get_mut(f) {
                items.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
            }
        }
        assert_eq!(bare(e.clone()), want, "HTTP export of {k}");
        assert_eq!(
            e["relations"], exported[k]["relations"],
            "HTTP relations of {k}"
        );
    }

    let first = exported
        .values()
        .find(|e| e["kind"] == "Component")
        .unwrap();
    let (kind, ns, name) = (
        first["kind"].as_str().unwrap(),
        first["metadata"]["namespace"].as_str().unwrap(),
        first["metadata"]["name"].as_str().unwrap(),
    );
    let uid = first["metadata"]["uid"].as_str().unwrap();
    let (code, body) = http_get(port, "/api/catalog/entities?filter=kind=component").unwrap();
    assert_eq!(code, 200);
    let components: Vec<Value> = serde_json::from_str(&body).unwrap();
    assert!(components.iter().all(|e| e["kind"] == "Component"));
    assert!(components.iter().any(|e| e["metadata"]["uid"] == uid));
    // Backstage matches by-name lookups case-insensitively; our other tests may hold the same
    // Backstage name, so check the answer is one such entity.
    let path = format!(
        "/api/catalog/entities/by-name/{}/{ns}/{}",
        kind.to_lowercase(),
        name.to_uppercase()
    );
    let (code, body) = http_get(port, &path).unwrap();
    assert_eq!(code, 200, "{path}: {body}");
    let one: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(key(&one), key(first));
    let (code, _) = http_get(
        port,
        "/api/catalog/entities/by-name/component/nowhere/nothing",
    )
    .unwrap();
    assert_eq!(code, 404);

    let (code, yaml) = http_get(port, "/catalog-info.yaml").unwrap();
    assert_eq!(code, 200);
    let docs = parse_docs(&yaml);
    assert!(docs.iter().all(|d| d.get("relations").is_none()
        && d["metadata"].get("uid").is_none()
        && d["metadata"].get("etag").is_none()));
    let located: BTreeSet<String> = docs.iter().map(key).collect();
    for k in originals.keys() {
        assert!(located.contains(k), "{k} in /catalog-info.yaml");
    }

    operator.stop(Duration::from_secs(20));
}

#[test]
fn import_refuses_invalid_entities_and_prints_the_rest_whole() {
    let text = "\
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: Good_Team}
spec: {type: team, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: broken}
spec: {type: service, lifecycle: production, dependsOn: [db]}
---
apiVersion: backstage.io/v1alpha1
kind: Location
metadata: {name: root}
spec: {targets: [./a.yaml]}
";
    ensure_crds();
    let (ok, stdout, stderr) = playbill(&["import", "-"], Some(text));
    assert!(!ok, "exit code is non-zero");
    assert!(
        stderr.contains("-: document 2: spec.owner: Required value"),
        "{stderr}"
    );
    assert!(stderr.contains("-: document 2: spec.dependsOn[0]: must name the target's kind"));
    assert!(stderr.contains("-: document 3: skipped Location \"root\""));
    let docs = parse_docs(&stdout);
    assert_eq!(docs.len(), 1, "{stdout}");
    assert_eq!(docs[0]["metadata"]["name"], "good-team");
    assert_eq!(
        docs[0]["metadata"]["annotations"]["catalog.playbill.dev/backstage-name"],
        "Good_Team"
    );
    // What was printed is accepted by the API server as it is.
    let dry = kubectl_run(
        &["apply", "--dry-run=server", "-n", "default", "-f", "-"],
        Some(&stdout),
    );
    assert!(dry.ok, "{}", dry.stderr);
}
