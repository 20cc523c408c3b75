//! The install: the Helm chart in charts/playbill and the manifests in deploy/ generated from it.
//!
//! - the chart's CRDs are the committed CRDs, `helm lint` is clean, and deploy/ is exactly what
//!   `helm template` renders (`scripts/helm.sh render-deploy`);
//! - the rendered objects are accepted by a real API server (server-side apply);
//! - the operator works end to end with nothing but the chart's ServiceAccount and RBAC
//!   (impersonated through a kubeconfig), and each RBAC rule, resource and verb is needed: without
//!   it the operator demonstrably breaks.
//!
//! Needs `.playbill/bin/helm` (`scripts/helm.sh build`) or `HELM=/path/to/helm`.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::*;

/// The release name and namespace deploy/ is rendered with (see scripts/helm.sh).
const DEPLOY_RELEASE: &str = "playbill";
const DEPLOY_NAMESPACE: &str = "playbill-system";

/// Operators run one at a time: every operator watches and writes the whole cluster, so a
/// well-behaved one running next to a crippled one would hide what the crippled one fails to do.
static OPERATOR_LOCK: Mutex<()> = Mutex::new(());

fn chart_dir() -> PathBuf {
    repo_root().join("charts/playbill")
}

fn helm_path() -> PathBuf {
    if let Some(h) = std::env::var_os("HELM") {
        return PathBuf::from(h);
    }
    let local = repo_root().join(".playbill/bin/helm");
    assert!(
        local.exists(),
        "no helm: run `scripts/helm.sh build` (builds .playbill/bin/helm from the Go module proxy) or set HELM"
    );
    local
}

