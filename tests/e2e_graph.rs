//! `kubectl catalog graph` against a real API server, as a user runs it: the `playbill` binary
//! linked as `kubectl-catalog` on PATH, found and run by kubectl's plugin mechanism, reading the
//! example catalog (moved into this test's own namespaces) with the Ready states the operator
//! wrote. The expected nodes and edges are written out by hand from examples/catalog.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use support::*;

/// A node's state as its DOT statement tells it (tooltip `<ref>: <state>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Ready,
    NotReady,
    NoStatus,
    Missing,
    NotRead,
}

#[derive(Debug)]
struct Dot {
    nodes: BTreeMap<String, State>,
    /// `from relation to`, and whether the edge is dashed.
    edges: BTreeMap<String, bool>,
}

fn parse_dot(text: &str) -> Dot {
    let node =
        regex::Regex::new(r#"^  "([^"]+)" \[label=<(.*)>, .*tooltip="([^"]+)"\];$"#).unwrap();
    let edge =
        regex::Regex::new(r#"^  "([^"]+)" -> "([^"]+)" \[label="(\w+)"(, style=dashed)?\];$"#)
            .unwrap();
    let mut dot = Dot {
        nodes: BTreeMap::new(),
        edges: BTreeMap::new(),
    };
    for line in text.lines() {
        if let Some(c) = edge.captures(line) {
            dot.edges
                .insert(format!("{} {} {}", &c[1], &c[3], &c[2]), c.get(4).is_some());
        } else if let Some(c) = node.captures(line) {
            let (reference, label, tooltip) = (&c[1], &c[2], &c[3]);
            let said = tooltip
                .strip_prefix(&format!("{reference}: "))
                .unwrap_or_else(|| panic!("tooltip of {reference}: {tooltip}"));
            let state = match said {
                "Ready" => State::Ready,
                "not Ready" => State::NotReady,
                "no Ready condition yet" => State::NoStatus,
                s if s.starts_with("missing") => State::Missing,
                s if s.starts_with("not read") => State::NotRead,
                s => panic!("unknown state {s:?} of {reference}"),
            };
            // The label says it too, so the state does not rest on colour alone.
            match state {
                State::NotReady => assert!(label.contains(">not Ready<"), "{line}"),
                State::Missing => assert!(label.contains(">missing<"), "{line}"),
                State::NotRead => assert!(label.contains(">not read<"), "{line}"),
                _ => assert!(
                    !label.contains("Ready<") && !label.contains("missing"),
                    "{line}"
                ),
            }
            dot.nodes.insert(reference.to_owned(), state);
        } else if line.starts_with("  \"") {
            panic!("unparsed statement: {line}");
        }
    }
    dot
}

/// A directory holding only `kubectl-catalog`, a link to the built binary, as the README says to
/// install it; removed on drop.
struct PluginDir(PathBuf);

impl PluginDir {
    fn new() -> PluginDir {
        let dir = std::env::temp_dir().join(format!("playbill-plugin-{}", unique_prefix("bin")));
        std::fs::create_dir_all(&dir).unwrap();
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_playbill"), dir.join("kubectl-catalog"))
            .unwrap();
        PluginDir(dir)
    }

    /// Runs `kubectl <args>` with the plugin first on PATH, then kubectl's own directory.
    fn kubectl(&self, args: &[&str]) -> Run {
        let kubectl = kubectl_path();
        let mut path = vec![self.0.clone()];
        if let Some(dir) = kubectl.parent().filter(|d| !d.as_os_str().is_empty()) {
            path.push(dir.to_owned());
        }
        path.extend(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ));
        let out = Command::new(&kubectl)
            .args(args)
            .env("PATH", std::env::join_paths(path).unwrap())
            .env("KUBECONFIG", kubeconfig())
            .output()
            .expect("kubectl runs");
        Run::from(out)
    }

    fn graph(&self, args: &[&str]) -> String {
        let mut all = vec!["catalog", "graph"];
        all.extend_from_slice(args);
        let run = self.kubectl(&all);
        assert!(
            run.ok,
            "kubectl {all:?} failed:\n{}{}",
            run.stdout, run.stderr
        );
        run.stdout
    }
}

impl Drop for PluginDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Waits until every catalog object in `namespaces` has a Ready condition for its current
/// generation, and returns how many there are.
fn wait_resolved(namespaces: &[String]) -> usize {
    let mut count = 0;
    wait_for(
        Duration::from_secs(240),
        "every example status written",
        || {
            count = 0;
            for ns in namespaces {
                let list: Value = serde_json::from_str(&kubectl(
                    &["get", "catalog", "-n", ns, "-o", "json"],
                    None,
                ))
                .unwrap();
                for o in list["items"].as_array().unwrap() {
                    let has_ready = o["status"]["conditions"]
                        .as_array()
                        .is_some_and(|c| c.iter().any(|c| c["type"] == "Ready"));
                    if !has_ready
                        || o["status"]["observedGeneration"] != o["metadata"]["generation"]
                    {
                        return false;
                    }
                    count += 1;
                }
            }
            count > 0
        },
    );
    count
}

#[test]
fn kubectl_catalog_graph_draws_the_example_catalog_from_the_cluster() {
    ensure_crds();
    let prefix = unique_prefix("graph");
    let yaml = relocate(
        &read_dir_yaml(&repo_root().join("examples/catalog")),
        &prefix,
    );
    let namespaces: Vec<String> = parse_docs(&yaml)
        .iter()
        .filter(|d| d["kind"] == "Namespace")
        .map(|d| d["metadata"]["name"].as_str().unwrap().to_owned())
        .collect();
    let _cleanup = Namespaces(namespaces.clone());
    let plugin = PluginDir::new();
    kubectl(&["apply", "--server-side", "-f", "-"], Some(&yaml));
    let org = format!("{prefix}-acme-org");
    let shop = format!("{prefix}-acme-shop");
    let payments = format!("{prefix}-acme-payments");

    // Before this test's operator runs, cart-api has no Ready condition, and the graph says so.
    // (Another operator on the cluster, such as the demo's, may be quicker; statuses are never
    // removed, so only if there is still none afterwards was there none during the call.)
    let cart_api = format!("api:{shop}/cart-api");
    let fresh = parse_dot(&plugin.graph(&[&cart_api, "-d", "0"]));
    let status_now = kubectl(
        &[
            "get",
            "api",
            "cart-api",
            "-n",
            &shop,
            "-o",
            "jsonpath={.status.conditions}",
        ],
        None,
    );
    let expected = if status_now.is_empty() {
        State::NoStatus
    } else {
        fresh.nodes[&cart_api]
    };
    assert_eq!(fresh.nodes, BTreeMap::from([(cart_api, expected)]));
    assert!(fresh.edges.is_empty());

    let lease = format!("playbill-e2e-graph-{}", std::process::id());
    let operator = operator_process(&["--lease-name", &lease], "graph");
    wait_for(Duration::from_secs(240), "operator ready", || {
        http_get(operator.port, "/readyz").is_some_and(|(code, _)| code == 200)
    });
    assert_eq!(wait_resolved(&namespaces), 45);

    // web-shop and everything one relation away, each pair once, in its drawn direction.
    let dot = plugin.graph(&[&format!("component:{shop}/web-shop"), "-o", "dot"]);
    assert!(dot.starts_with(&format!(
        "// playbill graph: component:{shop}/web-shop and what is within 1 relation of it\ndigraph catalog {{\n"
    )));
    let web = parse_dot(&dot);
    let c = |n: &str| format!("component:{shop}/{n}");
    let a = |n: &str| format!("api:{shop}/{n}");
    let team = format!("group:{org}/team-checkout");
    let storefront = format!("system:{shop}/storefront");
    let payments_api = format!("api:{payments}/payments-api");
    let expected_nodes: BTreeMap<String, State> = [
        c("web-shop"),
        c("cart-service"),
        c("checkout-ui-kit"),
        a("cart-api"),
        a("catalog-api"),
        payments_api.clone(),
        team.clone(),
        storefront.clone(),
    ]
    .into_iter()
    .map(|r| (r, State::Ready))
    .collect();
    assert_eq!(web.nodes, expected_nodes);
    let expected_edges: BTreeSet<String> = [
        format!("{team} ownerOf {}", c("web-shop")),
        format!("{team} ownerOf {}", c("cart-service")),
        format!("{team} ownerOf {}", a("cart-api")),
        format!("{team} ownerOf {storefront}"),
        format!("{storefront} hasPart {}", c("web-shop")),
        format!("{storefront} hasPart {}", c("checkout-ui-kit")),
        format!("{storefront} hasPart {}", c("cart-service")),
        format!("{storefront} hasPart {}", a("cart-api")),
        // checkout-ui-kit names web-shop in subcomponentOf: the reverse side, drawn from web-shop.
        format!("{} hasPart {}", c("web-shop"), c("checkout-ui-kit")),
        format!("{} consumesApi {}", c("web-shop"), a("cart-api")),
        format!("{} consumesApi {}", c("web-shop"), a("catalog-api")),
        format!("{} consumesApi {payments_api}", c("web-shop")),
        format!("{} dependsOn {}", c("web-shop"), c("cart-service")),
        format!("{} providesApi {}", c("cart-service"), a("cart-api")),
        format!("{} consumesApi {}", c("cart-service"), a("catalog-api")),
        format!("{} consumesApi {payments_api}", c("cart-service")),
    ]
    .into_iter()
    .collect();
    assert_eq!(
        web.edges.keys().cloned().collect::<BTreeSet<_>>(),
        expected_edges
    );
    assert!(web.edges.values().all(|dashed| !dashed));

    // A not-Ready component with a dangling reference: the missing target is its own dashed node.
    let importer =
        parse_dot(&plugin.graph(&["component:catalog-importer", "-n", &shop, "--depth=1"]));
    let r = |k: &str, ns: &str, n: &str| format!("{k}:{ns}/{n}");
    assert_eq!(
        importer.nodes,
        BTreeMap::from([
            (c("catalog-importer"), State::NotReady),
            (c("catalog-service"), State::Ready),
            (r("resource", &shop, "catalog-db"), State::Ready),
            (r("resource", &shop, "legacy-mainframe"), State::Missing),
            (r("system", &shop, "product-catalog"), State::Ready),
            (r("user", &org, "bwong"), State::Ready),
        ])
    );
    let mainframe = format!(
        "{} dependsOn {}",
        c("catalog-importer"),
        r("resource", &shop, "legacy-mainframe")
    );
    assert_eq!(importer.edges.get(&mainframe), Some(&true), "{importer:?}");
    assert_eq!(importer.edges.len(), 8, "{importer:?}");
    assert_eq!(importer.edges.values().filter(|d| **d).count(), 1);

    // Mermaid, with the namespace from -n: fgarcia is a member of product and of a Group that
    // no longer exists; product lists gmartin but not fgarcia, so fgarcia's side states both.
    let mermaid = plugin.graph(&["user:fgarcia", "-n", &org, "-o", "mermaid"]);
    let lines: Vec<&str> = mermaid.lines().collect();
    assert_eq!(lines[1], "flowchart LR");
    assert_eq!(
        &lines[2..],
        [
            "  n0[\"Group<br/>product\"]",
            "  n1[\"Group<br/>team-mobile<br/><i>missing</i>\"]",
            "  n2([\"User<br/>fgarcia<br/><i>not Ready</i>\"])",
            "  n0 -->|hasMember| n2",
            "  n1 -.->|hasMember| n2",
            "  classDef ready fill:#e3f4dc,stroke:#4a8f3c",
            "  class n0 ready",
            "  classDef notReady fill:#fbe0dc,stroke:#c0392b,stroke-width:2px",
            "  class n2 notReady",
            "  classDef missing fill:#ffffff,stroke:#c0392b,stroke-dasharray:5 5,color:#777777",
            "  class n1 missing",
        ],
        "{mermaid}"
    );

    // A namespace's picture: its 11 entities, plus whatever they relate to in other namespaces,
    // in both directions (the web shop and cart service consume the payments API).
    let ns = parse_dot(&plugin.graph(&["-n", &payments]));
    let outside: BTreeSet<&str> = ns
        .nodes
        .keys()
        .filter(|k| !k.contains(&format!(":{payments}/")))
        .map(String::as_str)
        .collect();
    assert_eq!(
        ns.nodes.len() - outside.len(),
        11,
        "{:?}",
        ns.nodes.keys().collect::<Vec<_>>()
    );
    let expected_outside: BTreeSet<String> = [
        r("group", &org, "team-payments"),
        r("group", &org, "team-sre"),
        r("user", &org, "dpatel"),
        r("domain", &org, "finance"),
        r("resource", &shop, "orders-db"),
        c("web-shop"),
        c("cart-service"),
        c("search-indexer"),
    ]
    .into_iter()
    .collect();
    assert_eq!(
        outside,
        expected_outside.iter().map(String::as_str).collect()
    );
    assert!(ns.nodes.values().all(|s| *s == State::Ready));

    // Errors a user can act on, with a non-zero exit.
    let missing = plugin.kubectl(&["catalog", "graph", &format!("component:{shop}/nope")]);
    assert!(!missing.ok);
    assert!(
        missing.stderr.contains(&format!(
            "kubectl catalog graph: component:{shop}/nope is not in the catalog"
        )),
        "{}",
        missing.stderr
    );
    let dangling = plugin.kubectl(&[
        "catalog",
        "graph",
        &r("resource", &shop, "legacy-mainframe"),
    ]);
    assert!(!dangling.ok);
    assert!(
        dangling
            .stderr
            .contains(&format!("dangling reference of {}", c("catalog-importer"))),
        "{}",
        dangling.stderr
    );
    let no_kind = plugin.kubectl(&["catalog", "graph", "web-shop", "-n", &shop]);
    assert!(!no_kind.ok && no_kind.stderr.contains("must name its kind"));

    // The plugin presents itself under the name the user typed.
    let help = plugin.kubectl(&["catalog", "graph", "--help"]);
    assert!(help.ok, "{}", help.stderr);
    assert!(
        help.stdout
            .contains("Usage: kubectl catalog graph [OPTIONS] [REF]"),
        "{}",
        help.stdout
    );
}

/// A copy of the admin kubeconfig that impersonates `user` (who has only the RBAC a test grants).
fn impersonating_kubeconfig(user: &str, dir: &Path) -> PathBuf {
    let raw = kubectl(&["config", "view", "--raw", "--minify", "-o", "json"], None);
    let mut config: Value = serde_json::from_str(&raw).unwrap();
    for u in config["users"].as_array_mut().unwrap() {
        u["user"]["as"] = Value::from(user);
    }
    let path = dir.join("viewer.kubeconfig");
    std::fs::write(&path, config.to_string()).unwrap();
    path
}

#[test]
fn a_user_who_may_read_one_namespace_gets_its_graph_with_the_rest_marked_not_read() {
    ensure_crds();
    let prefix = unique_prefix("graphrbac");
    let (home, other) = (format!("{prefix}-home"), format!("{prefix}-other"));
    let _cleanup = Namespaces::create(&[home.clone(), other.clone()]);
    let user = format!("{prefix}-viewer");
    let manifests = format!(
        r#"
apiVersion: catalog.playbill.dev/v1alpha1
kind: Group
metadata: {{name: team, namespace: {other}}}
spec: {{type: team, children: []}}
---
apiVersion: catalog.playbill.dev/v1alpha1
kind: Component
metadata: {{name: web, namespace: {home}}}
spec: {{type: website, lifecycle: production, owner: {other}/team, system: shop}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: catalog-viewer, namespace: {home}}}
rules:
  - apiGroups: [catalog.playbill.dev]
    resources: [components, systems, apis, resources, domains, groups, users]
    verbs: [get, list]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: catalog-viewer, namespace: {home}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: catalog-viewer}}
