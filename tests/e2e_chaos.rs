//! The chaos suite: the operator against a real kube-apiserver + etcd that is killed, frozen,
//! restarted and cut off, plus catalogs that are hard to write. Every scenario runs on its own
//! private control plane (`playbill-controlplane` over a state directory under `target/chaos/`),
//! never the shared one, because it kills and freezes it.
//!
//! Every scenario ends the same way: the statuses on the server must equal `playbill resolve` (the
//! pure computation) over the same objects, and the operator's status writes must stay within a
//! bound stated by the scenario. Figures (recovery time, writes per entity, stale writes) are
//! printed; they are not asserted, because timings on a shared machine are not a test. Deadlines
//! only stop a hung scenario.
//!
//! Scenarios run one at a time (a process-wide lock) whatever `--test-threads` says. Run:
//! `cargo test --test e2e_chaos -- --nocapture`. The control-plane binary is
//! `.playbill/bin/playbill-controlplane` (what `make cluster-up` builds), or
//! `PLAYBILL_CONTROLPLANE`; kubectl is `.playbill/bin/kubectl`, or `KUBECTL`.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use support::{Run, http_get, kubectl_run_on, parse_docs, repo_root};

const GROUP: &str = "catalog.playbill.dev";
const VERSION: &str = "v1alpha1";
/// The seven kinds, fully qualified so that `apis` cannot mean anything else.
const KINDS: &str = "components.catalog.playbill.dev,systems.catalog.playbill.dev,apis.catalog.playbill.dev,resources.catalog.playbill.dev,domains.catalog.playbill.dev,groups.catalog.playbill.dev,users.catalog.playbill.dev";
/// The operator's default `--concurrency`: at most this many writes are in flight when it dies.
const IN_FLIGHT: f64 = 8.0;

// ---------------------------------------------------------------------------------------------
// One scenario at a time

static SERIAL: Mutex<()> = Mutex::new(());

/// Scenarios kill and freeze control planes and measure CPU-bound recovery: never two at once.
fn serial(scenario: &str) -> MutexGuard<'static, ()> {
    let guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    println!("\n=== chaos scenario: {scenario} ===");
    guard
}

fn scratch(scenario: &str) -> PathBuf {
    let dir = repo_root().join("target/chaos").join(scenario);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Polls `ok` every 200 ms; panics with `what` (and the scenario) after `timeout`. Only to stop a
/// hung scenario: the timeouts are generous and never the thing tested.
fn wait_until(scenario: &str, timeout: Duration, what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ok() {
        assert!(
            Instant::now() < deadline,
            "[{scenario}] timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill -{sig} {pid} failed");
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

// ---------------------------------------------------------------------------------------------
// A private control plane

fn controlplane_bin() -> PathBuf {
    let bin = std::env::var_os("PLAYBILL_CONTROLPLANE")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".playbill/bin/playbill-controlplane"));
    assert!(
        bin.exists(),
        "{} is missing: build it with `make cluster-up` (or scripts/cluster.sh up), or point \
         PLAYBILL_CONTROLPLANE at one",
        bin.display()
    );
    bin
}

/// etcd + kube-apiserver in one process over `dir/state`, so that signals to that process are
/// faults of the API server. Restarting over the same state keeps the data and the port.
struct ControlPlane {
    scenario: String,
    dir: PathBuf,
    kubeconfig: PathBuf,
    args: Vec<String>,
    child: Option<Child>,
}

impl ControlPlane {
    fn start(scenario: &str, dir: &Path, extra: &[&str]) -> ControlPlane {
        let mut cp = ControlPlane {
            scenario: scenario.to_owned(),
            dir: dir.to_owned(),
            kubeconfig: dir.join("kubeconfig"),
            args: extra.iter().map(|s| s.to_string()).collect(),
            child: None,
        };
        let t = Instant::now();
        cp.spawn();
        println!("[{scenario}] control plane up in {}", secs(t.elapsed()));
        let crds = repo_root().join("crds/catalog.playbill.dev.yaml");
        let crds = crds.to_str().unwrap();
        cp.kubectl(&["apply", "--server-side", "-f", crds], None);
        cp.kubectl(
            &[
                "wait",
                "--for=condition=Established",
                "--timeout=120s",
                "-f",
                crds,
            ],
            None,
        );
        cp
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("controlplane.log"))
            .unwrap();
        let child = Command::new(controlplane_bin())
            .arg("--state-dir")
            .arg(self.dir.join("state"))
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("playbill-controlplane starts");
        self.child = Some(child);
        let scenario = self.scenario.clone();
        wait_until(
            &scenario,
            Duration::from_secs(180),
            "the control plane to be ready",
            || {
                if let Some(Some(status)) = self.child.as_mut().map(|c| c.try_wait().unwrap()) {
                    panic!(
                        "[{scenario}] the control plane exited during start-up ({status}); see {}",
                        self.dir.join("controlplane.log").display()
                    );
                }
                self.kubeconfig.exists()
                    && self
                        .kubectl_run(&["get", "--raw", "/readyz", "--request-timeout=5s"], None)
                        .stdout
                        == "ok"
            },
        );
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Sends `sig` and waits for the process to exit.
    fn stop_with(&mut self, sig: &str) {
        signal(self.pid(), sig);
        let mut child = self.child.take().unwrap();
        let scenario = self.scenario.clone();
        wait_until(
            &scenario,
            Duration::from_secs(60),
            &format!("the control plane to exit on SIG{sig}"),
            || child.try_wait().unwrap().is_some(),
        );
    }

    /// Starts it again over the same state; returns when its /readyz is ok.
    fn restart(&mut self) -> Instant {
        assert!(self.child.is_none(), "restart of a running control plane");
        self.spawn();
        Instant::now()
    }

    fn kubectl_run(&self, args: &[&str], stdin: Option<&str>) -> Run {
        kubectl_run_on(&self.kubeconfig, args, stdin)
    }

    fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> String {
        let run = self.kubectl_run(args, stdin);
        assert!(
            run.ok,
            "[{}] kubectl {args:?} failed:\n{}\n{}",
            self.scenario, run.stdout, run.stderr
        );
        run.stdout
    }

    fn client(&self, rt: &tokio::runtime::Runtime) -> kube::Client {
        rt.block_on(async {
            let kc = kube::config::Kubeconfig::read_from(&self.kubeconfig).unwrap();
            let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
                .await
                .unwrap();
            kube::Client::try_from(config).unwrap()
        })
    }

    fn api_port(&self) -> u16 {
        let text = std::fs::read_to_string(&self.kubeconfig).unwrap();
        let server = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("server: https://127.0.0.1:"))
            .expect("kubeconfig names a loopback server");
        server.trim().parse().unwrap()
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SIGKILL also ends a stopped (SIGSTOP) process.
            let _ = c.kill();
            let _ = c.wait();
        }
        // The etcd data is large; the logs stay for a post-mortem.
        let _ = std::fs::remove_dir_all(self.dir.join("state"));
    }
}