fn helm(args: &[&str]) -> String {
    let out = Command::new(helm_path())
        .args(args)
        .env("HELM_CACHE_HOME", repo_root().join("target/helm/cache"))
        .env("HELM_CONFIG_HOME", repo_root().join("target/helm/config"))
        .env("HELM_DATA_HOME", repo_root().join("target/helm/data"))
        .stdin(Stdio::null())
        .output()
        .expect("helm runs");
    assert!(
        out.status.success(),
        "helm {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `helm template` of the chart.
fn render(release: &str, namespace: &str, extra: &[&str]) -> String {
    let chart = chart_dir();
    let mut args = vec![
        "template",
        release,
        chart.to_str().unwrap(),
        "--namespace",
        namespace,
    ];
    args.extend_from_slice(extra);
    helm(&args)
}

fn key(doc: &Value) -> String {
    format!(
        "{} {} {}/{}",
        doc["apiVersion"].as_str().unwrap_or_default(),
        doc["kind"].as_str().unwrap_or_default(),
        doc["metadata"]["namespace"].as_str().unwrap_or_default(),
        doc["metadata"]["name"].as_str().unwrap_or_default()
    )
}

fn by_key(docs: Vec<Value>) -> BTreeMap<String, Value> {
    let mut map = BTreeMap::new();
    for d in docs {
        let k = key(&d);
        assert!(map.insert(k.clone(), d).is_none(), "two objects are {k}");
    }
    map
}

// ---------------------------------------------------------------------------------------------
// a. The chart, deploy/ and the committed CRDs agree.

#[test]
fn chart_crds_are_the_committed_crds() {
    let committed = std::fs::read(repo_root().join("crds/catalog.playbill.dev.yaml")).unwrap();
    let chart = std::fs::read(chart_dir().join("crds/catalog.playbill.dev.yaml")).unwrap();
    assert!(
        committed == chart,
        "charts/playbill/crds/catalog.playbill.dev.yaml differs from crds/catalog.playbill.dev.yaml: \
         copy it (cp crds/catalog.playbill.dev.yaml charts/playbill/crds/) and run scripts/helm.sh render-deploy"
    );
    let files: Vec<_> = std::fs::read_dir(chart_dir().join("crds"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(files.len(), 1, "the chart has other CRD files: {files:?}");
}

#[test]
fn helm_lint_is_clean() {
    let chart = chart_dir();
    let chart = chart.to_str().unwrap();
    for extra in [
        &[][..],
        &[
            "--set",
            "serviceMonitor.enabled=true",
            "--set",
            "networkPolicy.enabled=true",
        ][..],
    ] {
        let mut args = vec!["lint", "--strict", chart];
        args.extend_from_slice(extra);
        let out = helm(&args);
        assert!(out.contains("0 chart(s) failed"), "{out}");
        assert!(
            !out.contains("[WARNING]") && !out.contains("[ERROR]"),
            "helm lint {extra:?}:\n{out}"
        );
    }
}

#[test]
fn deploy_is_what_the_chart_renders() {
    let rendered = render(DEPLOY_RELEASE, DEPLOY_NAMESPACE, &["--include-crds"]);
    // deploy/playbill.yaml is the rendering verbatim, after a comment header.
    let file = std::fs::read_to_string(repo_root().join("deploy/playbill.yaml")).unwrap();
    let body: String = file
        .split_inclusive('\n')
        .skip_while(|l| l.starts_with('#'))
        .collect();
    assert!(
        body == rendered,
        "deploy/playbill.yaml is not what the chart renders: run `scripts/helm.sh render-deploy`"
    );

    // What kustomize builds from deploy/ is the same set of objects, plus the namespace.
    let built = kubectl(
        &["kustomize", repo_root().join("deploy").to_str().unwrap()],
        None,
    );
    let mut built = by_key(parse_docs(&built));
    let namespace = built
        .remove(&format!("v1 Namespace /{DEPLOY_NAMESPACE}"))
        .expect("deploy/ creates its namespace");
    assert_eq!(namespace["metadata"]["name"], DEPLOY_NAMESPACE);
    let expected = by_key(parse_docs(&rendered));
    assert_eq!(
        built.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "kubectl kustomize deploy/ builds other objects than helm template"
    );
    for (k, v) in &expected {
        assert!(
            &built[k] == v,
            "kubectl kustomize deploy/ changes {k}:\nkustomize: {:#}\nhelm: {v:#}",
            built[k]
        );
    }
    // Every object is namespaced into the install namespace or cluster-scoped on purpose.
    for (k, v) in &expected {
        let cluster_scoped = matches!(
            v["kind"].as_str(),
            Some(
                "CustomResourceDefinition"
                    | "ClusterRole"
                    | "ClusterRoleBinding"
                    | "ValidatingAdmissionPolicy"
                    | "ValidatingAdmissionPolicyBinding"
            )
        );
        assert_eq!(
            v["metadata"]["namespace"].as_str().is_none(),
            cluster_scoped,
            "{k}: namespace"
        );
    }
}

#[test]
fn the_chart_renders_a_hardened_deployment() {
    let docs = by_key(parse_docs(&render(DEPLOY_RELEASE, DEPLOY_NAMESPACE, &[])));
    let d = &docs[&format!("apps/v1 Deployment {DEPLOY_NAMESPACE}/playbill")];
    let pod = &d["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    assert_eq!(c["args"][0], "run");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let sc = &c["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]));
    assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault");
    assert!(c["resources"]["requests"]["memory"].is_string());
    assert!(c["resources"]["limits"]["memory"].is_string());
    assert_eq!(c["ports"][0]["name"], "http");
    assert_eq!(c["ports"][0]["containerPort"], 8080);
    assert_eq!(
        c["livenessProbe"]["httpGet"],
        json!({"path": "/healthz", "port": "http"})
    );
    assert_eq!(
        c["readinessProbe"]["httpGet"],
        json!({"path": "/readyz", "port": "http"})
    );
    let env: BTreeMap<&str, &Value> = c["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap(), e))
        .collect();
    assert_eq!(
        env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.namespace"
    );
    assert_eq!(
        env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.name"
    );
    assert_eq!(d["spec"]["replicas"], 2);
    // Off by default.
    assert!(
        !docs
            .keys()
            .any(|k| k.contains("ServiceMonitor") || k.contains("NetworkPolicy"))
    );
}

// ---------------------------------------------------------------------------------------------
// b. The rendered objects are accepted by the API server.

/// A release's objects in a fresh namespace; its cluster-scoped objects are deleted on drop
/// (the namespace goes with the `Namespaces` guard). That includes the unknown-keys admission
/// policy: every copy left behind adds its warnings to every later apply, and the API server
/// keeps only so many warnings per response, so leftovers crowd out other tests' policies.
struct Install {
    release: String,
    namespace: String,
    docs: Vec<Value>,
    _namespaces: Namespaces,
}

impl Drop for Install {
    fn drop(&mut self) {
        let _ = kubectl_run(
            &[
                "delete",
                "clusterrole,clusterrolebinding,validatingadmissionpolicy,validatingadmissionpolicybinding",
                "-l",
                &format!("app.kubernetes.io/instance={}", self.release),
                "--ignore-not-found",
                "--wait=false",
            ],
            None,
        );
    }
}

impl Install {
    /// Renders the chart into a fresh namespace (the release is named after it, so the
    /// cluster-scoped names are unique too) without applying anything.
    fn render(test: &str, extra: &[&str]) -> Install {
        let namespace = unique_prefix(test);
        let release = namespace.clone();
        let namespaces = Namespaces::create(std::slice::from_ref(&namespace));
        let docs = parse_docs(&render(&release, &namespace, extra));
        Install {
            release,
            namespace,
            docs,
            _namespaces: namespaces,
        }
    }

    fn doc(&self, kind: &str) -> &Value {
        self.docs
            .iter()
            .find(|d| d["kind"] == kind)
            .unwrap_or_else(|| panic!("the chart renders no {kind}"))
    }

    fn doc_mut(&mut self, kind: &str) -> &mut Value {
        self.docs
            .iter_mut()
            .find(|d| d["kind"] == kind)
            .unwrap_or_else(|| panic!("the chart renders no {kind}"))
    }

    fn apply(&self) -> String {
        let list = json!({"apiVersion": "v1", "kind": "List", "items": self.docs});
        kubectl(
            &["apply", "--server-side", "--force-conflicts", "-f", "-"],
            Some(&list.to_string()),
        )
    }

    fn service_account(&self) -> String {
        self.doc("ServiceAccount")["metadata"]["name"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// The Lease name the chart's Deployment gives the operator.
    fn lease_name(&self) -> String {
        self.doc("Deployment")["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == "PLAYBILL_LEASE_NAME")
            .and_then(|e| e["value"].as_str())
            .expect("the Deployment sets PLAYBILL_LEASE_NAME")
            .to_owned()
    }
}

#[test]
fn server_side_install_is_accepted() {
    ensure_crds();
    let install = Install::render(
        "install",
        &["--include-crds", "--set", "networkPolicy.enabled=true"],
    );
    let out = install.apply();
    for d in &install.docs {
        let kind = d["kind"].as_str().unwrap().to_lowercase();
        let name = d["metadata"]["name"].as_str().unwrap();
        assert!(
            out.lines().any(|l| {
                l.starts_with(&kind) && l.ends_with(&format!("/{name} serverside-applied"))
            }),
            "{kind}/{name} missing from the apply output:\n{out}"
        );
        // Every object now exists as rendered.
        let mut args = vec!["get", &kind as &str, name, "-o", "name"];
        let ns = d["metadata"]["namespace"].as_str();
        if let Some(ns) = ns {
            args.extend(["-n", ns]);
        }
        kubectl(&args, None);
    }
    let kinds: Vec<&str> = install
        .docs
        .iter()
        .filter_map(|d| d["kind"].as_str())
        .collect();
    for k in [
        "CustomResourceDefinition",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "Service",
        "Deployment",
        "NetworkPolicy",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    ] {
        assert!(kinds.contains(&k), "no {k} rendered: {kinds:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// c, d. The operator under exactly the chart's RBAC.

/// A copy of the admin kubeconfig that impersonates `user`.
fn impersonating_kubeconfig(user: &str, tag: &str) -> PathBuf {
    static ADMIN: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    let mut config = ADMIN
        .get_or_init(|| {
            let raw = kubectl(&["config", "view", "--raw", "--minify", "-o", "json"], None);
            serde_json::from_str(&raw).unwrap()
        })
        .clone();
    for u in config["users"].as_array_mut().unwrap() {
        u["user"]["as"] = json!(user);
    }
    let dir = repo_root().join("target/e2e-install");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{tag}.kubeconfig"));
    std::fs::write(&path, config.to_string()).unwrap();
    path
}

fn kubectl_as(kubeconfig: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(kubectl_path())
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
            + &String::from_utf8_lossy(&out.stderr),
    )
}

struct Operator {
    process: OperatorProcess,
    identity: String,
    log: PathBuf,
}

impl Operator {
    fn start(kubeconfig: &Path, install: &Install, tag: &str) -> Operator {
        let port = free_port();
        let identity = format!("e2e-install-{tag}-{}", std::process::id());
        let log = repo_root().join(format!("target/e2e-install/{tag}.log"));
        let lease_name = install.lease_name();
        let process = OperatorProcess::spawn(
            Path::new(env!("CARGO_BIN_EXE_playbill")),
            kubeconfig,
            port,
            &[
                "--lease-namespace",
                &install.namespace,
                "--lease-name",
                &lease_name,
                "--identity",
                &identity,
                "--lease-seconds",
                "5",
                "--log-level",
                "info",
            ],
            &log,
        )
        .expect("operator starts");
        Operator {
            process,
            identity,
            log,
        }
    }

    /// The log lines that show RBAC refused one of the operator's requests.
    fn forbidden(&self) -> Vec<String> {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let mut lines: Vec<String> = log
            .lines()
            // RBAC denials only (not, say, writes into a namespace being deleted).
            .filter(|l| l.contains("is forbidden: User \"system:serviceaccount:"))
            .map(|l| {
                // Keep the message, not the timestamp.
                let l = l.split_once(' ').map_or(l, |(_, rest)| rest);
                l.chars().take(400).collect()
            })
            .collect();
        lines.dedup();
        lines
    }

    fn exited(&mut self) -> Option<String> {
        self.process.child.try_wait().unwrap().map(|status| {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(3).collect();
            format!("operator exited ({status}): {}", tail.join(" | "))
        })
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        // Its namespaces are about to go, so there is nothing to hand over: a short grace (the
        // operator may wait up to the lease duration to release its Lease), then SIGKILL.
        self.process.close(Duration::from_secs(1));
    }
}

type Step = Result<(), String>;

/// Waits until `ok` holds, failing early if the operator exits.
fn within(op: &mut Operator, timeout: Duration, what: &str, mut ok: impl FnMut() -> bool) -> Step {
    let deadline = Instant::now() + timeout;
    loop {
        if ok() {
            return Ok(());
        }
        if let Some(exit) = op.exited() {
            return Err(format!("{what}: {exit}"));
        }
        if Instant::now() > deadline {
            return Err(format!("{what}: not within {}s", timeout.as_secs()));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn entity(kind: &str, ns: &str, name: &str, spec: Value) -> Value {
    json!({"apiVersion": "catalog.playbill.dev/v1alpha1", "kind": kind,
           "metadata": {"name": name, "namespace": ns}, "spec": spec})
}

fn group(ns: &str) -> Value {
    entity(
        "Group",
        ns,
        "team",
        json!({"type": "team", "children": [], "members": ["ann"]}),
    )
}

/// One entity of every kind, all resolving to each other, so every kind is listed, watched and
/// has its status written.
fn catalog(ns: &str) -> Vec<Value> {
    vec![
        group(ns),
        entity("User", ns, "ann", json!({"memberOf": ["team"]})),
        entity("Domain", ns, "retail", json!({"owner": "team"})),
        entity(
            "System",
            ns,
            "shop",
            json!({"owner": "team", "domain": "retail"}),
        ),
        entity(
            "API",
            ns,
            "orders",
            json!({"type": "openapi", "lifecycle": "production", "owner": "team", "system": "shop",
                   "definition": "openapi: 3.0.0"}),
        ),
        entity(
            "Resource",
            ns,
            "db",
            json!({"type": "database", "owner": "team", "system": "shop"}),
        ),
        entity(
            "Component",
            ns,
            "checkout",
            json!({"type": "service", "lifecycle": "production", "owner": "team", "system": "shop",
                   "providesApis": ["orders"], "dependsOn": ["resource:db"]}),
        ),
    ]
}

const KINDS: [&str; 7] = [
    "groups",
    "users",
    "domains",
    "systems",
    "apis",
    "resources",
    "components",
];

/// `(name, Ready status, reason)` of every catalog object in `ns` whose status describes its
/// current generation.
fn readiness(ns: &str) -> BTreeMap<String, (String, String)> {
    let out = kubectl(&["get", &KINDS.join(","), "-n", ns, "-o", "json"], None);
    let list: Value = serde_json::from_str(&out).unwrap();
    let mut map = BTreeMap::new();
    for o in list["items"].as_array().unwrap() {
        if o["status"]["observedGeneration"] != o["metadata"]["generation"] {
            continue;
        }
        let Some(c) = o["status"]["conditions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
        else {
            continue;
        };
        map.insert(
            format!(
                "{}/{}",
                o["kind"].as_str().unwrap().to_lowercase(),
                o["metadata"]["name"].as_str().unwrap()
            ),
            (
                c["status"].as_str().unwrap_or_default().to_owned(),
                c["reason"].as_str().unwrap_or_default().to_owned(),
            ),
        );
    }
    map
}

fn all_ready(ns: &str) -> bool {
    let r = readiness(ns);
    r.len() == KINDS.len() && r.values().all(|(s, _)| s == "True")
}

fn checkout_unresolved(ns: &str) -> bool {
    readiness(ns)
        .get("component/checkout")
        .is_some_and(|(s, r)| s == "False" && r == "UnresolvedReferences")
}

/// The operator's events about the component (by this operator instance only).
fn checkout_events(ns: &str, identity: &str) -> Vec<Value> {
    let out = kubectl(
        &["get", "events.events.k8s.io", "-n", ns, "-o", "json"],
        None,
    );
    let list: Value = serde_json::from_str(&out).unwrap();
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["regarding"]["name"] == "checkout"
                && e["regarding"]["kind"] == "Component"
                && e["reportingController"] == "playbill"
                && e["reportingInstance"] == identity
        })
        .cloned()
        .collect()
}

fn lease_holder(ns: &str, name: &str) -> Option<String> {
    let run = kubectl_run(&["get", "lease", name, "-n", ns, "-o", "json"], None);
    if !run.ok {
        return None;
    }
    let lease: Value = serde_json::from_str(&run.stdout).ok()?;
    lease["spec"]["holderIdentity"].as_str().map(str::to_owned)
}

/// The whole scenario; the first step that fails is the error.
fn scenario(op: &mut Operator, install: &Install, catalog_ns: &str, t: Duration) -> Step {
    let port = op.process.port;
    within(op, t, "operator ready (/readyz 200)", || {
        http_get(port, "/readyz").is_some_and(|(code, _)| code == 200)
    })?;
    let (lease_ns, lease) = (install.namespace.clone(), install.lease_name());
    let identity = op.identity.clone();
    within(op, t, "lease held by this operator", || {
        lease_holder(&lease_ns, &lease).as_deref() == Some(identity.as_str())
    })?;

    let docs = catalog(catalog_ns);
    let list = json!({"apiVersion": "v1", "kind": "List", "items": docs});
    kubectl(
        &["apply", "--server-side", "-f", "-"],
        Some(&list.to_string()),
    );
    within(op, t, "every kind's status written, Ready=True", || {
        all_ready(catalog_ns)
    })?;

    // The Backstage export, under the chart's default api.auth=rbac: a token of an account that
    // may list the catalog (the operator's own) reads it, which takes a TokenReview and
    // SubjectAccessReviews.
    let token = kubectl(
        &[
            "create",
            "token",
            &install.service_account(),
            "-n",
            &install.namespace,
        ],
        None,
    );
    let path = format!("/api/catalog/entities/by-name/group/{catalog_ns}/team");
    within(op, t, "the export answers a permitted token (200)", || {
        http_get_as(port, &path, Some(token.trim())).is_some_and(|(code, _)| code == 200)
    })?;

    let delete_group = || {
        kubectl(
            &["delete", "group", "team", "-n", catalog_ns, "--wait=true"],
            None,
        );
    };
    delete_group();
    within(
        op,
        t,
        "Ready=False after the owner group is deleted",
        || checkout_unresolved(catalog_ns),
    )?;
    within(
        op,
        t,
        "events.k8s.io Event created for the Ready flip",
        || {
            checkout_events(catalog_ns, &identity)
                .iter()
                .any(|e| e["reason"] == "UnresolvedReferences" && e["type"] == "Warning")
        },
    )?;

    // The same flip again: the recorder patches the existing event into a series.
    kubectl(
        &["apply", "--server-side", "-f", "-"],
        Some(&group(catalog_ns).to_string()),
    );
    within(op, t, "Ready=True after the group is back", || {
        all_ready(catalog_ns)
    })?;
    delete_group();
    within(
        op,
        t,
        "Ready=False after the group is deleted again",
        || checkout_unresolved(catalog_ns),
    )?;
    within(
        op,
        t,
        "the repeated event patched into a series (count 2)",
        || {
            checkout_events(catalog_ns, &identity).iter().any(|e| {
                e["reason"] == "UnresolvedReferences" && e["series"]["count"].as_i64() >= Some(2)
            })
        },
    )?;
    Ok(())
}

/// Installs `install` (RBAC possibly modified), runs the operator as its ServiceAccount and
/// plays the scenario in a fresh namespace.
fn run_as_chart(install: &Install, tag: &str, t: Duration) -> (Step, Vec<String>) {
    install.apply();
    let user = format!(
        "system:serviceaccount:{}:{}",
        install.namespace,
        install.service_account()
    );
    let kubeconfig = impersonating_kubeconfig(&user, tag);
    let catalog_ns = format!("{}-cat", install.namespace);
    let _catalog = Namespaces::create(std::slice::from_ref(&catalog_ns));
    let mut op = Operator::start(&kubeconfig, install, tag);
    let step = scenario(&mut op, install, &catalog_ns, t);
    let forbidden = op.forbidden();
    (step, forbidden)
}

#[test]
fn the_operator_works_with_exactly_the_charts_rbac() {
    ensure_crds();
    let _serial = OPERATOR_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let install = Install::render("rbac", &[]);
    install.apply();

    // The impersonated identity really is confined to the chart's RBAC.
    let user = format!(
        "system:serviceaccount:{}:{}",
        install.namespace,
        install.service_account()
    );
    let kubeconfig = impersonating_kubeconfig(&user, "rbac-check");
    for (args, allowed) in [
        (
            &[
                "auth",
                "can-i",
                "list",
                "components.catalog.playbill.dev",
                "-A",
            ][..],
            true,
        ),
        (
            &[
                "auth",
                "can-i",
                "patch",
                "components.catalog.playbill.dev",
                "--subresource=status",
                "-n",
                "default",
            ][..],
            true,
        ),
        (
            &[
                "auth",
                "can-i",
                "patch",
                "components.catalog.playbill.dev",
                "-n",
                "default",
            ][..],
            false,
        ),
        (
            &[
                "auth",
                "can-i",
                "update",
                "components.catalog.playbill.dev",
                "--subresource=status",
                "-n",
                "default",
            ][..],
            false,
        ),
        (
            &[
                "auth",
                "can-i",
                "get",
                "components.catalog.playbill.dev",
                "-n",
                "default",
            ][..],
            false,
        ),
        (&["auth", "can-i", "list", "secrets", "-A"][..], false),
        (
            &[
                "auth",
                "can-i",
                "create",
                "tokenreviews.authentication.k8s.io",
            ][..],
            true,
        ),
        (
            &[
                "auth",
                "can-i",
                "create",
                "subjectaccessreviews.authorization.k8s.io",
            ][..],
            true,
        ),
        (
            &[
                "auth",
                "can-i",
                "create",
                "leases.coordination.k8s.io",
                "-n",
                "default",
            ][..],
            false,
        ),
    ] {
        let (_, out) = kubectl_as(&kubeconfig, args);
        assert_eq!(
            // stdout first; a cluster-scoped resource adds a warning on stderr after it.
            out.lines().next().is_some_and(|l| l.starts_with("yes")),
            allowed,
            "kubectl {args:?} as {user}: {out}"
        );
    }

    let (step, forbidden) = run_as_chart(&install, "rbac", Duration::from_secs(30));
    if let Err(e) = step {
        panic!(
            "the operator does not work under the chart's RBAC: {e}\nforbidden requests: {forbidden:#?}"
        );
    }
    assert!(
        forbidden.is_empty(),
        "the operator was refused something under the chart's RBAC: {forbidden:#?}"
    );
}

/// One way of taking a permission away: which rule, and what of it.
struct Removal {
    kind: &'static str,
    rule: usize,
    what: Cut,
}

enum Cut {
    Rule,
    Verb(String),
    Resource(String),
}

impl Removal {
    fn describe(&self, rules: &[Value]) -> String {
        let r = &rules[self.rule];
        let rule = format!(
            "{}[{}] {{apiGroups: {}, resources: {}, {}verbs: {}}}",
            self.kind,
            self.rule,
            r["apiGroups"],
            r["resources"],
            r.get("resourceNames")
                .map(|n| format!("resourceNames: {n}, "))
                .unwrap_or_default(),
            r["verbs"]
        );
        match &self.what {
            Cut::Rule => format!("{rule} removed"),
            Cut::Verb(v) => format!("verb {v} removed from {rule}"),
            Cut::Resource(x) => format!("resource {x} removed from {rule}"),
        }
    }

    fn apply_to(&self, rules: &mut Vec<Value>) {
        let field = match &self.what {
            Cut::Rule => {
                rules.remove(self.rule);
                return;
            }
            Cut::Verb(v) => ("verbs", v),
            Cut::Resource(x) => ("resources", x),
        };
        let list = rules[self.rule][field.0].as_array_mut().unwrap();
        list.retain(|x| x != field.1.as_str());
        if list.is_empty() {
            rules.remove(self.rule);
        }
    }
}

fn removals(kind: &'static str, rules: &[Value]) -> Vec<Removal> {
    let mut out = Vec::new();
    for (i, r) in rules.iter().enumerate() {
        let verbs = r["verbs"].as_array().unwrap();
        let resources = r["resources"].as_array().unwrap();
        if verbs.len() == 1 && resources.len() == 1 {
            out.push(Removal {
                kind,
                rule: i,
                what: Cut::Rule,
            });
            continue;
        }
        for v in verbs {
            out.push(Removal {
                kind,
                rule: i,
                what: Cut::Verb(v.as_str().unwrap().to_owned()),
            });
        }
        if resources.len() > 1 {
            for x in resources {
                out.push(Removal {
                    kind,
                    rule: i,
                    what: Cut::Resource(x.as_str().unwrap().to_owned()),
                });
            }
        }
    }
    out
}

fn rbac_timeout() -> Duration {
    let secs = std::env::var("PLAYBILL_E2E_RBAC_TIMEOUT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4);
    Duration::from_secs(secs)
}

#[test]
fn no_rbac_rule_is_surplus() {
    ensure_crds();
    let probe = Install::render("rbac-probe", &[]);
    let cluster_rules = probe.doc("ClusterRole")["rules"]
        .as_array()
        .unwrap()
        .clone();
    let role_rules = probe.doc("Role")["rules"].as_array().unwrap().clone();
    drop(probe);
    let mut all = removals("ClusterRole", &cluster_rules);
    all.extend(removals("Role", &role_rules));

    let started = Instant::now();
    let t = rbac_timeout();
    let mut surplus = Vec::new();
    for (n, removal) in all.iter().enumerate() {
        let _serial = OPERATOR_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let mut install = Install::render(&format!("rbac-cut{n}"), &[]);
        let describe = {
            let role = install.doc_mut(removal.kind);
            let rules = role["rules"].as_array_mut().unwrap();
            let describe = removal.describe(rules);
            removal.apply_to(rules);
            describe
        };
        let (step, forbidden) = run_as_chart(&install, &format!("cut{n}"), t);
        // The cluster's statuses may be written by other operators running against the same
        // cluster (the demo, another test run), which can hide a crippled operator's failure to
        // write them; its own log of refused requests cannot be hidden.
        match (step, forbidden.is_empty()) {
            (Ok(()), true) => {
                eprintln!("SURPLUS  {describe}: the scenario still passes");
                surplus.push(describe);
            }
            (Ok(()), false) => eprintln!(
                "NEEDED   {describe}\n         the scenario passed (other operators in the \
                 cluster did the work), but this one was refused: {}",
                forbidden[0]
            ),
            (Err(e), _) => {
                eprintln!("NEEDED   {describe}\n         breaks: {e}");
                for f in forbidden.iter().take(1) {
                    eprintln!("         log: {f}");
                }
            }
        }
    }
    eprintln!(
        "{} RBAC removals checked in {:.1}s",
        all.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        surplus.is_empty(),
        "the operator works without these permissions, so the chart should not grant them: {surplus:#?}"
    );
}