subjects: [{{apiGroup: rbac.authorization.k8s.io, kind: User, name: {user}}}]
"#
    );
    kubectl(&["apply", "--server-side", "-f", "-"], Some(&manifests));
    let plugin = PluginDir::new();
    let config = impersonating_kubeconfig(&user, &plugin.0);
    let graph = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_playbill"))
            .arg("graph")
            .args(args)
            .env("KUBECONFIG", &config)
            .output()
            .unwrap()
    };
    let web = format!("component:{home}/web");
    // RBAC takes a moment to reach the authorizer's cache.
    let mut out = graph(&[&web]);
    wait_for(
        Duration::from_secs(30),
        "the viewer's Role to apply",
        || {
            out = graph(&[&web]);
            out.status.success()
        },
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "not allowed to list the catalog in every namespace; reading only namespace {home}"
        )),
        "{stderr}"
    );
    let dot = parse_dot(&String::from_utf8(out.stdout).unwrap());
    // The owner exists, but this user cannot see it: "not read", never "missing". The System
    // would be in the namespace that was read, so it really is missing.
    assert_eq!(dot.nodes[&format!("group:{other}/team")], State::NotRead);
    assert_eq!(dot.nodes[&format!("system:{home}/shop")], State::Missing);
    assert_eq!(dot.nodes.len(), 3, "{dot:?}");
    assert_eq!(
        dot.edges.get(&format!("group:{other}/team ownerOf {web}")),
        Some(&true)
    );
    // The whole catalog cannot be drawn from one namespace: that is an error, not a partial picture.
    let all = graph(&[]);
    assert!(!all.status.success());
    let stderr = String::from_utf8_lossy(&all.stderr);
    assert!(
        stderr.contains("cannot list the catalog: ")
            && stderr.contains("forbidden")
            && stderr.contains("-n NAMESPACE"),
        "{stderr}"
    );
}
