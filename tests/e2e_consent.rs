//! Tenants on a real API server with `--cross-namespace-refs=consent`: a ServiceAccount that may
//! write only in team-a cannot get anything into team-b's statuses; a CatalogGrant in team-b lets
//! it in, and revoking the grant takes it out again; a flood of claims from team-a leaves team-b's
//! own parts listed. The tenant's rights to manage grants come from the chart's aggregated role.

mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::*;

/// A kubeconfig that acts as `user` against the test cluster.
fn impersonating(user: &str, tag: &str) -> PathBuf {
    let raw = kubectl(&["config", "view", "--raw", "--minify", "-o", "json"], None);
    let mut config: Value = serde_json::from_str(&raw).unwrap();
    for u in config["users"].as_array_mut().unwrap() {
        u["user"]["as"] = json!(user);
    }
    let dir = repo_root().join("target/e2e-consent");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{tag}.kubeconfig"));
    std::fs::write(&path, config.to_string()).unwrap();
    path
}

fn get(kind: &str, ns: &str, name: &str) -> Value {
    serde_json::from_str(&kubectl(&["get", kind, name, "-n", ns, "-o", "json"], None)).unwrap()
}

fn ready(obj: &Value) -> Option<String> {
    obj["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")
        .and_then(|c| c["status"].as_str().map(str::to_owned))
}

