//! Real Argo CD syncing the example catalog from a git repository onto a real API server, with the
//! Playbill operator running: Argo CD v3.2.11 built from the Go module proxy (tests/argocd-real,
//! `scripts/argocd.sh build`), its application-controller and repo-server run as local processes
//! with an in-memory Redis from the same binary, the project's argocd/argocd-cm.yaml as its
//! settings and a local `file://` git repository as the Application's source.
//!
//! One Application with automated sync, prune and selfHeal, checked through a series of commits:
//! 1. the first sync: Synced, and every resource's health (persisted in the Application by
//!    `--persist-resource-health`) is Healthy, except the example catalog's two deliberate
//!    dangling references, which are Degraded with a message naming the missing entity;
//! 2. status is not drift: nothing is OutOfSync once the operator has written every status, and
//!    the operator writes no status while Argo CD refreshes and re-applies everything;
//! 3. a commit that moves a Component to another System: both Systems' relations follow;
//! 4. a commit adding a Component whose owner does not exist: Degraded, naming the owner;
//! 5. a commit with a reference the API server refuses: the sync fails with a message naming the
//!    field; the fixing commit syncs;
//! 6. selfHeal: Argo CD reverts a `kubectl patch` of a spec field;
//! 7. prune: deleting the file of step 4 deletes its Component.
//!
//! Refreshes are requested with the `argocd.argoproj.io/refresh: hard` annotation after each
//! commit, so nothing waits for git polling.

mod support;

use std::collections::BTreeMap;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::*;

/// The Application's name (in the test's own Argo CD namespace).
const APP: &str = "catalog";

/// The application-controller's flags besides addresses and ports, as docs/argocd.md quotes them.
/// `--persist-resource-health` puts each resource's health into the Application (Argo CD 3.0+
/// keeps it out by default); short resync periods keep the test quick.
const CONTROLLER_FLAGS: [&str; 7] = [
    "--persist-resource-health",
    "--app-resync",
    "20",
    "--app-resync-jitter",
    "0",
    "--self-heal-backoff-timeout-seconds",
    "1",
];

