//! What Argo CD sees of a Playbill catalog on a real API server: after the operator has written
//! every status, neither a server-side nor a client-side `kubectl diff` of the applied manifests
//! shows anything (so an Argo CD Application stays Synced and self-heal has nothing to undo), the
//! operator owns nothing outside the status subresource, and the Argo CD health check
//! (argocd/health.lua, run by tests/argocd's Go harness in Argo CD's own Lua VM) calls every
//! example entity Healthy except the two deliberate dangling references, which are Degraded.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;

fn namespaces_of(docs: &[Value]) -> Vec<String> {
    docs.iter()
        .filter(|d| d["kind"] == "Namespace")
        .map(|d| d["metadata"]["name"].as_str().unwrap().to_owned())
        .collect()
}

fn catalog_in(ns: &str) -> Value {
    serde_json::from_str(&kubectl(
        &[
            "get",
            "catalog",
            "-n",
            ns,
            "-o",
            "json",
            "--show-managed-fields",
        ],
        None,
    ))
    .unwrap()
}

fn object_id(o: &Value) -> String {
    format!(
        "{}/{}/{}",
        o["metadata"]["namespace"].as_str().unwrap(),
        o["kind"].as_str().unwrap(),
        o["metadata"]["name"].as_str().unwrap()
    )
}

/// Managers kubectl uses for what the user applied; everything else must own only status.
const KUBECTL_MANAGERS: [&str; 3] = ["kubectl", "kubectl-client-side-apply", "kubectl-create"];