fn unresolved_reasons(obj: &Value) -> Vec<String> {
    obj["status"]["unresolvedRefs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|u| u["reason"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// The chart's ClusterRole `name` (from the rendered deploy/), renamed for this test.
fn chart_cluster_role(name: &str, rename: &str) -> Value {
    let deploy = std::fs::read_to_string(repo_root().join("deploy/playbill.yaml")).unwrap();
    let mut role = parse_docs(&deploy)
        .into_iter()
        .find(|d| d["kind"] == "ClusterRole" && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("deploy/ has no ClusterRole {name}"));
    role["metadata"] = json!({"name": rename});
    role
}

#[test]
fn a_tenant_gets_into_another_namespace_only_with_its_consent() {
    ensure_crds();
    let prefix = unique_prefix("consent");
    let (a, b) = (format!("{prefix}-team-a"), format!("{prefix}-team-b"));
    let _ns = Namespaces::create(&[a.clone(), b.clone()]);

    // The tenant: a ServiceAccount of team-a that may write catalog entities and manage
    // CatalogGrants (through the chart's role for namespace editors) in team-a only.
    let writer = format!("{prefix}-catalog-writer");
    let grants = format!("{prefix}-grants-edit");
    let roles = [
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": writer},
            "rules": [{"apiGroups": ["catalog.playbill.dev"],
                       "resources": ["components", "systems", "groups", "users"],
                       "verbs": ["get", "list", "create", "patch", "update", "delete"]}],
        }),
        chart_cluster_role("playbill-grants-edit", &grants),
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "tenant", "namespace": a}}),
    ];
    let mut docs: Vec<Value> = roles.into_iter().collect();
    for role in [&writer, &grants] {
        docs.push(json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": role, "namespace": a},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"kind": "ServiceAccount", "name": "tenant", "namespace": a}],
        }));
    }
    let list = json!({"apiVersion": "v1", "kind": "List", "items": docs});
    kubectl(&["apply", "-f", "-"], Some(&list.to_string()));
    let tenant = impersonating(&format!("system:serviceaccount:{a}:tenant"), &prefix);
    let as_tenant = |args: &[&str], stdin: Option<&str>| kubectl_run_on(&tenant, args, stdin);

    // team-b's own catalog, written by its admin: a System with two real parts.
    kubectl(
        &["apply", "-f", "-"],
        Some(&format!(
            r#"
apiVersion: catalog.playbill.dev/v1alpha1
kind: Group
metadata: {{name: sre, namespace: {b}}}
spec: {{type: team, children: []}}
---
apiVersion: catalog.playbill.dev/v1alpha1
kind: System
metadata: {{name: payments, namespace: {b}}}
spec: {{owner: sre}}
---
apiVersion: catalog.playbill.dev/v1alpha1
kind: Component
metadata: {{name: ledger, namespace: {b}}}
spec: {{type: service, lifecycle: production, owner: sre, system: payments}}
---
apiVersion: catalog.playbill.dev/v1alpha1
kind: Component
metadata: {{name: refunds, namespace: {b}}}
spec: {{type: service, lifecycle: production, owner: sre, system: payments}}
"#
        )),
    );

    let lease = format!("playbill-consent-{}", std::process::id());
    let op = operator_process(
        &[
            "--lease-name",
            &lease,
            "--cross-namespace-refs",
            "consent",
            "--max-relations-per-type",
            "100",
            // The export's content is under test here; its auth in e2e_api_auth.
            "--api-auth=none",
        ],
        "consent",
    );
    wait_for(Duration::from_secs(60), "operator ready", || {
        http_get(op.port, "/readyz").is_some_and(|(code, _)| code == 200)
    });

    // The tenant claims team-b's System and owner from team-a.
    let web = format!(
        r#"
apiVersion: catalog.playbill.dev/v1alpha1
kind: Group
metadata: {{name: web-team, namespace: {a}}}
spec: {{type: team, children: []}}
---
apiVersion: catalog.playbill.dev/v1alpha1
kind: Component
metadata: {{name: web, namespace: {a}}}
spec: {{type: website, lifecycle: production, owner: web-team, system: {b}/payments}}
"#
    );
    let run = as_tenant(&["apply", "-f", "-"], Some(&web));
    assert!(
        run.ok,
        "the tenant writes in its own namespace: {}",
        run.stderr
    );
    // ...but may not write in team-b, nor grant itself consent there.
    let sneak = format!(
        "apiVersion: catalog.playbill.dev/v1alpha1\nkind: CatalogGrant\nmetadata: {{name: me, namespace: {b}}}\nspec: {{from: {{all: true}}}}\n"
    );
    let run = as_tenant(&["apply", "-f", "-"], Some(&sneak));
    assert!(
        !run.ok && run.stderr.contains("forbidden"),
        "{}",
        run.stderr
    );
    let run = as_tenant(&["get", "cataloggrants", "-n", &a], None);
    assert!(
        run.ok,
        "a namespace editor reads its grants: {}",
        run.stderr
    );

    let parts = |sys: &Value| -> Vec<String> {
        status_relations(sys)
            .into_iter()
            .filter(|r| r.starts_with("hasPart "))
            .collect()
    };
    let own_parts = vec![
        format!("hasPart component:{b}/ledger"),
        format!("hasPart component:{b}/refunds"),
    ];
    wait_for(Duration::from_secs(30), "web refused", || {
        let w = get("component", &a, "web");
        unresolved_reasons(&w) == ["RefNotPermitted"] && ready(&w).as_deref() == Some("False")
    });
    let sys = get("system", &b, "payments");
    assert_eq!(parts(&sys), own_parts);
    assert_eq!(sys["status"]["parts"], 2);
    assert!(
        !status_relations(&get("component", &a, "web"))
            .iter()
            .any(|r| r.contains(&b))
    );
    // Nor in the catalog API (which follows the watches a moment after the statuses).
    let payments = || {
        http_get(
            op.port,
            &format!("/api/catalog/entities/by-name/system/{b}/payments"),
        )
        .filter(|(code, _)| *code == 200)
        .map(|(_, body)| body)
    };
    wait_for(Duration::from_secs(30), "the API to hold payments", || {
        payments().is_some()
    });
    let body = payments().unwrap();
    assert!(!body.contains(&format!("component:{a}/web")), "{body}");

    // team-b's admin consents: System partOf claims from team-a.
    let grant = format!(
        "apiVersion: catalog.playbill.dev/v1alpha1\nkind: CatalogGrant\nmetadata: {{name: team-a-parts, namespace: {b}}}\nspec: {{from: {{namespaces: [{a}]}}, to: {{kinds: [System], relations: [partOf]}}}}\n"
    );
    kubectl(&["apply", "-f", "-"], Some(&grant));
    let granted = Instant::now();
    let with_web = {
        let mut p = own_parts.clone();
        p.push(format!("hasPart component:{a}/web"));
        p.sort();
        p
    };
    wait_for(Duration::from_secs(30), "the grant takes effect", || {
        parts(&get("system", &b, "payments")) == with_web
            && ready(&get("component", &a, "web")).as_deref() == Some("True")
    });
    println!("grant took effect in {:?}", granted.elapsed());
    wait_for(Duration::from_secs(30), "the API to show the grant", || {
        payments().is_some_and(|body| body.contains(&format!("component:{a}/web")))
    });

    // Revoked: gone again, and web is told why.
    kubectl(&["delete", "cataloggrant", "team-a-parts", "-n", &b], None);
    let revoked = Instant::now();
    wait_for(
        Duration::from_secs(30),
        "the revocation takes effect",
        || {
            parts(&get("system", &b, "payments")) == own_parts
                && unresolved_reasons(&get("component", &a, "web")) == ["RefNotPermitted"]
        },
    );
    println!("revocation took effect in {:?}", revoked.elapsed());
    wait_for(
        Duration::from_secs(30),
        "the API to show the revocation",
        || payments().is_some_and(|body| !body.contains(&format!("component:{a}/web"))),
    );

    // The flood: 1000 Components in team-a claim team-b's System. The cap is 100 listed per
    // type, so if they counted, they would push the real parts out of the list.
    let mut flood = String::new();
    for i in 0..1000 {
        flood.push_str(&format!(
            "---\napiVersion: catalog.playbill.dev/v1alpha1\nkind: Component\nmetadata: {{name: fake-{i:04}, namespace: {a}}}\nspec: {{type: service, lifecycle: production, owner: web-team, system: {b}/payments}}\n"
        ));
    }
    let run = as_tenant(&["apply", "--server-side", "-f", "-"], Some(&flood));
    assert!(run.ok, "{}", run.stderr);
    wait_for(Duration::from_secs(120), "every fake part refused", || {
        let out = kubectl(
            &[
                "get",
                "components",
                "-n",
                &a,
                "-o",
                "jsonpath={range .items[*]}{.status.unresolvedRefs[0].reason}{\"\\n\"}{end}",
            ],
            None,
        );
        out.lines().filter(|l| *l == "RefNotPermitted").count() == 1001
    });
    let sys = get("system", &b, "payments");
    assert_eq!(parts(&sys), own_parts);
    assert_eq!(sys["status"]["parts"], 2);
    assert!(sys["status"]["relationCounts"].is_null());
    assert_eq!(ready(&sys).as_deref(), Some("True"));
}