/// Runs `scripts/argocd.sh ARG` and returns its one line of output; fails the test with the
/// script's messages when the build fails.
fn argocd_script(arg: &str) -> String {
    let out = Command::new(repo_root().join("scripts/argocd.sh"))
        .arg(arg)
        .stderr(Stdio::inherit())
        .output()
        .expect("scripts/argocd.sh runs");
    assert!(
        out.status.success(),
        "`scripts/argocd.sh {arg}` failed (Argo CD is built from the Go module proxy; see its messages above)"
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A process the test started; killed when dropped.
struct Process {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Process {
    fn spawn(bin: &Path, args: &[&str], env: &[(&str, &str)], name: &str) -> Process {
        let log = repo_root().join(format!(
            "target/e2e-argocd-real-{name}-{}.log",
            std::process::id()
        ));
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(bin)
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("{} does not start: {e}", bin.display()));
        Process {
            name: name.to_owned(),
            child,
            log,
        }
    }

    /// Waits until the process accepts connections on `port`; fails with its log if it exits.
    fn wait_listening(&mut self, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("{} exited ({status}):\n{}", self.name, self.log_tail());
            }
            assert!(
                Instant::now() < deadline,
                "{} does not listen on {port} after 60 s:\n{}",
                self.name,
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A git repository in a temporary directory (`<root>/repo`), the Application's source; `<root>`
/// also holds the repo-server's scratch space and is removed when dropped.
struct GitRepo {
    root: PathBuf,
    dir: PathBuf,
}

impl GitRepo {
    fn init(name: &str) -> GitRepo {
        let root = std::env::temp_dir().join(format!("playbill-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let dir = root.join("repo");
        std::fs::create_dir_all(&dir).unwrap();
        let repo = GitRepo { root, dir };
        repo.git(&["init", "--quiet", "--initial-branch=main"]);
        repo
    }

    /// A directory next to the repository, for a process's temporary files.
    fn scratch(&self, name: &str) -> PathBuf {
        let dir = self.root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn url(&self) -> String {
        format!("file://{}", self.dir.display())
    }

    fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .args([
                "-c",
                "user.name=Playbill e2e",
                "-c",
                "user.email=e2e@playbill.invalid",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .current_dir(&self.dir)
            .output()
            .expect("git runs");
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    fn read(&self, path: &str) -> String {
        std::fs::read_to_string(self.dir.join(path)).unwrap()
    }

    fn write(&self, path: &str, text: &str) {
        let p = self.dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    /// Commits every change in the work tree; returns the commit's hash.
    fn commit(&self, message: &str) -> String {
        self.git(&["add", "--all"]);
        self.git(&["commit", "--quiet", "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }
}

impl Drop for GitRepo {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Replaces `from` with `to` in the one YAML document of `text` that defines `kind` `name`;
/// `from` must occur in that document.
fn edit_doc(text: &str, kind: &str, name: &str, from: &str, to: &str) -> String {
    let mut found = false;
    let docs: Vec<String> = text
        .split("\n---\n")
        .map(|doc| {
            let is_it = doc.lines().any(|l| l == format!("kind: {kind}"))
                && doc.lines().any(|l| l == format!("  name: {name}"));
            if !is_it {
                return doc.to_owned();
            }
            assert!(doc.contains(from), "{kind}/{name} has no {from:?}:\n{doc}");
            found = true;
            doc.replacen(from, to, 1)
        })
        .collect();
    assert!(found, "no {kind}/{name} document");
    docs.join("\n---\n")
}

fn get_json(args: &[&str]) -> Value {
    serde_json::from_str(&kubectl(args, None)).unwrap()
}

/// The Argo CD side of the test: its namespace and the Application in it.
struct Argo<'a> {
    ns: &'a str,
    controller: &'a Process,
    repo_server: &'a Process,
}

impl Argo<'_> {
    fn app(&self) -> Value {
        get_json(&[
            "get",
            "applications.argoproj.io",
            APP,
            "-n",
            self.ns,
            "-o",
            "json",
        ])
    }

    /// Asks for a hard refresh (manifests regenerated from git, bypassing the cache).
    fn refresh(&self) {
        kubectl(
            &[
                "annotate",
                "applications.argoproj.io",
                APP,
                "-n",
                self.ns,
                "argocd.argoproj.io/refresh=hard",
                "--overwrite",
            ],
            None,
        );
    }

    /// Polls the Application until `ok` holds; fails with a summary and the logs' tails.
    fn wait(&self, timeout: Duration, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let app = self.app();
            if ok(&app) {
                return app;
            }
            if Instant::now() >= deadline {
                panic!(
                    "timed out after {timeout:?} waiting for the Application: {what}\n{}\n\
                     --- application-controller ({}):\n{}\n--- repo-server ({}):\n{}",
                    summary(&app),
                    self.controller.log.display(),
                    self.controller.log_tail(),
                    self.repo_server.log.display(),
                    self.repo_server.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Waits until the Application is Synced to `revision`, no operation runs and every
    /// resource's health has been judged (none Progressing or missing): the operator has
    /// written every status and Argo CD has seen it.
    fn wait_settled(&self, revision: &str, what: &str) -> Value {
        self.wait(Duration::from_secs(120), what, |app| {
            let s = &app["status"];
            s["sync"]["status"] == "Synced"
                && s["sync"]["revision"] == revision
                && s["operationState"]["phase"] != "Running"
                && app["operation"].is_null()
                && s["resources"].as_array().is_some_and(|rs| {
                    rs.iter().all(|r| {
                        r["kind"] == "Namespace"
                            || !matches!(
                                r["health"]["status"].as_str(),
                                None | Some("Progressing" | "Missing")
                            )
                    })
                })
        })
    }
}

/// The parts of an Application that say what it is doing, for failure messages.
fn summary(app: &Value) -> String {
    let s = &app["status"];
    let unsettled: Vec<String> = s["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["status"] != "Synced" || r["health"]["status"] != "Healthy")
        .map(|r| format!("{} {} {}", resource_id(r), r["status"], r["health"]))
        .collect();
    format!(
        "sync: {}\nhealth: {}\nconditions: {}\noperationState: {}\nresources not Synced+Healthy: {unsettled:#?}",
        s["sync"], s["health"], s["conditions"], s["operationState"]
    )
}

fn resource_id(r: &Value) -> String {
    format!(
        "{}/{}/{}",
        r["kind"].as_str().unwrap_or_default(),
        r["namespace"].as_str().unwrap_or_default(),
        r["name"].as_str().unwrap_or_default()
    )
}

/// Each resource of the Application: id -> (sync status, health status, health message).
fn resources(app: &Value) -> BTreeMap<String, (String, Option<String>, String)> {
    app["status"]["resources"]
        .as_array()
        .expect("status.resources")
        .iter()
        .map(|r| {
            (
                resource_id(r),
                (
                    r["status"].as_str().unwrap_or_default().to_owned(),
                    r["health"]["status"].as_str().map(str::to_owned),
                    r["health"]["message"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                ),
            )
        })
        .collect()
}

/// Checks every resource against what the catalog in git says: all Synced; Namespaces have no
/// health check; every entity Healthy, except those in `degraded` (id -> the text its message
/// must contain, after the `UnresolvedReferences: ` reason).
fn assert_resources(app: &Value, want_ids: &[String], degraded: &BTreeMap<String, String>) {
    let got = resources(app);
    let got_ids: Vec<&String> = got.keys().collect();
    let mut want_sorted: Vec<&String> = want_ids.iter().collect();
    want_sorted.sort();
    assert_eq!(
        got_ids, want_sorted,
        "the Application's resources are not the manifests in git"
    );
    for (id, (sync, health, message)) in &got {
        assert_eq!(sync, "Synced", "{id} is {sync}");
        if id.starts_with("Namespace/") {
            assert_eq!(health, &None, "{id}: Argo CD has no health check for it");
            continue;
        }
        match degraded.get(id) {
            Some(what) => {
                assert_eq!(health.as_deref(), Some("Degraded"), "{id}: {message}");
                assert!(
                    message.starts_with("UnresolvedReferences: ") && message.contains(what),
                    "{id}: the message does not name {what:?}: {message}"
                );
            }
            None => assert_eq!(
                health.as_deref(),
                Some("Healthy"),
                "{id} is not Healthy: {message}"
            ),
        }
    }
}

/// The ids (`Kind/namespace/name`) of the objects a YAML stream defines.
fn manifest_ids(yaml: &str) -> Vec<String> {
    parse_docs(yaml)
        .iter()
        .map(|d| {
            format!(
                "{}/{}/{}",
                d["kind"].as_str().unwrap(),
                d["metadata"]["namespace"].as_str().unwrap_or_default(),
                d["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect()
}

fn status_writes(op: &OperatorProcess) -> f64 {
    op.metric("playbill_status_writes_total")
        .expect("the operator exports playbill_status_writes_total")
}

/// Waits until the operator has written no status for two seconds (it has converged: every
/// status, relations included, describes what is in the cluster); returns its write count.
fn operator_quiet(op: &OperatorProcess) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = status_writes(op);
    let mut since = Instant::now();
    while since.elapsed() < Duration::from_secs(2) {
        assert!(
            Instant::now() < deadline,
            "the operator keeps writing statuses ({last} writes)"
        );
        std::thread::sleep(Duration::from_millis(250));
        let now = status_writes(op);
        if now != last {
            last = now;
            since = Instant::now();
        }
    }
    last
}

#[test]
fn real_argocd_syncs_the_example_catalog() {
    let started = Instant::now();
    let argocd = PathBuf::from(argocd_script("path"));
    let bin_dir = argocd.parent().unwrap().to_owned();
    let crds_dir = PathBuf::from(argocd_script("crds"));
    let step = |what: &str| eprintln!("[{:>5.1}s] {what}", started.elapsed().as_secs_f64());
    step("Argo CD built");

    ensure_crds();
    for crd in ["application-crd.yaml", "appproject-crd.yaml"] {
        let file = crds_dir.join(crd);
        let file = file.to_str().unwrap();
        kubectl(
            &["apply", "--server-side", "--force-conflicts", "-f", file],
            None,
        );
        // Polled rather than `kubectl wait`, which fails while a new CRD has no conditions yet.
        wait_for(
            Duration::from_secs(60),
            "Argo CD's CRDs Established",
            || {
                kubectl_run(
                    &[
                        "get",
                        "-f",
                        file,
                        "-o",
                        r#"jsonpath={.status.conditions[?(@.type=="Established")].status}"#,
                    ],
                    None,
                )
                .stdout
                    == "True"
            },
        );
    }

    // The example catalog, moved into the test's own namespaces, is the repository's content.
    let prefix = unique_prefix("argocd-real");
    let org = relocate("acme-org", &prefix);
    let shop = relocate("acme-shop", &prefix);
    let argocd_ns = format!("{prefix}-argocd");
    let repo = GitRepo::init(&prefix);
    for entry in std::fs::read_dir(repo_root().join("examples/catalog")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            let text = relocate(&std::fs::read_to_string(&path).unwrap(), &prefix);
            repo.write(&format!("catalog/{name}"), &text);
        }
    }
    let all_yaml = || -> String {
        std::fs::read_dir(repo.dir.join("catalog"))
            .unwrap()
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect::<Vec<_>>()
            .join("\n---\n")
    };
    let first = repo.commit("The example catalog");
    let catalog_namespaces: Vec<String> = parse_docs(&all_yaml())
        .iter()
        .filter(|d| d["kind"] == "Namespace")
        .map(|d| d["metadata"]["name"].as_str().unwrap().to_owned())
        .collect();
    // Deleted last, after Argo CD has stopped (locals drop in reverse order).
    let _namespaces = Namespaces(
        catalog_namespaces
            .iter()
            .cloned()
            .chain([argocd_ns.clone()])
            .collect(),
    );

    // Argo CD's namespace: the project's argocd-cm (moved there), the default AppProject (which
    // Argo CD's API server would create) and argocd-secret (its settings are read together with
    // argocd-cm and fail without it; empty is enough). Argo CD finds both by the part-of label.
    kubectl(&["create", "namespace", &argocd_ns], None);
    let mut cm =
        parse_docs(&std::fs::read_to_string(repo_root().join("argocd/argocd-cm.yaml")).unwrap())
            .remove(0);
    cm["metadata"]["namespace"] = json!(argocd_ns);
    let project = json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AppProject",
        "metadata": {"name": "default", "namespace": argocd_ns},
        "spec": {
            "sourceRepos": ["*"],
            "destinations": [{"server": "*", "namespace": "*"}],
            "clusterResourceWhitelist": [{"group": "*", "kind": "*"}]
        }
    });
    let secret = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "argocd-secret", "namespace": argocd_ns,
                     "labels": {"app.kubernetes.io/part-of": "argocd"}}
    });
    for doc in [&cm, &project, &secret] {
        kubectl(
            &["apply", "--server-side", "-f", "-"],
            Some(&doc.to_string()),
        );
    }

    // The operator first, so statuses are written as Argo CD creates the objects.
    let lease = format!("playbill-e2e-argocd-real-{}", std::process::id());
    let operator = operator_process(&["--lease-name", &lease], "argocd-real-operator");
    wait_for(Duration::from_secs(60), "operator ready", || {
        http_get(operator.port, "/readyz").is_some_and(|(code, _)| code == 200)
    });

    // Redis, repo-server, application-controller: one binary, the name selects the component.
    let redis_port = free_port();
    let redis_addr = format!("127.0.0.1:{redis_port}");
    let mut redis = Process::spawn(
        &bin_dir.join("argocd-redis"),
        &["--addr", &redis_addr],
        &[],
        "redis",
    );
    redis.wait_listening(redis_port);

    let kubeconfig = kubeconfig();
    let kubeconfig = kubeconfig.to_str().unwrap();
    let repo_port = free_port();
    let repo_metrics = free_port().to_string();
    let repo_tmp = repo.scratch("repo-server");
    let mut repo_server = Process::spawn(
        &bin_dir.join("argocd-repo-server"),
        &[
            "--disable-tls",
            "--address",
            "127.0.0.1",
            "--port",
            &repo_port.to_string(),
            "--metrics-address",
            "127.0.0.1",
            "--metrics-port",
            &repo_metrics,
            "--redis",
            &redis_addr,
            "--logformat",
            "text",
        ],
        &[
            ("ARGOCD_GPG_ENABLED", "false"),
            ("TMPDIR", repo_tmp.to_str().unwrap()),
        ],
        "repo-server",
    );
    repo_server.wait_listening(repo_port);

    let controller_metrics = free_port();
    let repo_addr = format!("127.0.0.1:{repo_port}");
    let controller_metrics_s = controller_metrics.to_string();
    let mut controller_args = vec![
        "--kubeconfig",
        kubeconfig,
        "--namespace",
        &argocd_ns,
        "--repo-server",
        &repo_addr,
        "--repo-server-plaintext",
        "--redis",
        &redis_addr,
        "--metrics-port",
        &controller_metrics_s,
        "--logformat",
        "text",
    ];
    controller_args.extend(CONTROLLER_FLAGS);
    let mut controller = Process::spawn(
        &bin_dir.join("argocd-application-controller"),
        &controller_args,
        // The in-cluster destination (https://kubernetes.default.svc) is read through the
        // standard kubeconfig loading rules, not --kubeconfig: KUBECONFIG names the same file.
        &[
            ("ARGOCD_FAKE_IN_CLUSTER", "true"),
            ("KUBECONFIG", kubeconfig),
        ],
        "application-controller",
    );
    controller.wait_listening(controller_metrics);
    let argo = Argo {
        ns: &argocd_ns,
        controller: &controller,
        repo_server: &repo_server,
    };

    let application = json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": APP, "namespace": argocd_ns},
        "spec": {
            "project": "default",
            "source": {"repoURL": repo.url(), "targetRevision": "main", "path": "catalog"},
            "destination": {"server": "https://kubernetes.default.svc"},
            "syncPolicy": {
                "automated": {"prune": true, "selfHeal": true},
                // A failed sync is retried once after 1 s, not five times over minutes.
                "retry": {"limit": 1, "backoff": {"duration": "1s", "factor": 2, "maxDuration": "2s"}}
            }
        }
    });
    let synced_at = Instant::now();
    kubectl(
        &["apply", "--server-side", "-f", "-"],
        Some(&application.to_string()),
    );

    // 1. First sync: every resource Synced, health as the catalog deserves.
    argo.wait_settled(&first, "the first sync");
    let writes_before = operator_quiet(&operator);
    let app = argo.wait_settled(&first, "the first sync, after the operator converged");
    step(&format!(
        "1. first sync settled, {:.1}s after the Application was created",
        synced_at.elapsed().as_secs_f64()
    ));
    let mut want_ids = manifest_ids(&all_yaml());
    let mut degraded = BTreeMap::from([
        (
            format!("User/{org}/fgarcia"),
            format!("group:{org}/team-mobile not found"),
        ),
        (
            format!("Component/{shop}/catalog-importer"),
            format!("resource:{shop}/legacy-mainframe not found"),
        ),
    ]);
    assert_resources(&app, &want_ids, &degraded);
    // The example's deliberate unknown key (`onCall`) is a warning in the health message of a
    // Healthy entity, as Argo CD itself shows it.
    let cart = &resources(&app)[&format!("Component/{shop}/cart-service")];
    assert!(
        cart.1.as_deref() == Some("Healthy")
            && cart
                .2
                .contains("warning: spec.onCall is not a field of Component"),
        "cart-service's health does not carry the unknown-key warning: {cart:?}"
    );
    assert_eq!(
        app["status"]["health"]["status"],
        "Degraded",
        "{}",
        summary(&app)
    );
    assert_eq!(app["status"]["operationState"]["phase"], "Succeeded");

    // 2. Status is not drift: a hard refresh and a full re-sync find nothing to change, and the
    // operator has nothing to write while Argo CD reconciles.
    let reconciled = app["status"]["reconciledAt"].clone();
    // reconciledAt has a resolution of one second.
    std::thread::sleep(Duration::from_millis(1100));
    argo.refresh();
    let app = argo.wait(Duration::from_secs(60), "the hard refresh", |app| {
        app["metadata"]["annotations"]["argocd.argoproj.io/refresh"].is_null()
            && app["status"]["reconciledAt"] != reconciled
    });
    assert_eq!(
        app["status"]["sync"]["status"],
        "Synced",
        "{}",
        summary(&app)
    );
    kubectl(
        &[
            "patch",
            "applications.argoproj.io",
            APP,
            "-n",
            &argocd_ns,
            "--type",
            "merge",
            "-p",
            &json!({"operation": {"initiatedBy": {"username": "e2e-resync"},
                                  "sync": {"revision": first}}})
            .to_string(),
        ],
        None,
    );
    let app = argo.wait(Duration::from_secs(60), "the forced re-sync", |app| {
        let op = &app["status"]["operationState"];
        app["operation"].is_null()
            && op["operation"]["initiatedBy"]["username"] == "e2e-resync"
            && op["phase"] == "Succeeded"
    });
    let resynced: Vec<&Value> = app["status"]["operationState"]["syncResult"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(
        resynced.len(),
        want_ids.len(),
        "the re-sync applied every resource"
    );
    // Anything the re-apply changed would reach the operator within its debounce; give it time.
    std::thread::sleep(Duration::from_secs(3));
    let app = argo.wait_settled(&first, "settled after the re-sync");
    assert_resources(&app, &want_ids, &degraded);
    assert_eq!(
        status_writes(&operator),
        writes_before,
        "the operator wrote statuses while Argo CD refreshed and re-synced unchanged manifests"
    );
    step(&format!(
        "2. no drift; status writes {writes_before} before and after the refresh and re-sync"
    ));

    // 3. Moving a Component to another System: both Systems' relations follow.
    let part = format!("hasPart component:{shop}/catalog-service");
    let system = |name: &str| get_json(&["get", "system", name, "-n", &shop, "-o", "json"]);
    assert!(status_relations(&system("product-catalog")).contains(&part));
    assert!(!status_relations(&system("storefront")).contains(&part));
    let shop_file = "catalog/20-shop.yaml";
    repo.write(
        shop_file,
        &edit_doc(
            &repo.read(shop_file),
            "Component",
            "catalog-service",
            "system: product-catalog",
            "system: storefront",
        ),
    );
    let moved = repo.commit("catalog-service moves to storefront");
    argo.refresh();
    let app = argo.wait_settled(&moved, "the move synced");
    assert_resources(&app, &want_ids, &degraded);
    wait_for(Duration::from_secs(30), "relations follow the move", || {
        status_relations(&system("storefront")).contains(&part)
            && !status_relations(&system("product-catalog")).contains(&part)
    });
    step("3. relations follow a moved Component");

    // 4. A Component whose owner does not exist: Degraded, naming the owner.
    let orphan_file = "catalog/40-gift-cards.yaml";
    let orphan = format!(
        "apiVersion: catalog.playbill.dev/v1alpha1\nkind: Component\nmetadata:\n  name: gift-cards\n  namespace: {shop}\nspec:\n  type: service\n  lifecycle: experimental\n  owner: group:{org}/team-gifts\n  system: storefront\n"
    );
    repo.write(orphan_file, &orphan);
    let dangling = repo.commit("gift-cards, owned by a team that does not exist");
    argo.refresh();
    let app = argo.wait_settled(&dangling, "the dangling owner synced");
    want_ids.push(format!("Component/{shop}/gift-cards"));
    degraded.insert(
        format!("Component/{shop}/gift-cards"),
        format!("group:{org}/team-gifts not found"),
    );
    assert_resources(&app, &want_ids, &degraded);
    step("4. a dangling owner is Degraded with its message");

    // 5. A reference the API server refuses: the sync fails naming the field. The commit also
    // retires cart-service; the fixing commit keeps that, so it has something to apply.
    let valid_shop = repo.read(shop_file);
    let retired = edit_doc(
        &valid_shop,
        "Component",
        "cart-service",
        "lifecycle: production",
        "lifecycle: deprecated",
    );
    repo.write(
        shop_file,
        &edit_doc(
            &retired,
            "Component",
            "cart-service",
            "system: storefront",
            "system: \"System:\"",
        ),
    );
    let invalid = repo.commit("cart-service retired, with an empty system reference");
    argo.refresh();
    let app = argo.wait(
        Duration::from_secs(90),
        "the invalid commit's sync fails",
        |app| {
            let op = &app["status"]["operationState"];
            op["syncResult"]["revision"] == invalid.as_str()
                && matches!(op["phase"].as_str(), Some("Failed" | "Error"))
        },
    );
    let op = &app["status"]["operationState"];
    let message = op["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("spec.system: Invalid value")
            && message.contains("must be an entity reference"),
        "the failed sync's message does not name the field: {message}"
    );
    let failed: Vec<String> = op["syncResult"]["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["status"] != "Synced")
        .map(|r| {
            format!(
                "{} {}",
                resource_id(r),
                r["status"].as_str().unwrap_or_default()
            )
        })
        .collect();
    assert_eq!(
        failed,
        [format!("Component/{shop}/cart-service SyncFailed")],
        "{}",
        summary(&app)
    );
    assert_eq!(app["status"]["sync"]["status"], "OutOfSync");
    step(&format!("5. the invalid commit's sync failed: {message}"));
    repo.write(shop_file, &retired);
    let fixed = repo.commit("cart-service retired, system storefront");
    let fixed_at = Instant::now();
    argo.refresh();
    let app = argo.wait_settled(&fixed, "the fixing commit synced");
    let op = &app["status"]["operationState"];
    assert_eq!(op["phase"], "Succeeded", "{}", summary(&app));
    assert_eq!(op["syncResult"]["revision"], fixed.as_str());
    assert_eq!(
        get_json(&[
            "get",
            "component",
            "cart-service",
            "-n",
            &shop,
            "-o",
            "json"
        ])["spec"]["lifecycle"],
        "deprecated"
    );
    assert_resources(&app, &want_ids, &degraded);
    step(&format!(
        "5. the fixing commit was applied and settled {:.1}s after it was committed",
        fixed_at.elapsed().as_secs_f64()
    ));

    // 6. selfHeal: a spec change made with kubectl is reverted.
    let lifecycle = || {
        get_json(&["get", "component", "web-shop", "-n", &shop, "-o", "json"])["spec"]["lifecycle"]
            .clone()
    };
    assert_eq!(lifecycle(), "production");
    kubectl(
        &[
            "patch",
            "component",
            "web-shop",
            "-n",
            &shop,
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"lifecycle":"deprecated"}}"#,
        ],
        None,
    );
    wait_for(
        Duration::from_secs(60),
        "selfHeal reverts the patch",
        || lifecycle() == "production",
    );
    let app = argo.wait_settled(&fixed, "settled after selfHeal");
    assert_resources(&app, &want_ids, &degraded);
    step("6. selfHeal reverted a kubectl patch");

    // 7. prune: deleting the file deletes its Component.
    std::fs::remove_file(repo.dir.join(orphan_file)).unwrap();
    let pruned = repo.commit("gift-cards removed");
    argo.refresh();
    let app = argo.wait_settled(&pruned, "the deletion synced");
    want_ids.retain(|id| !id.ends_with("/gift-cards"));
    degraded.retain(|id, _| !id.ends_with("/gift-cards"));
    assert_resources(&app, &want_ids, &degraded);
    wait_for(Duration::from_secs(30), "gift-cards deleted", || {
        !kubectl_run(&["get", "component", "gift-cards", "-n", &shop], None).ok
    });
    step("7. prune deleted the removed file's Component");
}