#[test]
fn operator_status_is_not_drift_and_argocd_health_matches() {
    ensure_crds();
    // Built first, so a missing Go toolchain fails fast and compilation time is not spent
    // while the statuses are being awaited.

    // One copy of the example catalog applied server-side, one client-side.
    let ssa_prefix = unique_prefix("argocd-ssa");
    let csa_prefix = unique_prefix("argocd-csa");
    let examples = read_dir_yaml(&repo_root().join("examples/catalog"));
    let ssa_yaml = relocate(&examples, &ssa_prefix);
    let csa_yaml = relocate(&examples, &csa_prefix);
    let ssa_docs = parse_docs(&ssa_yaml);
    let csa_docs = parse_docs(&csa_yaml);
    let entities_per_set = ssa_docs
        .iter()
        .filter(|d| d["apiVersion"] == "catalog.playbill.dev/v1alpha1")
        .count();
    let _ssa_ns = Namespaces(namespaces_of(&ssa_docs));
    let _csa_ns = Namespaces(namespaces_of(&csa_docs));
    kubectl(&["apply", "--server-side", "-f", "-"], Some(&ssa_yaml));
    kubectl(&["apply", "-f", "-"], Some(&csa_yaml));

    let lease = format!("playbill-e2e-argocd-{}", std::process::id());
    let _operator = operator_process(&["--lease-name", &lease], "argocd-operator");
    let all_ns: Vec<String> = namespaces_of(&ssa_docs)
        .into_iter()
        .chain(namespaces_of(&csa_docs))
        .collect();

    // Every object's status describes its current generation.
    let started = Instant::now();
    let deadline = started + Duration::from_secs(90);
    let lists: Vec<(String, Value)> = loop {
        let lists: Vec<(String, Value)> = all_ns
            .iter()
            .map(|ns| (ns.clone(), catalog_in(ns)))
            .collect();
        let mut behind = Vec::new();
        let mut seen = 0;
        for (_, list) in &lists {
            for o in list["items"].as_array().unwrap() {
                seen += 1;
                if o["status"]["observedGeneration"].is_null()
                    || o["status"]["observedGeneration"] != o["metadata"]["generation"]
                {
                    behind.push(format!(
                        "{}/{}/{}",
                        o["metadata"]["namespace"].as_str().unwrap(),
                        o["kind"].as_str().unwrap(),
                        o["metadata"]["name"].as_str().unwrap()
                    ));
                }
            }
        }
        if behind.is_empty() && seen == 2 * entities_per_set {
            break lists;
        }
        assert!(
            Instant::now() < deadline,
            "statuses not written for the current generation ({seen} objects seen, want {}): {behind:?}\noperator log in target/e2e-argocd-operator-*.log",
            2 * entities_per_set
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    eprintln!(
        "{} entities have current statuses after {:?}",
        2 * entities_per_set,
        started.elapsed()
    );

    // Argo CD compares the manifests in Git with the live objects. Neither way of applying them
    // may show a difference once the operator has written its statuses.
    let ssa_diff = kubectl_run(&["diff", "--server-side", "-f", "-"], Some(&ssa_yaml));
    assert!(
        ssa_diff.ok && ssa_diff.stdout.is_empty(),
        "server-side diff is not empty:\n{}\n{}",
        ssa_diff.stdout,
        ssa_diff.stderr
    );
    let csa_diff = kubectl_run(&["diff", "-f", "-"], Some(&csa_yaml));
    assert!(
        csa_diff.ok && csa_diff.stdout.is_empty(),
        "client-side diff is not empty:\n{}\n{}",
        csa_diff.stdout,
        csa_diff.stderr
    );

    // The operator owns nothing but status: every field manager other than kubectl's writes
    // through the status subresource. No ownerReferences or finalizers appear either.
    for (_, list) in &lists {
        for o in list["items"].as_array().unwrap() {
            let id = object_id(o);
            assert!(
                o["metadata"]["ownerReferences"].is_null(),
                "{id} has ownerReferences"
            );
            assert!(o["metadata"]["finalizers"].is_null(), "{id} has finalizers");
            for mf in o["metadata"]["managedFields"].as_array().unwrap() {
                let manager = mf["manager"].as_str().unwrap_or_default();
                if !KUBECTL_MANAGERS.contains(&manager) {
                    assert_eq!(
                        mf["subresource"], "status",
                        "{id}: manager {manager} owns fields outside status: {mf}"
                    );
                }
            }
        }
    }

    // kubectl's 3-way merge and server-side apply both leave fields they never set alone, so the
    // diffs above cannot see an out-of-band label; compare what Git owns directly. The live spec
    // must equal the manifest exactly: a schema default would differ here, and Argo CD would
    // show the object OutOfSync forever.
    let live: std::collections::HashMap<String, &Value> = lists
        .iter()
        .flat_map(|(_, l)| l["items"].as_array().unwrap())
        .map(|o| (object_id(o), o))
        .collect();
    for doc in ssa_docs
        .iter()
        .chain(&csa_docs)
        .filter(|d| d["apiVersion"] == "catalog.playbill.dev/v1alpha1")
    {
        let id = object_id(doc);
        let o = live.get(&id).unwrap_or_else(|| panic!("{id} not listed"));
        assert_eq!(o["spec"], doc["spec"], "{id}: live spec differs from Git");
        assert_eq!(
            o["metadata"]["labels"], doc["metadata"]["labels"],
            "{id}: labels"
        );
        let mut annotations = o["metadata"]["annotations"].clone();
        if let Some(a) = annotations.as_object_mut() {
            a.remove("kubectl.kubernetes.io/last-applied-configuration");
            if a.is_empty() {
                annotations = Value::Null;
            }
        }
        assert_eq!(
            annotations, doc["metadata"]["annotations"],
            "{id}: annotations"
        );
    }

    // Argo CD's verdict on the live objects.
    let mut checked = 0;
    let mut degraded = Vec::new();
    for (ns, list) in &lists {
        let verdicts = argocd_health_verdicts(&list.to_string());
        assert_eq!(verdicts.len(), list["items"].as_array().unwrap().len());
        for v in verdicts {
            checked += 1;
            let kind = v["kind"].as_str().unwrap();
            let name = v["name"].as_str().unwrap();
            let status = v["status"].as_str().unwrap_or_default();
            let message = v["message"].as_str().unwrap_or_default();
            let dangling = match (kind, name) {
                ("User", "fgarcia") => Some(format!("group:{ns}/team-mobile not found")),
                ("Component", "catalog-importer") => {
                    Some(format!("resource:{ns}/legacy-mainframe not found"))
                }
                _ => None,
            };
            match dangling {
                Some(what) => {
                    assert_eq!(status, "Degraded", "{ns}/{kind}/{name}: {message}");
                    assert!(
                        message.starts_with("UnresolvedReferences: ") && message.contains(&what),
                        "{ns}/{kind}/{name}: {message}"
                    );
                    degraded.push(format!("{ns}/{kind}/{name}"));
                }
                None => assert_eq!(
                    status, "Healthy",
                    "{ns}/{kind}/{name} is not Healthy: {message}"
                ),
            }
        }
    }
    assert_eq!(checked, 2 * entities_per_set);
    assert_eq!(degraded.len(), 4, "{degraded:?}");
}