// ---------------------------------------------------------------------------------------------
// The operator

struct Operator {
    scenario: String,
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Operator {
    /// `playbill run` against `kubeconfig`, without leader election unless `extra` enables it.
    fn start(scenario: &str, dir: &Path, name: &str, kubeconfig: &Path, extra: &[&str]) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = dir.join(format!("operator-{name}-{port}.log"));
        let mut args = vec![
            "run".to_owned(),
            "--listen".to_owned(),
            format!("127.0.0.1:{port}"),
            "--lease-namespace".to_owned(),
            "default".to_owned(),
            "--exit-on-stdin-close".to_owned(),
        ];
        if !extra.iter().any(|a| a.starts_with("--leader-elect")) {
            args.push("--leader-elect=false".to_owned());
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let child = Command::new(env!("CARGO_BIN_EXE_playbill"))
            .args(&args)
            .env("KUBECONFIG", kubeconfig)
            .env("PLAYBILL_LOG", "info")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("operator starts");
        let op = Operator {
            scenario: scenario.to_owned(),
            child,
            port,
            log,
        };
        wait_until(
            scenario,
            Duration::from_secs(60),
            "the operator's /metrics",
            || op.metrics().is_some(),
        );
        op
    }

    fn metrics(&self) -> Option<String> {
        match http_get(self.port, "/metrics") {
            Some((200, body)) => Some(body),
            _ => None,
        }
    }

    /// The sum of a metric's samples over all label sets (0 when it has none yet).
    fn metric(&self, name: &str) -> Option<f64> {
        let body = self.metrics()?;
        Some(metric_sum(&body, name))
    }

    /// Every write the replica attempted, successful or not.
    fn attempts(&self) -> Option<f64> {
        let body = self.metrics()?;
        Some(
            metric_sum(&body, "playbill_status_writes_total")
                + metric_sum(&body, "playbill_status_write_errors_total"),
        )
    }

    fn readyz(&self) -> Option<u16> {
        http_get(self.port, "/readyz").map(|(code, _)| code)
    }

    /// Waits until the attempted writes stop moving for two seconds, so a bound read next is
    /// not racing a write still in flight. Returns (writes, write errors).
    fn quiet(&self) -> (f64, f64) {
        let mut last = (-1.0, -1.0);
        let mut since = Instant::now();
        wait_until(
            &self.scenario.clone(),
            Duration::from_secs(120),
            "the operator's writes to settle",
            || {
                let Some(body) = self.metrics() else {
                    return false;
                };
                let now = (
                    metric_sum(&body, "playbill_status_writes_total"),
                    metric_sum(&body, "playbill_status_write_errors_total"),
                );
                if now != last {
                    last = now;
                    since = Instant::now();
                }
                since.elapsed() >= Duration::from_secs(2)
            },
        );
        last
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn metric_sum(body: &str, name: &str) -> f64 {
    body.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        // + 0.0: an empty sum is -0.0, which prints as "-0".
        .sum::<f64>()
        + 0.0
}

// ---------------------------------------------------------------------------------------------
// A generated catalog

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn percent(&mut self, p: u64) -> bool {
        self.next() % 100 < p
    }
}

/// About `n` entities of all seven kinds over four namespaces `<prefix>-0..3`: a Group tree,
/// Users that are members (some of a hub group), owners across namespaces, APIs consumed from the
/// next namespace, and about 3 % references that do not resolve.
fn catalog(n: usize, prefix: &str) -> Vec<Value> {
    const NS: usize = 4;
    let mut rng = Rng(0x00c0_ffee ^ n as u64);
    let per = (n / NS).max(12);
    let groups = (per / 15).max(3);
    let users = per / 5;
    let domains = (per / 50).max(1);
    let systems = (per / 14).max(2);
    let apis = per * 3 / 20;
    let resources = per / 10;
    let components = per - groups - users - domains - systems - apis - resources;
    let mut out = Vec::new();
    for j in 0..NS {
        let ns = format!("{prefix}-{j}");
        let next = format!("{prefix}-{}", (j + 1) % NS);
        let mut obj = |kind: &str, name: String, spec: Value| {
            out.push(json!({
                "apiVersion": format!("{GROUP}/{VERSION}"), "kind": kind,
                "metadata": {"name": name, "namespace": ns}, "spec": spec,
            }))
        };
        let owner = |rng: &mut Rng| match rng.below(20) {
            0 => format!("{next}/group-{}", rng.below(groups)),
            1 => format!("user:user-{}", rng.below(users.max(1))),
            2 if rng.percent(30) => format!("ghost-owner-{}", rng.below(1000)),
            _ => format!("group-{}", rng.below(groups)),
        };
        for i in 0..groups {
            let mut spec = json!({"type": if i == 0 { "root" } else { "team" },
                "children": (3 * i + 1..=3 * i + 3).filter(|c| *c < groups)
                    .map(|c| format!("group-{c}")).collect::<Vec<_>>()});
            if i > 0 {
                spec["parent"] = json!(format!("group-{}", (i - 1) / 3));
            }
            obj("Group", format!("group-{i}"), spec);
        }
        for i in 0..users {
            let mut member_of = vec![format!("group-{}", rng.below(groups))];
            if i % 4 == 0 {
                member_of.push("group-1".into()); // the hub
            }
            if rng.percent(3) {
                member_of.push(format!("ghost-group-{i}"));
            }
            obj(
                "User",
                format!("user-{i}"),
                json!({"memberOf": member_of, "profile": {"email": format!("u{i}@example.com")}}),
            );
        }
        for i in 0..domains {
            obj(
                "Domain",
                format!("domain-{i}"),
                json!({"owner": owner(&mut rng)}),
            );
        }
        for i in 0..systems {
            obj(
                "System",
                format!("system-{i}"),
                json!({"owner": owner(&mut rng), "domain": format!("domain-{}", rng.below(domains))}),
            );
        }
        for i in 0..apis {
            obj(
                "API",
                format!("api-{i}"),
                json!({"type": "openapi", "lifecycle": "production", "owner": owner(&mut rng),
                    "system": format!("system-{}", rng.below(systems)), "definition": "openapi: 3.0.0"}),
            );
        }
        for i in 0..resources {
            obj(
                "Resource",
                format!("resource-{i}"),
                json!({"type": "database", "owner": owner(&mut rng),
                    "system": format!("system-{}", rng.below(systems))}),
            );
        }
        for i in 0..components {
            let mut spec = json!({"type": "service", "lifecycle": "production",
                "owner": owner(&mut rng), "system": format!("system-{}", rng.below(systems))});
            if i < apis {
                spec["providesApis"] = json!([format!("api-{i}")]);
            }
            let consumes: BTreeSet<String> = (0..rng.below(3))
                .map(|_| {
                    if rng.percent(15) {
                        format!("{next}/api-{}", rng.below(apis.max(1)))
                    } else {
                        format!("api-{}", rng.below(apis.max(1)))
                    }
                })
                .collect();
            if !consumes.is_empty() && apis > 0 {
                spec["consumesApis"] = json!(consumes);
            }
            let mut deps = BTreeSet::new();
            if i > 0 && rng.percent(50) {
                deps.insert(format!("component:component-{}", rng.below(i)));
            }
            if resources > 0 && rng.percent(30) {
                deps.insert(format!("resource:resource-{}", rng.below(resources)));
            }
            if rng.percent(3) {
                deps.insert(format!("component:ghost-{i}"));
            }
            if !deps.is_empty() {
                spec["dependsOn"] = json!(deps);
            }
            obj("Component", format!("component-{i}"), spec);
        }
    }
    out
}

fn namespaces_of(objs: &[Value]) -> BTreeSet<String> {
    objs.iter()
        .map(|o| o["metadata"]["namespace"].as_str().unwrap().to_owned())
        .collect()
}

fn resource(kind: &str) -> ApiResource {
    ApiResource {
        group: GROUP.into(),
        version: VERSION.into(),
        api_version: format!("{GROUP}/{VERSION}"),
        kind: kind.into(),
        plural: format!("{}s", kind.to_ascii_lowercase()),
    }
}

fn api_for(client: &kube::Client, obj: &Value) -> Api<DynamicObject> {
    Api::namespaced_with(
        client.clone(),
        obj["metadata"]["namespace"].as_str().unwrap(),
        &resource(obj["kind"].as_str().unwrap()),
    )
}

fn name_of(obj: &Value) -> &str {
    obj["metadata"]["name"].as_str().unwrap()
}

/// The canonical reference of an object, as statuses and `playbill resolve` key it.
fn key_of(obj: &Value) -> String {
    format!(
        "{}:{}/{}",
        obj["kind"].as_str().unwrap(),
        obj["metadata"]["namespace"].as_str().unwrap(),
        name_of(obj)
    )
    .to_ascii_lowercase()
}

/// Creates the namespaces, then every object, 16 at a time: the fast way to a catalog that is
/// already there when the operator starts.
fn load(cp: &ControlPlane, rt: &tokio::runtime::Runtime, objs: &[Value]) {
    for ns in namespaces_of(objs) {
        cp.kubectl(&["create", "namespace", &ns], None);
    }
    let client = cp.client(rt);
    rt.block_on(async {
        use futures::StreamExt;
        let results: Vec<_> = futures::stream::iter(objs.iter())
            .map(|o| {
                let api = api_for(&client, o);
                let obj: DynamicObject = serde_json::from_value(o.clone()).unwrap();
                async move { api.create(&PostParams::default(), &obj).await }
            })
            .buffer_unordered(16)
            .collect()
            .await;
        for r in results {
            r.unwrap_or_else(|e| panic!("[{}] creating the catalog: {e}", cp.scenario));
        }
    });
}

async fn merge_patch(client: &kube::Client, obj: &Value, patch: Value) -> kube::Result<()> {
    api_for(client, obj)
        .patch(name_of(obj), &PatchParams::default(), &Patch::Merge(patch))
        .await
        .map(|_| ())
}

// ---------------------------------------------------------------------------------------------
// The oracle: live statuses against `playbill resolve` over the same objects

/// A status as comparable: lastTransitionTime is the one field no pure computation knows.
fn normalise(status: &Value) -> Value {
    let mut s = status.clone();
    if let Some(conds) = s.get_mut("conditions").and_then(Value::as_array_mut) {
        for c in conds {
            if let Some(c) = c.as_object_mut() {
                c.remove("lastTransitionTime");
            }
        }
    }
    s
}

fn live_objects(cp: &ControlPlane) -> Option<Vec<Value>> {
    let run = cp.kubectl_run(&["get", KINDS, "-A", "-o", "json"], None);
    if !run.ok {
        return None;
    }
    let list: Value = serde_json::from_str(&run.stdout).ok()?;
    list["items"].as_array().cloned()
}

/// Every live status compared with `playbill resolve` over the live specs; `skip` are keys left
/// out of both (objects `playbill resolve` refuses, checked by their scenario). Ok(entities) or
/// a description of the first differences.
fn compare(cp: &ControlPlane, dir: &Path, skip: &[String]) -> Result<usize, String> {
    let items = live_objects(cp).ok_or("cannot list the catalog")?;
    let items: Vec<&Value> = items
        .iter()
        .filter(|o| !skip.contains(&key_of(o)))
        .collect();
    let input: Vec<String> = items
        .iter()
        .map(|o| {
            json!({"apiVersion": o["apiVersion"], "kind": o["kind"],
                "metadata": {"name": o["metadata"]["name"], "namespace": o["metadata"]["namespace"],
                    "generation": o["metadata"]["generation"]},
                "spec": o["spec"]})
            .to_string()
        })
        .collect();
    let file = dir.join("resolve-input.yaml");
    std::fs::write(&file, input.join("\n---\n")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_playbill"))
        .arg("resolve")
        .arg(&file)
        .output()
        .unwrap();
    if !out.status.success() {
        return Err(format!(
            "playbill resolve failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let want: BTreeMap<String, Value> = serde_json::from_slice(&out.stdout).unwrap();
    let mut diffs = Vec::new();
    for o in &items {
        let key = key_of(o);
        let live = normalise(&o["status"]);
        let expected = want.get(&key).map(normalise).unwrap_or(Value::Null);
        if live != expected {
            diffs.push(key);
        }
    }
    if diffs.is_empty() {
        return Ok(items.len());
    }
    let first = &diffs[0];
    let o = items.iter().find(|o| &key_of(o) == first).unwrap();
    let short = |v: Value| {
        let s = v.to_string();
        if s.len() > 600 {
            format!("{}…", &s[..600])
        } else {
            s
        }
    };
    Err(format!(
        "{} of {} statuses differ from `playbill resolve`, e.g. {first}:\n  live:     {}\n  expected: {}",
        diffs.len(),
        items.len(),
        short(normalise(&o["status"])),
        short(want.get(first).map(normalise).unwrap_or(Value::Null)),
    ))
}

/// Waits until every status equals the pure computation; returns how long that took.
fn converged(cp: &ControlPlane, dir: &Path, skip: &[String], timeout: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let last = match compare(cp, dir, skip) {
            Ok(_) => return start.elapsed(),
            Err(e) => e,
        };
        assert!(
            start.elapsed() < timeout,
            "[{}] statuses did not converge to `playbill resolve` within {timeout:?}: {last}",
            cp.scenario
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Every status, normalised, by key.
fn statuses(cp: &ControlPlane) -> BTreeMap<String, Value> {
    live_objects(cp)
        .expect("list the catalog")
        .iter()
        .map(|o| (key_of(o), normalise(&o["status"])))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Edits while things break

/// Patches a Component's description every `every`, until stopped: each patch bumps its
/// generation, so each needs (at most) one status write. Errors while the API server is away are
/// expected and counted.
struct Editor {
    stop: Arc<AtomicBool>,
    attempted: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Editor {
    fn start(
        rt: &tokio::runtime::Runtime,
        client: kube::Client,
        targets: Vec<Value>,
        every: Duration,
    ) -> Editor {
        let stop = Arc::new(AtomicBool::new(false));
        let attempted = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let (s, a, f) = (stop.clone(), attempted.clone(), failed.clone());
        // Unique across editors, so that no patch repeats an earlier one (which would change
        // nothing and need no write).
        static EDITS: AtomicU64 = AtomicU64::new(0);
        let task = rt.spawn(async move {
            while !s.load(Ordering::SeqCst) {
                let i = EDITS.fetch_add(1, Ordering::SeqCst) as usize;
                let o = &targets[i % targets.len()];
                a.fetch_add(1, Ordering::SeqCst);
                let patch = json!({"spec": {"description": format!("edit {i}")}});
                let call = merge_patch(&client, o, patch);
                if !matches!(
                    tokio::time::timeout(Duration::from_secs(5), call).await,
                    Ok(Ok(()))
                ) {
                    f.fetch_add(1, Ordering::SeqCst);
                }
                tokio::time::sleep(every).await;
            }
        });
        Editor {
            stop,
            attempted,
            failed,
            task: Some(task),
        }
    }

    /// Stops and returns (attempted, failed).
    fn stop(&mut self, rt: &tokio::runtime::Runtime) -> (u64, u64) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.task.take() {
            let _ = rt.block_on(t);
        }
        (
            self.attempted.load(Ordering::SeqCst),
            self.failed.load(Ordering::SeqCst),
        )
    }
}

/// The recovery time as a user sees it: a change made now (a new description on `obj`, retried
/// until the API server takes it) and how long until the status shows its generation.
fn probe(
    scenario: &str,
    rt: &tokio::runtime::Runtime,
    client: &kube::Client,
    obj: &Value,
) -> Duration {
    static PROBES: AtomicU64 = AtomicU64::new(0);
    let api = api_for(client, obj);
    let name = name_of(obj).to_owned();
    let start = Instant::now();
    let deadline = start + Duration::from_secs(120);
    rt.block_on(async {
        let n = PROBES.fetch_add(1, Ordering::SeqCst);
        let patch = Patch::Merge(json!({"spec": {"description": format!("probe {n}")}}));
        let generation = loop {
            match api.patch(&name, &PatchParams::default(), &patch).await {
                Ok(o) => break o.metadata.generation,
                Err(e) => assert!(
                    Instant::now() < deadline,
                    "[{scenario}] the probe edit of {name} failed for 120 s: {e}"
                ),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        loop {
            if let Ok(o) = api.get(&name).await {
                let seen = o.data["status"]["observedGeneration"].as_i64();
                if seen.is_some() && seen == generation {
                    return start.elapsed();
                }
            }
            assert!(
                Instant::now() < deadline,
                "[{scenario}] the probe edit of {name} did not show in its status within 120 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
}

fn components(objs: &[Value]) -> Vec<Value> {
    objs.iter()
        .filter(|o| o["kind"] == "Component")
        .cloned()
        .collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The writes of a fault, bounded: `needed` is the most the edits can need (a description edit
/// one write, an owner moved to a Group that does not exist two: the entity and its old owner),
/// plus what was in flight.
fn assert_writes_bounded(scenario: &str, writes: f64, needed: u64, what: &str) {
    let bound = needed as f64 + IN_FLIGHT;
    assert!(
        writes <= bound,
        "[{scenario}] {what}: {writes} status writes where the edits needed at most {needed} \
         (bound {bound}): a re-list or reconnect rewrote statuses that were already right"
    );
}

// ---------------------------------------------------------------------------------------------
// Scenarios

/// `kill -9` of the operator during cold convergence, at three points (first write, about a
/// quarter and a half of the catalog written); each restart continues where the last one
/// stopped. Promise: every status right in the end, and no entity written twice beyond what was
/// in flight at each kill.
#[test]
fn kill_9_of_the_operator_during_cold_convergence() {
    let scenario = "kill-9-operator";
    let _serial = serial(scenario);
    let dir = scratch(scenario);
    let rt = runtime();
    let cp = ControlPlane::start(scenario, &dir, &[]);
    let objs = catalog(1000, "k9");
    let n = objs.len() as f64;
    load(&cp, &rt, &objs);

    let mut counted = 0.0;
    let mut kills = 0;
    for (i, point) in [1.0, n / 4.0, n / 2.0].into_iter().enumerate() {
        let op = Operator::start(scenario, &dir, &format!("life{i}"), &cp.kubeconfig, &[]);
        let mut last = 0.0;
        let deadline = Instant::now() + Duration::from_secs(120);
        // Poll tightly so the kill lands close to the chosen point.
        loop {
            if let Some(w) = op.metric("playbill_status_writes_total") {
                last = w;
                if w >= point.min(n - counted) {
                    break;
                }
            }
            assert!(
                Instant::now() < deadline,
                "[{scenario}] life {i} wrote {last} statuses in 120 s, never reaching {point}\n{}",
                op.log_tail()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        let mut op = op;
        signal(op.child.id(), "KILL");
        let _ = op.child.wait();
        counted += last;
        kills += 1;
        println!(
            "[{scenario}] kill -9 #{kills} after {last} writes in that life ({counted} so far)"
        );
    }
    let op = Operator::start(scenario, &dir, "final", &cp.kubeconfig, &[]);
    let took = converged(&cp, &dir, &[], Duration::from_secs(120));
    let (w, _) = op.quiet();
    let total = counted + w;
    println!(
        "[{scenario}] {n} entities, {kills} kills: {total} writes in all ({:.3} per entity), \
         the last life converged in {}",
        total / n,
        secs(took)
    );
    let bound = n + kills as f64 * IN_FLIGHT;
    assert!(
        total <= bound,
        "[{scenario}] {total} status writes for {n} entities over {kills} kill -9s (bound {bound}): \
         restarted operators rewrote statuses that were already right"
    );
    let _ = compare(&cp, &dir, &[]).unwrap_or_else(|e| panic!("[{scenario}] {e}"));
}

/// The API server stopped by SIGTERM, then by SIGKILL, while a client keeps editing; each time
/// restarted over the same data. Promise: statuses equal the pure computation once it is back
/// (the recovery time is printed), `/readyz` comes back, and a re-list writes only what changed.
#[test]
fn api_server_sigterm_and_sigkill_during_edits() {
    let scenario = "apiserver-restart";
    let _serial = serial(scenario);
    let dir = scratch(scenario);
    let rt = runtime();
    let mut cp = ControlPlane::start(scenario, &dir, &[]);
    let objs = catalog(1000, "rs");
    load(&cp, &rt, &objs);
    let op = Operator::start(scenario, &dir, "op", &cp.kubeconfig, &[]);
    converged(&cp, &dir, &[], Duration::from_secs(120));
    let client = cp.client(&rt);
    for sig in ["TERM", "KILL"] {
        let (w0, _) = op.quiet();
        let mut editor = Editor::start(
            &rt,
            client.clone(),
            components(&objs),
            Duration::from_millis(50),
        );
        std::thread::sleep(Duration::from_secs(3));
        let down = Instant::now();
        cp.stop_with(sig);
        let (attempted, failed) = editor.stop(&rt);
        let ready = cp.restart();
        let downtime = ready - down;
        let shown = probe(scenario, &rt, &client, &components(&objs)[1]);
        let took = converged(&cp, &dir, &[], Duration::from_secs(120));
        let mut readyz_back = None;
        wait_until(
            scenario,
            Duration::from_secs(60),
            "the operator's /readyz to be 200 again",
            || {
                let ok = op.readyz() == Some(200);
                if ok {
                    readyz_back = Some(ready.elapsed());
                }
                ok
            },
        );
        let (w1, _) = op.quiet();
        let restarts = op.metric("playbill_watch_restarts_total").unwrap_or(0.0);
        println!(
            "[{scenario}] SIG{sig}: down for {}, {attempted} edits ({failed} failed while it was \
             away); once it was ready again an edit showed in {}, all statuses right by {}, \
             /readyz 200 by {}; {} writes; watch restarts so far {restarts}",
            secs(downtime),
            secs(shown),
            secs(shown + took),
            secs(readyz_back.unwrap_or_default()),
            w1 - w0
        );
        assert_writes_bounded(scenario, w1 - w0, attempted + 1, &format!("SIG{sig}"));
    }
}

/// The whole API server (and etcd) frozen with SIGSTOP for 30 s, just after some edits, then
/// resumed. Promise: the edits show and every status is right soon after it resumes.
#[test]
fn api_server_frozen_for_30_seconds() {
    let scenario = "apiserver-freeze";
    let _serial = serial(scenario);
    let dir = scratch(scenario);
    let rt = runtime();
    let cp = ControlPlane::start(scenario, &dir, &[]);
    let objs = catalog(1000, "fz");
    load(&cp, &rt, &objs);
    let op = Operator::start(scenario, &dir, "op", &cp.kubeconfig, &[]);
    converged(&cp, &dir, &[], Duration::from_secs(120));
    let (w0, _) = op.quiet();
    let client = cp.client(&rt);
    dangle_owners(&rt, &client, &objs, 20);
    signal(cp.pid(), "STOP");
    std::thread::sleep(Duration::from_secs(30));
    signal(cp.pid(), "CONT");
    let shown = probe(scenario, &rt, &client, &components(&objs)[30]);
    let took = converged(&cp, &dir, &[], Duration::from_secs(120));
    let (w1, _) = op.quiet();
    println!(
        "[{scenario}] frozen 30 s: an edit made at SIGCONT showed in {}, all statuses right by {}; \
         {} writes for 20 owner changes (each needs 2) and the edit",
        secs(shown),
        secs(shown + took),
        w1 - w0
    );
    assert_writes_bounded(scenario, w1 - w0, 2 * 20 + 1, "after a 30 s freeze");
}

/// A TCP proxy between the operator and the API server that can cut every connection and refuse
/// new ones, so a watch can be made to resume from a resourceVersion that etcd has compacted.
struct Proxy {
    port: u16,
    blocked: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    fn start(target: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let blocked = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (b, c) = (blocked.clone(), conns.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if b.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                let mut list = c.lock().unwrap();
                list.push(client.try_clone().unwrap());
                list.push(server.try_clone().unwrap());
                drop(list);
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = from.shutdown(Shutdown::Both);
                        let _ = to.shutdown(Shutdown::Both);
                    });
                }
            }
        });
        Proxy {
            port,
            blocked,
            conns,
        }
    }

    /// Cuts every open connection and refuses new ones until [`Proxy::restore`].
    fn cut(&self) {
        self.blocked.store(true, Ordering::SeqCst);
        for s in self.conns.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.blocked.store(false, Ordering::SeqCst);
    }
}

/// A watch that expires: the operator is cut off from the API server (a proxy drops its
/// connections), objects change meanwhile and etcd compacts past its last resourceVersion (the
/// control plane runs without the watch cache and compacts every second), so resuming its watches
/// gets `410 Gone`. Promise: `/readyz` is 503 while it is blind, it re-lists, and every status is
/// right again.
#[test]
fn forced_watch_expiry_410() {
    let scenario = "watch-expiry-410";
    let _serial = serial(scenario);
    let dir = scratch(scenario);
    let rt = runtime();
    let cp = ControlPlane::start(
        scenario,
        &dir,
        &["--watch-cache=false", "--etcd-compaction-interval=1s"],
    );
    let objs = catalog(400, "we");
    load(&cp, &rt, &objs);
    let proxy = Proxy::start(cp.api_port());
    let proxied = dir.join("proxied.kubeconfig");
    std::fs::write(
        &proxied,
        std::fs::read_to_string(&cp.kubeconfig).unwrap().replace(
            &format!("127.0.0.1:{}", cp.api_port()),
            &format!("127.0.0.1:{}", proxy.port),
        ),
    )
    .unwrap();
    let op = Operator::start(scenario, &dir, "op", &proxied, &[]);
    converged(&cp, &dir, &[], Duration::from_secs(120));
    wait_until(scenario, Duration::from_secs(30), "/readyz 200", || {
        op.readyz() == Some(200)
    });
    let (w0, _) = op.quiet();
    let restarts0 = op
        .metric("playbill_watch_restarts_total")
        .unwrap_or_default();
    // Where the operator's Component watch is now (it has seen everything up to here).
    let list: Value = serde_json::from_str(&cp.kubectl(
        &[
            "get",
            "--raw",
            &format!("/apis/{GROUP}/{VERSION}/components?limit=1"),
        ],
        None,
    ))
    .unwrap();
    let rv = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_owned();

    proxy.cut();
    let cut = Instant::now();
    let client = cp.client(&rt);
    dangle_owners(&rt, &client, &objs, 15);
    // Proof that a watch resumed from there now expires: the same request the operator's
    // watcher will make, asked directly.
    let path = format!(
        "/apis/{GROUP}/{VERSION}/components?watch=true&resourceVersion={rv}&timeoutSeconds=1"
    );
    wait_until(
        scenario,
        Duration::from_secs(60),
        "etcd to compact past the operator's resourceVersion (a watch from it to get 410)",
        || {
            let run = cp.kubectl_run(&["get", "--raw", &path], None);
            run.stdout.contains("\"code\":410") || run.stderr.contains("410")
        },
    );
    // Checked at the end, so a failure here still shows whether the re-list works.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut blind_readyz = op.readyz();
    while blind_readyz != Some(503) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        blind_readyz = op.readyz();
    }
    println!(
        "[{scenario}] cut off; /readyz {blind_readyz:?} {} after the cut",
        secs(cut.elapsed())
    );
    proxy.restore();

    let shown = probe(scenario, &rt, &client, &components(&objs)[30]);
    wait_until(
        scenario,
        Duration::from_secs(120),
        "the operator to re-list after 410 (playbill_watch_restarts_total to grow)",
        || {
            op.metric("playbill_watch_restarts_total")
                .unwrap_or_default()
                > restarts0
        },
    );
    let took = converged(&cp, &dir, &[], Duration::from_secs(120));
    wait_until(
        scenario,
        Duration::from_secs(60),
        "/readyz 200 again",
        || op.readyz() == Some(200),
    );
    let (w1, _) = op.quiet();
    let log = std::fs::read_to_string(&op.log).unwrap_or_default();
    println!(
        "[{scenario}] reconnected: an edit made then showed in {}, all statuses right by {}; {} \
         writes for 15 owner changes (each needs 2) and the edit; the operator saw a 410 \
         (its log says Expired): {}",
        secs(shown),
        secs(shown + took),
        w1 - w0,
        log.contains("Expired") || log.contains("too old")
    );
    assert_eq!(
        blind_readyz,
        Some(503),
        "[{scenario}] /readyz while the operator's watches were broken for 30 s"
    );
    assert_writes_bounded(scenario, w1 - w0, 2 * 15 + 1, "after a 410 re-list");
}

/// Two replicas with a 4 s lease; the leader is frozen (SIGSTOP) well past its lease, the
/// standby takes over and writes the edits made meanwhile, then the old leader is resumed.
/// Promise: the resumed ex-leader attempts no write at all (stale writes = 0), and every status
/// is right.
#[test]
fn leader_frozen_past_its_lease() {
    let scenario = "leader-freeze";
    let _serial = serial(scenario);
    let dir = scratch(scenario);
    let rt = runtime();
    let cp = ControlPlane::start(scenario, &dir, &[]);
    let objs = catalog(400, "lf");
    load(&cp, &rt, &objs);
    let args = |id: &'static str| {
        [
            "--leader-elect=true",
            "--lease-name",
            "chaos",
            "--lease-seconds",
            "4",
            "--identity",
            id,
        ]
    };
    let a = Operator::start(scenario, &dir, "a", &cp.kubeconfig, &args("replica-a"));
    wait_until(
        scenario,
        Duration::from_secs(60),
        "replica a to lead",
        || a.metric("playbill_leader") == Some(1.0),
    );
    let b = Operator::start(scenario, &dir, "b", &cp.kubeconfig, &args("replica-b"));
    converged(&cp, &dir, &[], Duration::from_secs(120));
    a.quiet();
    let a_before = a.attempts().unwrap();

    signal(a.child.id(), "STOP");
    let frozen = Instant::now();
    wait_until(
        scenario,
        Duration::from_secs(60),
        "replica b to take over",
        || b.metric("playbill_leader") == Some(1.0),
    );
    let takeover = frozen.elapsed();
    let client = cp.client(&rt);
    dangle_owners(&rt, &client, &objs, 20);
    converged(&cp, &dir, &[], Duration::from_secs(120));
    // Well past the lease: the ex-leader has been frozen for at least three lease durations.
    while frozen.elapsed() < Duration::from_secs(12) {
        std::thread::sleep(Duration::from_millis(200));
    }
    let b_writes = b.quiet().0;
    signal(a.child.id(), "CONT");
    wait_until(
        scenario,
        Duration::from_secs(60),
        "the resumed ex-leader to report it is not leading",
        || a.metric("playbill_leader") == Some(0.0),
    );
    // Whatever it was going to do on waking, it has had the time to do it; then both settle.
    std::thread::sleep(Duration::from_secs(5));
    a.quiet();
    b.quiet();
    let stale = a.attempts().unwrap() - a_before;
    let holder = cp.kubectl(
        &[
            "get",
            "lease",
            "chaos",
            "-n",
            "default",
            "-o",
            "jsonpath={.spec.holderIdentity}",
        ],
        None,
    );
    println!(
        "[{scenario}] lease 4 s: standby led {} after the freeze and wrote {b_writes}; the resumed \
         ex-leader attempted {stale} writes (stale writes); lease holder {holder}",
        secs(takeover)
    );
    assert_eq!(
        stale, 0.0,
        "[{scenario}] the resumed ex-leader attempted {stale} status writes after losing its lease"
    );
    assert_eq!(holder, "replica-b", "[{scenario}] lease holder");
    let _ = compare(&cp, &dir, &[]).unwrap_or_else(|e| panic!("[{scenario}] {e}"));
}

/// An edit storm: 1 000 owner changes to distinct entities within about 10 s. Promise: every
/// status right at the end, and writes stay close to one per entity whose status changed.
#[test]
fn edit_storm() {
    let scenario = "edit-storm";
    let _serial = serial(scenario);
    let dir = scratch(scenario);
    let rt = runtime();
    let cp = ControlPlane::start(scenario, &dir, &[]);
    let objs = catalog(1600, "es");
    load(&cp, &rt, &objs);
    let op = Operator::start(scenario, &dir, "op", &cp.kubeconfig, &[]);
    converged(&cp, &dir, &[], Duration::from_secs(150));
    let (w0, _) = op.quiet();
    let before = statuses(&cp);
    let targets: Vec<Value> = objs
        .iter()
        .filter(|o| o["spec"].get("owner").is_some())
        .take(1000)
        .cloned()
        .collect();
    let client = cp.client(&rt);
    let start = Instant::now();
    let failures = rt.block_on(async {
        use futures::StreamExt;
        let start = tokio::time::Instant::now();
        futures::stream::iter(targets.iter().enumerate())
            .map(|(i, o)| {
                let client = client.clone();
                async move {
                    // Paced: one patch every 10 ms, whatever the API server's latency.
                    tokio::time::sleep_until(start + Duration::from_millis(10 * i as u64)).await;
                    let owner = format!("group-{}", i % 5);
                    merge_patch(&client, o, json!({"spec": {"owner": owner}})).await
                }
            })
            .buffer_unordered(64)
            .filter(|r| futures::future::ready(r.is_err()))
            .count()
            .await
    });
    let sent = start.elapsed();
    assert_eq!(failures, 0, "[{scenario}] {failures} patches failed");
    let took = converged(&cp, &dir, &[], Duration::from_secs(150));
    let (w1, _) = op.quiet();
    let after = statuses(&cp);
    let changed = after
        .iter()
        .filter(|(k, v)| before.get(*k) != Some(v))
        .count() as f64;
    let writes = w1 - w0;
    println!(
        "[{scenario}] {} patches in {}; statuses right {} later; {changed} statuses changed, \
         {writes} writes = {:.3} per changed entity",
        targets.len(),
        secs(sent),
        secs(took),
        writes / changed
    );
    assert!(
        writes <= 1.5 * changed + IN_FLIGHT,
        "[{scenario}] {writes} writes for {changed} changed statuses: more than 1.5 per entity"
    );
}

/// A streaming apply: client-side `kubectl apply -f DIR` of a whole catalog, one object after
/// the other, with the operator running (what CI pipelines and Argo CD do). Promise: at most 1.2
/// status writes per entity, and the statuses right at the end.
#[test]
fn streaming_apply() {
    let scenario = "streaming-apply";
    let _serial = serial(scenario);
    let dir = scratch(scenario);
    let rt = runtime();
    let cp = ControlPlane::start(scenario, &dir, &[]);
    let objs = catalog(800, "sa");
    let files = dir.join("catalog");
    std::fs::create_dir_all(&files).unwrap();
    let namespaces: Vec<String> = namespaces_of(&objs)
        .iter()
        .map(|ns| {
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}).to_string()
        })
        .collect();
    std::fs::write(files.join("00-namespaces.yaml"), namespaces.join("\n---\n")).unwrap();
    // 100 objects a file, in the generated order: per namespace the Groups, the Users, then
    // everything that points at them.
    for (i, chunk) in objs.chunks(100).enumerate() {
        let docs: Vec<String> = chunk.iter().map(Value::to_string).collect();
        std::fs::write(
            files.join(format!("{:02}-objects.yaml", i + 1)),
            docs.join("\n---\n"),
        )
        .unwrap();
    }
    let op = Operator::start(scenario, &dir, "op", &cp.kubeconfig, &[]);
    let start = Instant::now();
    cp.kubectl(&["apply", "-f", files.to_str().unwrap()], None);
    let applied = start.elapsed();
    let took = converged(&cp, &dir, &[], Duration::from_secs(150));
    let (writes, _) = op.quiet();
    let n = objs.len() as f64;

    // An isolated change afterwards still shows promptly (printed, not asserted).
    let client = cp.client(&rt);
    let probe = components(&objs)[0].clone();
    let t = Instant::now();
    rt.block_on(merge_patch(
        &client,
        &probe,
        json!({"spec": {"owner": "nobody-probe"}}),
    ))
    .unwrap();
    let key = key_of(&probe);
    wait_until(
        scenario,
        Duration::from_secs(60),
        "the isolated change to show",
        || {
            let run = cp.kubectl_run(
                &[
                    "get",
                    "components.catalog.playbill.dev",
                    name_of(&probe),
                    "-n",
                    probe["metadata"]["namespace"].as_str().unwrap(),
                    "-o",
                    "jsonpath={.status.unresolvedRefs[*].targetRef}",
                ],
                None,
            );
            run.stdout.contains("nobody-probe")
        },
    );
    println!(
        "[{scenario}] kubectl apply of {n} objects took {}; statuses right {} after it ended; \
         {writes} writes = {:.3} per entity; then an isolated change ({key}) showed in {}",
        secs(applied),
        secs(took),
        writes / n,
        secs(t.elapsed())
    );
    assert!(
        writes <= 1.2 * n,
        "[{scenario}] {writes} writes for {n} entities applied one by one: {:.3} per entity, \
         more than 1.2",
        writes / n
    );
    converged(&cp, &dir, &[], Duration::from_secs(60));
}

/// A Group with 1 200 member references of ~500 characters, whose full status would be larger
/// than etcd accepts. Promise: its status is written cut down to the budget (with counts), equal
/// to `playbill resolve`; it is not retried forever; and unrelated changes still show.
#[test]
fn unwritable_status_of_a_huge_group() {
    let scenario = "huge-group";
    let _serial = serial(scenario);
    let dir = scratch(scenario);
    let rt = runtime();
    let cp = ControlPlane::start(scenario, &dir, &[]);
    let objs = catalog(400, "hg");
    load(&cp, &rt, &objs);
    let op = Operator::start(scenario, &dir, "op", &cp.kubeconfig, &[]);
    converged(&cp, &dir, &[], Duration::from_secs(120));
    let (w0, e0) = op.quiet();
    let members: Vec<String> = (0..1200)
        .map(|i| format!("user:member-{i:04}-{}", "x".repeat(480)))
        .collect();
    let big = json!({"apiVersion": format!("{GROUP}/{VERSION}"), "kind": "Group",
        "metadata": {"name": "huge", "namespace": "hg-0"},
        "spec": {"type": "team", "children": [], "members": members}});
    cp.kubectl(
        &["apply", "--server-side", "-f", "-"],
        Some(&big.to_string()),
    );
    let start = Instant::now();
    let took = converged(&cp, &dir, &[], Duration::from_secs(90));
    let (w1, e1) = op.quiet();
    let json = cp.kubectl(
        &[
            "get",
            "groups.catalog.playbill.dev",
            "huge",
            "-n",
            "hg-0",
            "-o",
            "json",
        ],
        None,
    );
    let size = json.len();
    let status = serde_json::from_str::<Value>(&json).unwrap()["status"].clone();
    assert!(
        status["conditions"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["type"] == "Ready")),
        "[{scenario}] the huge Group has no Ready condition: {status}"
    );

    // An unrelated change still shows.
    let client = cp.client(&rt);
    let probe = components(&objs)[0].clone();
    let t = Instant::now();
    rt.block_on(merge_patch(
        &client,
        &probe,
        json!({"spec": {"owner": "nobody-probe"}}),
    ))
    .unwrap();
    converged(&cp, &dir, &[], Duration::from_secs(60));
    let probe_latency = t.elapsed();
    let (w2, e2) = op.quiet();
    println!(
        "[{scenario}] huge Group (object {size} bytes with its status) right {} after it was \
         applied; {} writes and {} failed writes for it; an unrelated change then showed within {}; \
         {} writes, {} errors after that",
        secs(took.min(start.elapsed())),
        w1 - w0,
        e1 - e0,
        secs(probe_latency),
        w2 - w1,
        e2 - e1
    );
    assert!(
        e2 - e0 <= 3.0,
        "[{scenario}] {} failed status writes: the huge Group's status is being retried",
        e2 - e0
    );
    assert!(
        w2 - w0 <= 4.0,
        "[{scenario}] {} status writes for one new Group and one edit",
        w2 - w0
    );
}

/// An object the API server stores with fields of the wrong types (created under a permissive
/// schema, which is then restored). The wrong types are in fields without CEL rules: a field
/// with a rule (`owner` as a map, say) makes the API server refuse every write to the object,
/// status included, whatever the patch type. Promise: it gets Ready=False, reason InvalidSpec, through a
/// write path that works for it; it is not retried forever; every other status is right.
#[test]
fn undecodable_object() {
    let scenario = "undecodable-object";
    let _serial = serial(scenario);
    let dir = scratch(scenario);
    let rt = runtime();
    let cp = ControlPlane::start(scenario, &dir, &[]);
    let objs = catalog(400, "ud");
    load(&cp, &rt, &objs);

    // With the operator stopped, so that it first meets the object under the real schema.
    let crds = std::fs::read_to_string(repo_root().join("crds/catalog.playbill.dev.yaml")).unwrap();
    let mut crd = parse_docs(&crds)
        .into_iter()
        .find(|d| d["metadata"]["name"] == "components.catalog.playbill.dev")
        .unwrap();
    for v in crd["spec"]["versions"].as_array_mut().unwrap() {
        // Selectable fields must name typed fields, which the permissive schema has none of.
        v.as_object_mut().unwrap().remove("selectableFields");
        let schema = &mut v["schema"]["openAPIV3Schema"];
        schema["properties"]["spec"] =
            json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true});
        if let Some(s) = schema.as_object_mut() {
            s.remove("x-kubernetes-validations");
        }
    }
    cp.kubectl(
        &["apply", "--server-side", "--force-conflicts", "-f", "-"],
        Some(&crd.to_string()),
    );
    let broken = json!({"apiVersion": format!("{GROUP}/{VERSION}"), "kind": "Component",
        "metadata": {"name": "broken", "namespace": "ud-0"},
        "spec": {"type": 7, "lifecycle": ["production"], "owner": "nobody"}});
    wait_until(
        scenario,
        Duration::from_secs(60),
        "the permissive schema to accept a Component with wrong types",
        || {
            cp.kubectl_run(&["create", "-f", "-"], Some(&broken.to_string()))
                .ok
        },
    );
    let crd_file = repo_root().join("crds/catalog.playbill.dev.yaml");
    cp.kubectl(
        &[
            "apply",
            "--server-side",
            "--force-conflicts",
            "-f",
            crd_file.to_str().unwrap(),
        ],
        None,
    );
    let mut again = broken.clone();
    again["metadata"]["name"] = json!("broken-again");
    wait_until(
        scenario,
        Duration::from_secs(60),
        "the real schema to refuse wrong types again",
        || {
            !cp.kubectl_run(
                &["create", "--dry-run=server", "-f", "-"],
                Some(&again.to_string()),
            )
            .ok
        },
    );

    let op = Operator::start(scenario, &dir, "op", &cp.kubeconfig, &[]);
    let skip = vec![key_of(&broken)];
    let took = converged(&cp, &dir, &skip, Duration::from_secs(120));
    let reason = || {
        cp.kubectl_run(
            &[
                "get",
                "components.catalog.playbill.dev",
                "broken",
                "-n",
                "ud-0",
                "-o",
                "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}/{.status.conditions[?(@.type==\"Ready\")].reason}",
            ],
            None,
        )
        .stdout
    };
    let start = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let last = reason();
        if last == "False/InvalidSpec" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "[{scenario}] the undecodable Component never got Ready=False/InvalidSpec (has {last:?})\n{}",
            op.log_tail()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let (w1, e1) = op.quiet();

    // An unrelated change still shows, and nothing is retried meanwhile.
    let client = cp.client(&rt);
    let probe = components(&objs)[0].clone();
    let t = Instant::now();
    rt.block_on(merge_patch(
        &client,
        &probe,
        json!({"spec": {"owner": "nobody-probe"}}),
    ))
    .unwrap();
    converged(&cp, &dir, &skip, Duration::from_secs(60));
    let probe_latency = t.elapsed();
    let (w2, e2) = op.quiet();
    let n = objs.len() as f64 + 1.0;
    println!(
        "[{scenario}] cold start over {n} objects, one undecodable: others right in {}, \
         InvalidSpec shown {} later; {w1} writes, {e1} failed writes; an unrelated change then \
         showed within {}; {} errors after that",
        secs(took),
        secs(start.elapsed()),
        secs(probe_latency),
        e2 - e1
    );
    assert!(
        e2 <= 3.0,
        "[{scenario}] {e2} failed status writes: the undecodable object is being retried"
    );
    assert!(
        w2 <= n + 1.0 + IN_FLIGHT,
        "[{scenario}] {w2} status writes for {n} objects and one edit"
    );
}

/// Points the owner of the first `n` Components at Groups that do not exist: a visible change of
/// Ready, not just of observedGeneration.
fn dangle_owners(rt: &tokio::runtime::Runtime, client: &kube::Client, objs: &[Value], n: usize) {
    let targets: Vec<Value> = components(objs).into_iter().take(n).collect();
    rt.block_on(async {
        for (i, o) in targets.iter().enumerate() {
            merge_patch(client, o, json!({"spec": {"owner": format!("nobody-{i}")}}))
                .await
                .unwrap();
        }
    });
}
