//! The catalog API and /metrics behind Kubernetes RBAC, on a real API server: ServiceAccounts
//! with real tokens (`kubectl create token`) that may list the catalog in one namespace, in none,
//! or everywhere, each see exactly that; no token or a bad one is a 401; `--api-auth=none` shows
//! everything to anyone; /metrics needs `get` on the non-resource URL when protected; an API
//! server that cannot be reached makes a 503.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};
use support::*;

const KINDS: [&str; 7] = [
    "components",
    "systems",
    "apis",
    "resources",
    "domains",
    "groups",
    "users",
];

/// Deletes the test's cluster-scoped RBAC objects when dropped.
struct ClusterRbac(Vec<String>);

impl Drop for ClusterRbac {
    fn drop(&mut self) {
        for name in &self.0 {
            let _ = kubectl_run(
                &[
                    "delete",
                    "clusterrole,clusterrolebinding",
                    name,
                    "--ignore-not-found",
                ],
                None,
            );
        }
    }
}

fn catalog(ns: &str) -> String {
    format!(
        r#"
apiVersion: catalog.playbill.dev/v1alpha1
kind: Group
metadata: {{name: team, namespace: {ns}}}
spec: {{type: team, children: [], members: [ann]}}
---
apiVersion: catalog.playbill.dev/v1alpha1
kind: User
metadata: {{name: ann, namespace: {ns}}}
spec: {{memberOf: [team]}}
---
apiVersion: catalog.playbill.dev/v1alpha1
kind: Component
metadata: {{name: svc, namespace: {ns}}}
spec: {{type: service, lifecycle: production, owner: team}}
"#
    )
}

fn binding(kind: &str, name: &str, ns: Option<&str>, role: &str, sa: (&str, &str)) -> Value {
    let mut metadata = json!({"name": name});
    if let Some(ns) = ns {
        metadata["namespace"] = json!(ns);
    }
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": metadata,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": if kind == "RoleBinding" { "Role" } else { "ClusterRole" }, "name": role},
        "subjects": [{"kind": "ServiceAccount", "name": sa.1, "namespace": sa.0}],
    })
}

fn token(ns: &str, sa: &str) -> String {
    kubectl(&["create", "token", sa, "-n", ns], None)
        .trim()
        .to_owned()
}

/// (kind, namespace, name) of every entity in `namespaces` that the list answer holds (the
/// cluster may hold other tests' entities too).
fn listed(body: &str, namespaces: &[&str]) -> BTreeSet<(String, String, String)> {
    let entities: Vec<Value> = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    entities
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_owned(),
                e["metadata"]["namespace"].as_str().unwrap().to_owned(),
                e["metadata"]["name"].as_str().unwrap().to_owned(),
            )
        })
        .filter(|(_, ns, _)| namespaces.contains(&ns.as_str()))
        .collect()
}

fn expected(namespaces: &[&str]) -> BTreeSet<(String, String, String)> {
    namespaces
        .iter()
        .flat_map(|ns| {
            [("Group", "team"), ("User", "ann"), ("Component", "svc")]
                .map(|(k, n)| (k.to_owned(), ns.to_string(), n.to_owned()))
        })
        .collect()
}

fn get(port: u16, path: &str, token: Option<&str>) -> (u16, String) {
    http_get_as(port, path, token).unwrap_or_else(|| panic!("no answer to GET {path}"))
}

fn assert_backstage_error(code: u16, body: &str, status: u16, name: &str, path: &str) {
    assert_eq!(code, status, "{body}");
    let error: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(error["error"]["name"], name, "{error}");
    assert!(error["error"]["message"].as_str().is_some(), "{error}");
    assert_eq!(error["request"]["method"], "GET", "{error}");
    assert_eq!(error["request"]["url"], path, "{error}");
    assert_eq!(error["response"]["statusCode"], status, "{error}");
}

