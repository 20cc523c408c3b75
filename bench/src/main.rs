//! The SPEC §8 benchmark: loads a generated catalog of N entities into the cluster, times the
//! floor (N precomputed status patches from a plain client), starts the operator cold and times
//! its convergence, then measures idle writes, change latency, peak RSS and CPU.
//!
//! The bench observes statuses through one watch per kind (all namespaces, filtered to the bench
//! namespaces on its side). It keeps every object's normalised status and the set of objects that
//! differ from the pure model, updated one watch event at a time, so a status write costs the API
//! server one event to the bench rather than a list of N objects per poll. The same watches run
//! during the floor (whose time is only its N patch calls) and during the operator's
//! convergence (from spawning the process until the set of differing objects is empty), and they
//! time the change trials and make the final check.
//!
//! `cargo run --release -p playbill-bench -- --n 1000` (uses `.playbill/kubeconfig` unless KUBECONFIG
//! is set). Writes `target/bench/results.json`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::PostParams;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::{WatchStreamExt, watcher};
use serde::Deserialize;
use serde_json::{Value, json};

use playbill::api::{EntityStatus, GROUP, VERSION, api_resource, entity_from_value};
use playbill::controller::FIELD_MANAGER;
use playbill::index::{DEFAULT_MAX_RELATIONS_PER_TYPE, RelationIndex};
use playbill::model::{EntityRef, Kind};
use playbill::status::render;

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// `--timeout-seconds`, or a default long enough for N.
fn timeout_seconds(args: &Args) -> u64 {
    args.timeout_seconds
        .unwrap_or_else(|| 300.max(args.n as u64 / 20))
}

#[derive(Parser)]
#[command(about = "Playbill benchmark (SPEC §8)")]
struct Args {
    /// Number of catalog entities.
    #[arg(long, default_value_t = 1000)]
    n: usize,
    /// Status patches in flight, for the floor and the operator alike.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Creates in flight while loading the catalog.
    #[arg(long, default_value_t = 16)]
    load_concurrency: usize,
    /// Seconds of an unchanged catalog during which writes are counted.
    #[arg(long, default_value_t = 60)]
    idle_seconds: u64,
    /// Trials of each change scenario.
    #[arg(long, default_value_t = 10)]
    trials: usize,
    /// Give up waiting for convergence (and for the namespaces' clean-up) after this many
    /// seconds; the default grows with N: 300, or N / 20 when that is more.
    #[arg(long)]
    timeout_seconds: Option<u64>,
    /// The operator binary.
    #[arg(long, default_value = "target/release/playbill")]
    operator: PathBuf,
    /// Leave the bench namespaces in place at the end.
    #[arg(long)]
    keep: bool,
}

const PREFIX: &str = "bench-";
const FLOOR_PREFIX: &str = "bench-floor-";
const NAMESPACES: usize = 4;

// ---------------------------------------------------------------------------------------------
// Catalog generation

/// A small deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

#[derive(Clone, Debug)]
struct Obj {
    kind: Kind,
    ns: String,
    name: String,
    spec: Value,
    generation: i64,
}

impl Obj {
    fn key(&self) -> String {
        EntityRef::of(self.kind, &self.ns, &self.name).to_string()
    }
    fn manifest(&self) -> Value {
        json!({
            "apiVersion": format!("{GROUP}/{VERSION}"),
            "kind": self.kind.name(),
            "metadata": {"name": self.name, "namespace": self.ns, "generation": self.generation},
            "spec": self.spec,
        })
    }
}

struct Sizes {
    groups: usize,
    users: usize,
    domains: usize,
    systems: usize,
    apis: usize,
    resources: usize,
    components: usize,
}

fn sizes(c: usize) -> Sizes {
    let groups = (c * 6 / 100).max(3);
    let users = c * 20 / 100;
    let domains = (c * 2 / 100).max(1);
    let systems = (c * 7 / 100).max(2);
    let apis = c * 15 / 100;
    let resources = c * 10 / 100;
    let components = c - groups - users - domains - systems - apis - resources;
    Sizes {
        groups,
        users,
        domains,
        systems,
        apis,
        resources,
        components,
    }
}