#[test]
fn each_caller_sees_what_rbac_lets_it_list() {
    ensure_crds();
    let prefix = unique_prefix("apiauth");
    let (a, b) = (format!("{prefix}-a"), format!("{prefix}-b"));
    let _ns = Namespaces::create(&[a.clone(), b.clone()]);
    let cluster_reader = format!("{prefix}-catalog-reader");
    let metrics_reader = format!("{prefix}-metrics-reader");
    let _rbac = ClusterRbac(vec![cluster_reader.clone(), metrics_reader.clone()]);

    let list_rule =
        json!({"apiGroups": ["catalog.playbill.dev"], "resources": KINDS, "verbs": ["list"]});
    let mut docs = vec![
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
               "metadata": {"name": "catalog-reader", "namespace": a}, "rules": [list_rule]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
               "metadata": {"name": cluster_reader}, "rules": [list_rule]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
               "metadata": {"name": metrics_reader},
               "rules": [{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]}),
    ];
    for sa in ["in-a", "nobody", "everywhere", "scraper"] {
        docs.push(json!({"apiVersion": "v1", "kind": "ServiceAccount",
                         "metadata": {"name": sa, "namespace": a}}));
    }
    docs.push(binding(
        "RoleBinding",
        "in-a",
        Some(&a),
        "catalog-reader",
        (&a, "in-a"),
    ));
    docs.push(binding(
        "ClusterRoleBinding",
        &cluster_reader,
        None,
        &cluster_reader,
        (&a, "everywhere"),
    ));
    docs.push(binding(
        "ClusterRoleBinding",
        &metrics_reader,
        None,
        &metrics_reader,
        (&a, "scraper"),
    ));
    let list = json!({"apiVersion": "v1", "kind": "List", "items": docs});
    kubectl(&["apply", "-f", "-"], Some(&list.to_string()));
    kubectl(
        &["apply", "-f", "-"],
        Some(&(catalog(&a) + "---" + &catalog(&b))),
    );

    // RBAC as the API server sees it, before the operator asks.
    wait_for(Duration::from_secs(10), "the RoleBinding in effect", || {
        kubectl_run(
            &[
                "auth",
                "can-i",
                "list",
                "components.catalog.playbill.dev",
                "-n",
                &a,
                "--as",
                &format!("system:serviceaccount:{a}:in-a"),
            ],
            None,
        )
        .stdout
        .trim()
            == "yes"
    });

    let op = operator_process(
        &[
            "--lease-name",
            &format!("{prefix}-rbac"),
            "--metrics-auth=rbac",
        ],
        "api-auth",
    );
    wait_for(Duration::from_secs(60), "operator ready", || {
        http_get(op.port, "/readyz").is_some_and(|(code, _)| code == 200)
    });
    let port = op.port;
    let both = [a.as_str(), b.as_str()];
    let (in_a, nobody, everywhere, scraper) = (
        token(&a, "in-a"),
        token(&a, "nobody"),
        token(&a, "everywhere"),
        token(&a, "scraper"),
    );

    // Every entity of both namespaces is in the operator's index (the per-namespace questions
    // are asked for the namespaces it holds entities in).
    wait_for(
        Duration::from_secs(30),
        "the cluster-wide reader sees both namespaces",
        || {
            let (code, body) = get(port, "/api/catalog/entities", Some(&everywhere));
            code == 200 && listed(&body, &both) == expected(&both)
        },
    );
    wait_for(
        Duration::from_secs(30),
        "the reader of one namespace sees it",
        || {
            let (code, body) = get(port, "/api/catalog/entities", Some(&in_a));
            code == 200 && listed(&body, &both) == expected(&[&a])
        },
    );

    // The reader of a sees nothing elsewhere, not only not b.
    let (_, body) = get(port, "/api/catalog/entities", Some(&in_a));
    let all: Vec<Value> = serde_json::from_str(&body).unwrap();
    assert!(
        all.iter().all(|e| e["metadata"]["namespace"] == a.as_str()),
        "the reader of {a} sees other namespaces: {body}"
    );
    let (code, body) = get(
        port,
        "/api/catalog/entities?filter=kind=component",
        Some(&in_a),
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        listed(&body, &both),
        BTreeSet::from([("Component".to_owned(), a.clone(), "svc".to_owned())])
    );

    // The caller that may list nothing sees nothing.
    let (code, body) = get(port, "/api/catalog/entities", Some(&nobody));
    assert_eq!((code, body.as_str()), (200, "[]"));

    // by-name: a hidden entity is a 404, as if it did not exist.
    for (token, ns, code) in [
        (&in_a, &a, 200),
        (&in_a, &b, 404),
        (&nobody, &a, 404),
        (&everywhere, &b, 200),
    ] {
        let path = format!("/api/catalog/entities/by-name/component/{ns}/svc");
        let (got, body) = get(port, &path, Some(token));
        assert_eq!(got, code, "{path}: {body}");
    }

    // /catalog-info.yaml holds only what the caller may see.
    let (code, yaml) = get(port, "/catalog-info.yaml", Some(&in_a));
    assert_eq!(code, 200, "{yaml}");
    let namespaces: BTreeSet<String> = parse_docs(&yaml)
        .iter()
        .map(|d| d["metadata"]["namespace"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(namespaces, BTreeSet::from([a.clone()]), "{yaml}");
    let (code, yaml) = get(port, "/catalog-info.yaml", Some(&nobody));
    assert_eq!(code, 200);
    assert!(parse_docs(&yaml).is_empty(), "{yaml}");

    // No token, a bad token: 401 in Backstage's error shape, on every catalog route.
    for path in [
        "/api/catalog/entities",
        "/api/catalog/entities/by-name/component/default/svc",
        "/catalog-info.yaml",
    ] {
        let (code, body) = get(port, path, None);
        assert_backstage_error(code, &body, 401, "AuthenticationError", path);
        let (code, body) = get(port, path, Some("not-a-token"));
        assert_backstage_error(code, &body, 401, "AuthenticationError", path);
    }
    // A real token of a deleted ServiceAccount is no longer valid.
    let gone = token(&a, "nobody");
    kubectl(&["delete", "serviceaccount", "nobody", "-n", &a], None);
    let (code, body) = get(port, "/api/catalog/entities", Some(&gone));
    // The deleted account's token was never reviewed before (a new token), so no cache hides it.
    assert_backstage_error(
        code,
        &body,
        401,
        "AuthenticationError",
        "/api/catalog/entities",
    );

    // Probes stay open.
    assert_eq!(get(port, "/healthz", None).0, 200);
    assert_eq!(get(port, "/readyz", None).0, 200);

    // /metrics under --metrics-auth=rbac: get on the non-resource URL /metrics.
    let (code, body) = get(port, "/metrics", None);
    assert_backstage_error(code, &body, 401, "AuthenticationError", "/metrics");
    let (code, body) = get(port, "/metrics", Some(&everywhere));
    assert_backstage_error(code, &body, 403, "NotAllowedError", "/metrics");
    let (code, body) = get(port, "/metrics", Some(&scraper));
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("# EOF"), "{body}");
    // The scraper may read metrics but not the catalog.
    let (code, body) = get(port, "/api/catalog/entities", Some(&scraper));
    assert_eq!((code, body.as_str()), (200, "[]"));
    drop(op);

    // --api-auth=none: anyone reads everything; /metrics is open by default.
    let open = operator_process(
        &["--lease-name", &format!("{prefix}-open"), "--api-auth=none"],
        "api-auth-none",
    );
    wait_for(Duration::from_secs(60), "open operator ready", || {
        http_get(open.port, "/readyz").is_some_and(|(code, _)| code == 200)
    });
    let (code, body) = get(open.port, "/api/catalog/entities", None);
    assert_eq!(code, 200, "{body}");
    assert_eq!(listed(&body, &both), expected(&both));
    let (code, _) = get(
        open.port,
        &format!("/api/catalog/entities/by-name/component/{b}/svc"),
        None,
    );
    assert_eq!(code, 200);
    assert_eq!(get(open.port, "/metrics", None).0, 200);
    let log = std::fs::read_to_string(
        repo_root().join(format!("target/e2e-api-auth-none-{}.log", open.port)),
    )
    .unwrap();
    assert!(
        log.contains("--api-auth=none") && log.contains("WARN"),
        "no warning about --api-auth=none in the log:\n{log}"
    );
}

/// When the API server cannot answer the TokenReview, the caller gets a 503, not a 401 (its token
/// may well be valid) and never the catalog. The operator serves HTTP before it reaches the API
/// server, so one pointed at a closed port shows it.
#[test]
fn reviews_that_cannot_be_made_are_a_503() {
    let raw = kubectl(&["config", "view", "--raw", "--minify", "-o", "json"], None);
    let mut config: Value = serde_json::from_str(&raw).unwrap();
    let closed = free_port();
    for c in config["clusters"].as_array_mut().unwrap() {
        c["cluster"]["server"] = json!(format!("https://127.0.0.1:{closed}"));
    }
    let dir = repo_root().join("target/e2e-api-auth");
    std::fs::create_dir_all(&dir).unwrap();
    let kubeconfig = dir.join(format!("unreachable-{closed}.kubeconfig"));
    std::fs::write(&kubeconfig, config.to_string()).unwrap();
    let port = free_port();
    let op = OperatorProcess::spawn(
        std::path::Path::new(env!("CARGO_BIN_EXE_playbill")),
        &kubeconfig,
        port,
        &["--leader-elect=false", "--metrics-auth=rbac"],
        &dir.join(format!("unreachable-{port}.log")),
    )
    .expect("operator starts");
    wait_for(Duration::from_secs(30), "the HTTP server up", || {
        http_get(op.port, "/healthz").is_some_and(|(code, _)| code == 200)
    });
    for path in ["/api/catalog/entities", "/catalog-info.yaml", "/metrics"] {
        let (code, body) = get(port, path, Some("some-token"));
        assert_backstage_error(code, &body, 503, "ServiceUnavailableError", path);
        // No token is still a 401: nothing needs the API server to say so.
        let (code, body) = get(port, path, None);
        assert_backstage_error(code, &body, 401, "AuthenticationError", path);
    }
}