/// The catalog: N entities over four namespaces `<prefix>0..3`, the same for every prefix.
fn generate(n: usize, prefix: &str) -> Vec<Obj> {
    let mut rng = Rng(0x5eed);
    let mut out = Vec::with_capacity(n);
    let counts: Vec<usize> = (0..NAMESPACES)
        .map(|j| n / NAMESPACES + usize::from(j < n % NAMESPACES))
        .collect();
    let all: Vec<Sizes> = counts.iter().map(|&c| sizes(c)).collect();
    for (j, s) in all.iter().enumerate() {
        let ns = format!("{prefix}{j}");
        let next = (j + 1) % NAMESPACES;
        let other = &all[next];
        let other_ns = format!("{prefix}{next}");
        let mut push = |kind: Kind, name: String, spec: Value| {
            out.push(Obj {
                kind,
                ns: ns.clone(),
                name,
                spec,
                generation: 1,
            })
        };
        // A group owner, sometimes in the next namespace, sometimes a user.
        let owner = |rng: &mut Rng| -> String {
            if rng.chance(10) {
                format!("{other_ns}/group-{}", rng.below(other.groups))
            } else if rng.chance(10) && s.users > 0 {
                format!("user:user-{}", rng.below(s.users))
            } else {
                format!("group-{}", rng.below(s.groups))
            }
        };
        // Groups: a tree, each with up to four children; both sides state the link.
        for i in 0..s.groups {
            let children: Vec<String> = (4 * i + 1..=4 * i + 4)
                .filter(|c| *c < s.groups)
                .map(|c| format!("group-{c}"))
                .collect();
            let mut spec = json!({
                "type": if i == 0 { "root" } else if i <= 4 { "business-unit" } else { "team" },
                "children": children,
                "profile": {"displayName": format!("Group {i}")},
            });
            if i > 0 {
                spec["parent"] = json!(format!("group-{}", (i - 1) / 4));
            }
            if rng.chance(3) {
                spec["children"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!(format!("ghost-group-{i}")));
            }
            push(Kind::Group, format!("group-{i}"), spec);
        }
        // Users: memberOf a team; a third also of group-1, the large group.
        for i in 0..s.users {
            let mut member_of = vec![json!(format!("group-{}", rng.below(s.groups)))];
            if i % 3 == 0 {
                member_of.push(json!("group-1"));
            }
            if rng.chance(3) {
                member_of.push(json!(format!("ghost-group-u{i}")));
            }
            push(
                Kind::User,
                format!("user-{i}"),
                json!({"memberOf": member_of, "profile": {"email": format!("user-{i}@example.com")}}),
            );
        }
        for i in 0..s.domains {
            let mut spec = json!({"owner": owner(&mut rng)});
            if i > 0 && rng.chance(30) {
                spec["subdomainOf"] = json!("domain-0");
            }
            if rng.chance(3) {
                spec["owner"] = json!(format!("ghost-team-d{i}"));
            }
            push(Kind::Domain, format!("domain-{i}"), spec);
        }
        for i in 0..s.systems {
            let mut spec = json!({
                "owner": owner(&mut rng),
                "domain": format!("domain-{}", rng.below(s.domains)),
            });
            if rng.chance(3) {
                spec["owner"] = json!(format!("ghost-team-s{i}"));
            }
            push(Kind::System, format!("system-{i}"), spec);
        }
        for i in 0..s.apis {
            let mut spec = json!({
                "type": "openapi",
                "lifecycle": "production",
                "owner": owner(&mut rng),
                "system": format!("system-{}", rng.below(s.systems)),
                "definition": "openapi: 3.0.0",
            });
            if rng.chance(3) {
                spec["system"] = json!(format!("ghost-system-a{i}"));
            }
            push(Kind::Api, format!("api-{i}"), spec);
        }
        for i in 0..s.resources {
            let mut spec = json!({
                "type": "database",
                "owner": owner(&mut rng),
                "system": format!("system-{}", rng.below(s.systems)),
            });
            let mut deps = Vec::new();
            if i > 0 && rng.chance(20) {
                deps.push(format!("resource:resource-{}", rng.below(i)));
            }
            if rng.chance(3) {
                deps.push(format!("resource:ghost-resource-{i}"));
            }
            if !deps.is_empty() {
                spec["dependsOn"] = json!(deps);
            }
            push(Kind::Resource, format!("resource-{i}"), spec);
        }
        for i in 0..s.components {
            let mut spec = json!({
                "type": "service",
                "lifecycle": "production",
                "owner": owner(&mut rng),
                "system": format!("system-{}", rng.below(s.systems)),
            });
            if i < s.apis {
                spec["providesApis"] = json!([format!("api-{i}")]);
            }
            let consumes: Vec<String> = (0..rng.below(4))
                .map(|_| {
                    if rng.chance(10) && other.apis > 0 {
                        format!("{other_ns}/api-{}", rng.below(other.apis))
                    } else {
                        format!("api-{}", rng.below(s.apis))
                    }
                })
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            if !consumes.is_empty() && s.apis > 0 {
                spec["consumesApis"] = json!(consumes);
            }
            let mut deps: Vec<String> = (0..rng.below(3))
                .filter_map(|_| {
                    if rng.chance(70) {
                        (i > 0).then(|| format!("component:component-{}", rng.below(i)))
                    } else {
                        (s.resources > 0)
                            .then(|| format!("resource:resource-{}", rng.below(s.resources)))
                    }
                })
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            if rng.chance(3) {
                deps.push(format!("component:ghost-component-{i}"));
            }
            if !deps.is_empty() {
                spec["dependsOn"] = json!(deps);
            }
            if i > 0 && rng.chance(10) {
                spec["subcomponentOf"] = json!(format!("component-{}", rng.below(i)));
            }
            push(Kind::Component, format!("component-{i}"), spec);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The pure model of what every status should be

/// A status with the one field no pure computation can know (lastTransitionTime) blanked.
fn normalise(mut s: EntityStatus) -> EntityStatus {
    for c in &mut s.conditions {
        c.last_transition_time = Time(Default::default());
    }
    s
}

struct Model {
    index: RelationIndex,
    objs: BTreeMap<String, Obj>,
    expected: HashMap<String, EntityStatus>,
}

impl Model {
    fn new(objs: &[Obj]) -> Model {
        let mut m = Model {
            index: RelationIndex::new(DEFAULT_MAX_RELATIONS_PER_TYPE),
            objs: BTreeMap::new(),
            expected: HashMap::new(),
        };
        for o in objs {
            m.upsert_quiet(o.clone());
        }
        m.recompute(None);
        m
    }

    fn upsert_quiet(&mut self, o: Obj) {
        let entity = entity_from_value(o.manifest())
            .expect("a catalog kind")
            .expect("a valid entity");
        self.index.upsert(&entity, Some(o.generation));
        self.objs.insert(o.key(), o);
    }

    /// Recomputes the expected status of every entity the index marked, plus `removed`; returns
    /// the keys whose expectation changed.
    fn recompute(&mut self, removed: Option<String>) -> Vec<String> {
        let zero = Time(Default::default());
        let mut changed = Vec::new();
        for r in self.index.take_dirty() {
            let Some(d) = self.index.desired(&r) else {
                continue;
            };
            let status = normalise(render(&d, None, &zero));
            let key = r.to_string();
            if self.expected.get(&key) != Some(&status) {
                self.expected.insert(key.clone(), status);
                changed.push(key);
            }
        }
        if let Some(key) = removed
            && self.expected.remove(&key).is_some()
        {
            changed.push(key);
        }
        changed
    }

    fn upsert(&mut self, o: Obj) -> Vec<String> {
        self.upsert_quiet(o);
        self.recompute(None)
    }

    fn remove(&mut self, key: &str) -> Vec<String> {
        let o = self.objs.remove(key).expect("known object");
        self.index.remove(&EntityRef::of(o.kind, &o.ns, &o.name));
        self.recompute(Some(key.to_owned()))
    }
}

// ---------------------------------------------------------------------------------------------
// Cluster helpers

struct Cluster {
    client: kube::Client,
    resources: HashMap<Kind, ApiResource>,
}

impl Cluster {
    fn api(&self, kind: Kind, ns: &str) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), ns, &self.resources[&kind])
    }

    /// Installs (or updates) the catalog CRDs and waits until every one is Established, so the
    /// bench runs on a cluster that has never seen Playbill.
    async fn install_crds(&self) -> Res<()> {
        let crds: Api<CustomResourceDefinition> = Api::all(self.client.clone());
        let params = PatchParams::apply("playbill-bench").force();
        for crd in playbill::api::crds() {
            let name = crd.metadata.name.clone().unwrap_or_default();
            crds.patch(&name, &params, &Patch::Apply(&crd)).await?;
        }
        let t = Instant::now();
        for crd in playbill::api::crds() {
            let name = crd.metadata.name.unwrap_or_default();
            loop {
                let established = crds.get(&name).await?.status.is_some_and(|s| {
                    s.conditions
                        .unwrap_or_default()
                        .iter()
                        .any(|c| c.type_ == "Established" && c.status == "True")
                });
                if established {
                    break;
                }
                if t.elapsed() > Duration::from_secs(60) {
                    return Err(format!("CRD {name} not Established after 60 s").into());
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(())
    }

    async fn delete_namespaces(&self, prefix: &str, wait: Duration) -> Res<()> {
        let nss: Api<Namespace> = Api::all(self.client.clone());
        let names: Vec<String> = nss
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .filter_map(|n| n.metadata.name)
            .filter(|n| is_ns(n, prefix))
            .collect();
        for n in &names {
            // Deleting the objects first keeps the namespace controller's work short.
            for kind in Kind::ALL {
                let _ = self
                    .api(kind, n)
                    .delete_collection(&DeleteParams::default(), &ListParams::default())
                    .await;
            }
            let _ = nss.delete(n, &DeleteParams::default()).await;
        }
        let deadline = Instant::now() + wait;
        loop {
            let left = nss
                .list(&ListParams::default())
                .await?
                .items
                .into_iter()
                .filter_map(|n| n.metadata.name)
                .filter(|n| is_ns(n, prefix))
                .count();
            if left == 0 {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("{left} namespaces {prefix}* still terminating").into());
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    async fn load(&self, objs: &[Obj], prefix: &str, concurrency: usize) -> Res<()> {
        let nss: Api<Namespace> = Api::all(self.client.clone());
        for j in 0..NAMESPACES {
            let ns: Namespace =
                serde_json::from_value(json!({"metadata": {"name": format!("{prefix}{j}")}}))?;
            nss.create(&PostParams::default(), &ns).await?;
        }
        futures::stream::iter(objs)
            .map(|o| async move {
                let mut m = o.manifest();
                m["metadata"].as_object_mut().unwrap().remove("generation");
                let obj: DynamicObject = serde_json::from_value(m)?;
                self.api(o.kind, &o.ns)
                    .create(&PostParams::default(), &obj)
                    .await?;
                Res::Ok(())
            })
            .buffer_unordered(concurrency)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }
}

/// `bench-0` but not `bench-floor-0` for the prefix `bench-`.
fn is_ns(ns: &str, prefix: &str) -> bool {
    ns.strip_prefix(prefix)
        .is_some_and(|rest| rest.chars().all(|c| c.is_ascii_digit()) && !rest.is_empty())
}

fn status_of(o: &DynamicObject) -> Option<EntityStatus> {
    EntityStatus::deserialize(o.data.get("status")?)
        .ok()
        .map(normalise)
}

// ---------------------------------------------------------------------------------------------
// Watching statuses

/// The bench's view of its objects' statuses, built from one watch per kind, and which of them
/// differ from the model. Each status write costs one watch event and one comparison.
#[derive(Default)]
struct View {
    /// The normalised status of every object in the watched namespaces (`None`: no status yet).
    observed: HashMap<String, (Kind, Option<EntityStatus>)>,
    /// What the model says each status should be; an object missing here should not exist.
    expected: HashMap<String, EntityStatus>,
    /// The keys whose observed status differs from the expected one (or exists when it should not).
    bad: HashSet<String>,
    /// Per kind, the keys listed since the watch (re)started, while its initial list runs.
    relisting: HashMap<Kind, HashSet<String>>,
    synced: HashSet<Kind>,
    events: u64,
}

impl View {
    fn recheck(&mut self, key: &str) {
        let ok = match (self.expected.get(key), self.observed.get(key)) {
            (Some(want), Some((_, Some(have)))) => want == have,
            (None, None) => true,
            _ => false,
        };
        if ok {
            self.bad.remove(key);
        } else {
            self.bad.insert(key.to_owned());
        }
    }

    fn handle(&mut self, kind: Kind, prefix: &str, event: watcher::Event<DynamicObject>) {
        self.events += 1;
        let key_of = |o: &DynamicObject| {
            let ns = o.metadata.namespace.as_deref().unwrap_or("");
            is_ns(ns, prefix)
                .then(|| EntityRef::of(kind, ns, o.metadata.name.as_deref().unwrap_or("")))
                .map(|r| r.to_string())
        };
        match event {
            watcher::Event::Init => {
                self.relisting.insert(kind, HashSet::new());
            }
            watcher::Event::InitApply(o) | watcher::Event::Apply(o) => {
                if let Some(key) = key_of(&o) {
                    self.observed.insert(key.clone(), (kind, status_of(&o)));
                    self.recheck(&key);
                    if let Some(listed) = self.relisting.get_mut(&kind) {
                        listed.insert(key);
                    }
                }
            }
            watcher::Event::Delete(o) => {
                if let Some(key) = key_of(&o) {
                    self.observed.remove(&key);
                    self.recheck(&key);
                }
            }
            watcher::Event::InitDone => {
                // Objects of this kind that the new list did not contain are gone.
                let listed = self.relisting.remove(&kind).unwrap_or_default();
                let gone: Vec<String> = self
                    .observed
                    .iter()
                    .filter(|(k, (kd, _))| *kd == kind && !listed.contains(*k))
                    .map(|(k, _)| k.clone())
                    .collect();
                for key in gone {
                    self.observed.remove(&key);
                    self.recheck(&key);
                }
                self.synced.insert(kind);
            }
        }
    }
}

/// One watch per kind over all namespaces, keeping a `View` of the namespaces `<prefix>0..3`.
struct Observer {
    view: Arc<Mutex<View>>,
    changed: tokio::sync::watch::Receiver<u64>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Observer {
    /// Starts the watches and returns once each kind's initial list is in the view.
    async fn start(
        cluster: &Cluster,
        prefix: &'static str,
        expected: &HashMap<String, EntityStatus>,
    ) -> Res<Observer> {
        let view = Arc::new(Mutex::new(View {
            expected: expected.clone(),
            bad: expected.keys().cloned().collect(),
            ..View::default()
        }));
        let (tx, changed) = tokio::sync::watch::channel(0u64);
        let tx = Arc::new(tx);
        let tasks = Kind::ALL
            .into_iter()
            .map(|kind| {
                let api: Api<DynamicObject> =
                    Api::all_with(cluster.client.clone(), &cluster.resources[&kind]);
                let (view, tx) = (view.clone(), tx.clone());
                tokio::spawn(async move {
                    let mut events =
                        std::pin::pin!(watcher(api, watcher::Config::default()).default_backoff());
                    while let Some(event) = events.next().await {
                        match event {
                            Ok(event) => {
                                view.lock().unwrap().handle(kind, prefix, event);
                                tx.send_modify(|n| *n += 1);
                            }
                            Err(e) => eprintln!("watch of {}: {e}", kind.name()),
                        }
                    }
                })
            })
            .collect();
        let mut observer = Observer {
            view,
            changed,
            tasks,
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        if !observer
            .wait(deadline, |v| v.synced.len() == Kind::ALL.len())
            .await
        {
            return Err("the watches did not list every kind within 120 s".into());
        }
        Ok(observer)
    }

    /// Waits until `done` holds for the view, or `deadline` passes; returns whether it holds.
    async fn wait(&mut self, deadline: Instant, done: impl Fn(&View) -> bool) -> bool {
        loop {
            self.changed.borrow_and_update();
            if done(&self.view.lock().unwrap()) {
                return true;
            }
            match tokio::time::timeout_at(deadline.into(), self.changed.changed()).await {
                Ok(Ok(())) => {}
                _ => return false,
            }
        }
    }

    /// Takes the model's current expectation for `keys` (absent: the object should not exist).
    fn expect(&self, model: &Model, keys: &[String]) {
        let mut v = self.view.lock().unwrap();
        for key in keys {
            match model.expected.get(key) {
                Some(want) => v.expected.insert(key.clone(), want.clone()),
                None => v.expected.remove(key),
            };
            v.recheck(key);
        }
    }

    /// How many statuses differ from the model, and an example with what it should be and is.
    fn mismatches(&self) -> (usize, Option<String>) {
        let v = self.view.lock().unwrap();
        let example = v.bad.iter().next().map(|k| {
            format!(
                "{k}:\n want {:?}\n have {:?}",
                v.expected.get(k),
                v.observed.get(k).map(|(_, s)| s)
            )
        });
        (v.bad.len(), example)
    }

    fn events(&self) -> u64 {
        self.view.lock().unwrap().events
    }
}

impl Drop for Observer {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The operator process

struct Operator {
    child: Child,
    port: u16,
    lease: String,
}

impl Operator {
    fn start(args: &Args, kubeconfig: &str, log: &std::path::Path) -> Res<Operator> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let lease = format!("bench-{}-{port}", std::process::id());
        let child = Command::new(&args.operator)
            .args([
                "run",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--lease-namespace",
                "default",
                "--lease-name",
                &lease,
                "--concurrency",
                &args.concurrency.to_string(),
                "--exit-on-stdin-close",
            ])
            .env("KUBECONFIG", kubeconfig)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log)?)
            .spawn()?;
        Ok(Operator { child, port, lease })
    }

    async fn metrics(&self) -> Res<String> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await?;
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await?;
        let mut body = String::new();
        s.read_to_string(&mut body).await?;
        Ok(body)
    }

    /// The sum of a metric's samples over all label sets.
    async fn metric(&self, name: &str) -> Res<f64> {
        Ok(metric_sum(&self.metrics().await?, name))
    }

    fn proc_status(&self) -> (f64, f64) {
        let pid = self.child.id();
        let hwm_kib = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmHWM:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
            })
            .unwrap_or(0.0);
        let cpu = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| {
                // Fields after the parenthesised command; utime and stime are fields 14 and 15.
                let rest = &s[s.rfind(')')? + 2..];
                let f: Vec<&str> = rest.split_whitespace().collect();
                let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
                Some(ticks / 100.0)
            })
            .unwrap_or(0.0);
        (hwm_kib / 1024.0, cpu)
    }

    fn stop(mut self) {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|r| r.starts_with('{') || r.starts_with(' '))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

// ---------------------------------------------------------------------------------------------
// Change trials

/// Waits until the watches have shown every affected object as the model expects (deleted ones
/// gone); returns the time since `t0`.
async fn wait_affected(
    observer: &mut Observer,
    affected: &[String],
    t0: Instant,
    timeout: Duration,
) -> Res<Duration> {
    if observer
        .wait(t0 + timeout, |v| {
            affected.iter().all(|k| !v.bad.contains(k))
        })
        .await
    {
        Ok(t0.elapsed())
    } else {
        let v = observer.view.lock().unwrap();
        let pending: Vec<&String> = affected.iter().filter(|k| v.bad.contains(*k)).collect();
        Err(format!("change not reflected: {pending:?}").into())
    }
}

/// The change trials' samples, by scenario, and one record per trial.
#[derive(Default)]
struct Trials {
    samples: BTreeMap<&'static str, Vec<f64>>,
    affected_sizes: BTreeMap<&'static str, Vec<usize>>,
    log: Vec<Value>,
}

impl Trials {
    fn record(&mut self, scenario: &'static str, object: &str, affected: usize, d: Duration) {
        let ms = d.as_secs_f64() * 1e3;
        println!("  {scenario:<24} {object:<36} {affected:>4} statuses  {ms:>6.0} ms");
        self.samples.entry(scenario).or_default().push(ms);
        self.affected_sizes
            .entry(scenario)
            .or_default()
            .push(affected);
        self.log
            .push(json!({"scenario": scenario, "object": object, "affected": affected, "ms": ms}));
    }
}

async fn merge_spec(cluster: &Cluster, o: &Obj, spec: Value) -> Res<i64> {
    let obj = cluster
        .api(o.kind, &o.ns)
        .patch(
            &o.name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": spec})),
        )
        .await?;
    Ok(obj.metadata.generation.unwrap_or(0))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[i.clamp(1, sorted.len()) - 1]
}

// ---------------------------------------------------------------------------------------------

#[tokio::main]
async fn main() -> Res<()> {
    let args = Args::parse();
    let root = std::env::current_dir()?;
    let kubeconfig = std::env::var("KUBECONFIG").unwrap_or_else(|_| {
        root.join(".playbill/kubeconfig")
            .to_string_lossy()
            .into_owned()
    });
    let config = kube::Config::from_custom_kubeconfig(
        Kubeconfig::read_from(&kubeconfig)?,
        &KubeConfigOptions::default(),
    )
    .await?;
    let client = kube::Client::try_from(config)?;
    let resources: HashMap<Kind, ApiResource> = Kind::ALL.map(|k| (k, api_resource(k))).into();
    let cluster = Cluster { client, resources };
    cluster.install_crds().await?;
    let out_dir = root.join("target/bench");
    std::fs::create_dir_all(&out_dir)?;
    let n = args.n;
    // Deleting a large catalog's namespaces can take minutes.
    let cleanup = Duration::from_secs(timeout_seconds(&args).max(180));

    // 1. The catalog.
    let objs = generate(n, PREFIX);
    let floor_objs = generate(n, FLOOR_PREFIX);
    assert_eq!(objs.len(), n);
    let mut model = Model::new(&objs);
    let floor_model = Model::new(&floor_objs);
    let unresolved = model
        .expected
        .values()
        .filter(|s| !s.unresolved_refs.is_empty())
        .count();
    println!(
        "catalog: {n} entities, {unresolved} with unresolved references ({:.1}%)",
        100.0 * unresolved as f64 / n as f64
    );
    let foreign = {
        let mut c = 0;
        for kind in Kind::ALL {
            let api: Api<DynamicObject> =
                Api::all_with(cluster.client.clone(), &cluster.resources[&kind]);
            c += api
                .list(&ListParams::default())
                .await?
                .items
                .iter()
                .filter(|o| {
                    let ns = o.metadata.namespace.as_deref().unwrap_or("");
                    !is_ns(ns, PREFIX) && !is_ns(ns, FLOOR_PREFIX)
                })
                .count();
        }
        c
    };
    if foreign > 0 {
        println!(
            "warning: {foreign} catalog objects outside the bench namespaces; the operator sees them too"
        );
    }
    cluster.delete_namespaces(PREFIX, cleanup).await?;
    cluster.delete_namespaces(FLOOR_PREFIX, cleanup).await?;
    cluster
        .load(&floor_objs, FLOOR_PREFIX, args.load_concurrency)
        .await?;

    // 2. The floor: N precomputed status patches, same concurrency and field manager, on an
    // identical copy of the catalog that is deleted before the operator starts.
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    let patches: Vec<(Kind, String, String, Value)> = floor_objs
        .iter()
        .map(|o| {
            let d = floor_model
                .index
                .desired(&EntityRef::of(o.kind, &o.ns, &o.name))
                .expect("desired");
            let patch = json!({
                "apiVersion": format!("{GROUP}/{VERSION}"),
                "kind": o.kind.name(),
                "status": render(&d, None, &now),
            });
            (o.kind, o.ns.clone(), o.name.clone(), patch)
        })
        .collect();
    // The same watches that observe the operator run during the floor too, so both phases put
    // the same observation load on the API server: one watch event per status written.
    let mut floor_observer = Observer::start(&cluster, FLOOR_PREFIX, &floor_model.expected).await?;
    let floor_events_before = floor_observer.events();
    let t = Instant::now();
    futures::stream::iter(&patches)
        .map(|(kind, ns, name, patch)| {
            let api = cluster.api(*kind, ns);
            async move {
                api.patch_status(
                    name,
                    &PatchParams::apply(FIELD_MANAGER).force(),
                    &Patch::Apply(patch),
                )
                .await?;
                Res::Ok(())
            }
        })
        .buffer_unordered(args.concurrency)
        .try_collect::<Vec<()>>()
        .await?;
    let floor_seconds = t.elapsed().as_secs_f64();
    // Not part of the floor's time: when the watches had shown every patched status, a check
    // that the observer sees what was written and a measure of its lag.
    let timeout = Duration::from_secs(timeout_seconds(&args));
    let floor_seen = floor_observer
        .wait(t + timeout, |v| v.bad.is_empty())
        .await
        .then(|| t.elapsed().as_secs_f64());
    let floor_events = floor_observer.events() - floor_events_before;
    match floor_seen {
        Some(seen) => println!(
            "floor: {n} status patches in {floor_seconds:.3}s; the watches showed all of them at \
             {seen:.3}s ({floor_events} watch events)"
        ),
        None => {
            let (bad, example) = floor_observer.mismatches();
            println!(
                "floor: {n} status patches in {floor_seconds:.3}s; WARNING: {bad} floor statuses \
                 not seen as written, e.g. {}",
                example.unwrap_or_default()
            );
        }
    }
    drop(floor_observer);
    cluster.delete_namespaces(FLOOR_PREFIX, cleanup).await?;
    let t = Instant::now();
    cluster.load(&objs, PREFIX, args.load_concurrency).await?;
    println!(
        "loaded {n} entities into {PREFIX}0..3 in {:.1}s",
        t.elapsed().as_secs_f64()
    );

    // 3. The operator, cold. The watches list the unwritten catalog before the clock starts.
    let mut observer = Observer::start(&cluster, PREFIX, &model.expected).await?;
    let events_before = observer.events();
    let log = out_dir.join("operator.log");
    let t0 = Instant::now();
    let op = Operator::start(&args, &kubeconfig, &log)?;
    if !observer.wait(t0 + timeout, |v| v.bad.is_empty()).await {
        let (bad, example) = observer.mismatches();
        eprintln!(
            "not converged: {bad} statuses differ; e.g. {}",
            example.unwrap_or_default()
        );
        op.stop();
        return Err("operator did not converge".into());
    }
    let converge_seconds = t0.elapsed().as_secs_f64();
    let converge_events = observer.events() - events_before;
    let (_, cpu_converge) = op.proc_status();
    let metrics_at_converge = op.metrics().await?;
    let writes_at_converge = metric_sum(&metrics_at_converge, "playbill_status_writes_total");
    let writes_per_entity = writes_at_converge / n as f64;
    println!(
        "operator converged in {converge_seconds:.3}s ({converge_events} watch events), \
         {writes_at_converge} writes"
    );

    // 4. Idle writes.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before_idle = op.metric("playbill_status_writes_total").await?;
    let settle_writes = before_idle - writes_at_converge;
    println!("idle: waiting {}s", args.idle_seconds);
    tokio::time::sleep(Duration::from_secs(args.idle_seconds)).await;
    let idle_writes = op.metric("playbill_status_writes_total").await? - before_idle;

    // 5. Change latency.
    println!("change trials:");
    let mut trials = Trials::default();
    let change_timeout = Duration::from_secs(30);
    let comps: Vec<String> = model
        .objs
        .iter()
        .filter(|(_, o)| o.kind == Kind::Component && o.spec.get("system").is_some())
        .map(|(k, _)| k.clone())
        .collect();
    let deletable_groups: Vec<String> = model
        .objs
        .iter()
        // Any group but a root: small catalogs have business units and no teams.
        .filter(|(_, o)| o.kind == Kind::Group && o.spec["type"] != "root")
        .map(|(k, _)| k.clone())
        .collect();
    let users: Vec<String> = model
        .objs
        .iter()
        .filter(|(_, o)| {
            o.kind == Kind::User
                && !o.spec["memberOf"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|g| g == "group-1")
        })
        .map(|(k, _)| k.clone())
        .collect();
    for trial in 0..args.trials {
        // (a) A Component moved to another System.
        let key = &comps[(trial * 7919) % comps.len()];
        let mut o = model.objs[key].clone();
        let old = o.spec["system"].as_str().unwrap().to_owned();
        let systems = sizes(n / NAMESPACES).systems;
        let mut new = old.clone();
        for step in 1..systems {
            new = format!("system-{}", (trial * 13 + step) % systems);
            if new != old {
                break;
            }
        }
        o.spec["system"] = json!(new);
        o.generation += 1;
        let affected = model.upsert(o.clone());
        observer.expect(&model, &affected);
        let t = Instant::now();
        let generation = merge_spec(&cluster, &o, json!({"system": new})).await?;
        assert_eq!(generation, o.generation, "generation of {key}");
        let d = wait_affected(&mut observer, &affected, t, change_timeout).await?;
        trials.record("component moved", key, affected.len(), d);

        // (b) A Group deleted, then re-created.
        let key = deletable_groups[(trial * 31) % deletable_groups.len()].clone();
        let o = model.objs[&key].clone();
        let affected = model.remove(&key);
        observer.expect(&model, &affected);
        let t = Instant::now();
        cluster
            .api(o.kind, &o.ns)
            .delete(&o.name, &DeleteParams::default())
            .await?;
        let d = wait_affected(&mut observer, &affected, t, change_timeout).await?;
        trials.record("group deleted", &key, affected.len(), d);
        let mut o = o;
        o.generation = 1;
        let affected = model.upsert(o.clone());
        observer.expect(&model, &affected);
        let mut m = o.manifest();
        m["metadata"].as_object_mut().unwrap().remove("generation");
        let obj: DynamicObject = serde_json::from_value(m)?;
        let t = Instant::now();
        cluster
            .api(o.kind, &o.ns)
            .create(&PostParams::default(), &obj)
            .await?;
        let d = wait_affected(&mut observer, &affected, t, change_timeout).await?;
        trials.record("group re-created", &key, affected.len(), d);

        // (c) A User added to the large Group.
        let key = &users[(trial * 101) % users.len()];
        let mut o = model.objs[key].clone();
        o.spec["memberOf"]
            .as_array_mut()
            .unwrap()
            .push(json!("group-1"));
        o.generation += 1;
        let affected = model.upsert(o.clone());
        observer.expect(&model, &affected);
        let t = Instant::now();
        let generation = merge_spec(
            &cluster,
            &o,
            json!({"memberOf": o.spec["memberOf"].clone()}),
        )
        .await?;
        assert_eq!(generation, o.generation, "generation of {key}");
        let d = wait_affected(&mut observer, &affected, t, change_timeout).await?;
        trials.record("user joins large group", key, affected.len(), d);
    }
    let Trials {
        samples,
        affected_sizes,
        log: trial_log,
    } = trials;
    let mut all: Vec<f64> = samples.values().flatten().copied().collect();
    all.sort_by(f64::total_cmp);
    let (p50, p99) = (percentile(&all, 50.0), percentile(&all, 99.0));

    // A last full check, on the watches' view: nothing drifted during the trials.
    let (bad, example) = observer.mismatches();
    drop(observer);

    // 6. The operator's resources.
    let (peak_rss_mib, cpu_total) = op.proc_status();
    let final_metrics = op.metrics().await?;
    let total_writes = metric_sum(&final_metrics, "playbill_status_writes_total");
    let lease = op.lease.clone();
    op.stop();
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(cluster.client.clone(), "default");
    let _ = leases.delete(&lease, &DeleteParams::default()).await;

    // 7. Results.
    let ratio = converge_seconds / floor_seconds;
    let results = json!({
        "n": n,
        "converge_seconds": converge_seconds,
        "floor_seconds": floor_seconds,
        "floor_seen_seconds": floor_seen,
        "ratio": ratio,
        "writes_per_entity": writes_per_entity,
        "idle_writes": idle_writes as u64,
        "change_latency_ms": {"p50": p50, "p99": p99},
        "peak_rss_mib": peak_rss_mib,
        "cpu_seconds": cpu_converge,
        "change_samples": trial_log,
    });
    std::fs::write(
        out_dir.join("results.json"),
        serde_json::to_string_pretty(&results)? + "\n",
    )?;
    std::fs::write(
        out_dir.join("operator-metrics-at-converge.txt"),
        &metrics_at_converge,
    )?;
    std::fs::write(out_dir.join("operator-metrics-final.txt"), &final_metrics)?;

    let hist = |text: &str, name: &str| {
        let sum = metric_sum(text, &format!("{name}_sum"));
        let count = metric_sum(text, &format!("{name}_count"));
        (sum, count)
    };
    println!();
    println!(
        "== Playbill benchmark, N = {n}, concurrency {} ==",
        args.concurrency
    );
    println!("floor (N status patches):       {floor_seconds:.3} s");
    if let Some(seen) = floor_seen {
        println!("  all seen by the watches at:   {seen:.3} s");
    }
    println!("operator cold convergence:      {converge_seconds:.3} s  (ratio {ratio:.2}x)");
    println!(
        "status writes per entity:       {writes_per_entity:.3}  (+{settle_writes} within 2 s after)"
    );
    println!(
        "idle writes in {} s:            {idle_writes}",
        args.idle_seconds
    );
    println!("change latency (all trials):    p50 {p50:.0} ms, p99 {p99:.0} ms");
    for (name, v) in &samples {
        let mut v = v.clone();
        v.sort_by(f64::total_cmp);
        let sizes = &affected_sizes[name];
        println!(
            "  {name:<24} p50 {:>5.0} ms  max {:>5.0} ms  ({} samples, {}-{} statuses affected)",
            percentile(&v, 50.0),
            percentile(&v, 100.0),
            v.len(),
            sizes.iter().min().unwrap(),
            sizes.iter().max().unwrap()
        );
    }
    println!("operator peak RSS:              {peak_rss_mib:.1} MiB");
    println!(
        "operator CPU:                   {cpu_converge:.2} s to converge, {cpu_total:.2} s in all"
    );
    println!("operator writes in all:         {total_writes}");
    let (ws, wc) = hist(
        &metrics_at_converge,
        "playbill_status_write_duration_seconds",
    );
    let (rs, rc) = hist(&metrics_at_converge, "playbill_resolve_duration_seconds");
    let (qs, qc) = hist(&metrics_at_converge, "playbill_queue_duration_seconds");
    println!(
        "at convergence: {wc} writes, mean {:.1} ms each ({ws:.2} s summed / {} in flight = {:.2} s); \
         {rc} resolve batches, {rs:.3} s; {qc} queue batches, {qs:.3} s",
        1e3 * ws / wc.max(1.0),
        args.concurrency,
        ws / args.concurrency as f64
    );
    println!(
        "floor: mean {:.1} ms per patch x {n} / {} in flight",
        1e3 * floor_seconds * args.concurrency as f64 / n as f64,
        args.concurrency
    );
    if bad > 0 {
        println!(
            "WARNING: {bad} statuses differ from the pure computation at the end, e.g. {}",
            example.unwrap_or_default()
        );
    }
    println!("results: {}", out_dir.join("results.json").display());

    if !args.keep {
        cluster.delete_namespaces(PREFIX, cleanup).await?;
    }
    Ok(())
}
