//! The measured phases, in the order a run takes them: the floor (what a plain client needs to
//! write every status), the operator's cold convergence, its writes while nothing changes, and
//! the latency of single changes.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use playbill::model::Kind;
use playbill_testkit::metric_sum;
use serde_json::{Value, json};

use crate::Res;
use crate::catalog::{NAMESPACES, Obj, sizes};
use crate::cluster::Cluster;
use crate::expected::Model;
use crate::observe::Observer;
use crate::operator::Operator;

/// The floor: N precomputed status patches from a plain client.
pub struct Floor {
    /// From the first patch call to the end of the last.
    pub seconds: f64,
    /// When the watches had shown every patched status (`None`: not within the timeout).
    pub seen: Option<f64>,
}

/// The N status patches the operator would write, sent with the same concurrency and field
/// manager to `objs` (an identical copy of the catalog, already loaded). The same watches that
/// observe the operator run during the floor too, so both phases put the same observation load
/// on the API server: one watch event per status written.
pub async fn floor(
    cluster: &Cluster,
    prefix: &'static str,
    objs: &[Obj],
    model: &Model,
    concurrency: usize,
    timeout: Duration,
) -> Res<Floor> {
    let n = objs.len();
    let patches = model.status_patches(objs, &Time(k8s_openapi::jiff::Timestamp::now()));
    let mut observer = Observer::start(cluster, prefix, &model.expected).await?;
    let events_before = observer.events();
    let t = Instant::now();
    cluster.apply_statuses(&patches, concurrency).await?;
    let seconds = t.elapsed().as_secs_f64();
    // Not part of the floor's time: when the watches had shown every patched status, a check
    // that the observer sees what was written and a measure of its lag.
    let seen = observer
        .wait(t + timeout, |v| v.bad.is_empty())
        .await
        .then(|| t.elapsed().as_secs_f64());
    let events = observer.events() - events_before;
    match seen {
        Some(seen) => println!(
            "floor: {n} status patches in {seconds:.3}s; the watches showed all of them at \
             {seen:.3}s ({events} watch events)"
        ),
        None => {
            let (bad, example) = observer.mismatches();
            println!(
                "floor: {n} status patches in {seconds:.3}s; WARNING: {bad} floor statuses \
                 not seen as written, e.g. {}",
                example.unwrap_or_default()
            );
        }
    }
    Ok(Floor { seconds, seen })
}

/// The operator's cold start, until every status is what the model says.
pub struct Convergence {
    pub seconds: f64,
    /// CPU the operator used to get there.
    pub cpu_seconds: f64,
    /// Its `/metrics` text at that moment.
    pub metrics: String,
    pub writes: f64,
}

/// Starts the operator on the loaded, unwritten catalog and waits for convergence. The watches
/// list the catalog before the clock starts; it runs from spawning the process until no status
/// differs. Returns the running operator and the watches, for the phases after it.
pub async fn converge(
    cluster: &Cluster,
    prefix: &'static str,
    model: &Model,
    start: impl FnOnce() -> Res<Operator>,
    timeout: Duration,
) -> Res<(Operator, Observer, Convergence)> {
    let mut observer = Observer::start(cluster, prefix, &model.expected).await?;
    let events_before = observer.events();
    let t0 = Instant::now();
    let op = start()?;
    if !observer.wait(t0 + timeout, |v| v.bad.is_empty()).await {
        let (bad, example) = observer.mismatches();
        eprintln!(
            "not converged: {bad} statuses differ; e.g. {}",
            example.unwrap_or_default()
        );
        op.stop();
        return Err("operator did not converge".into());
    }
    let seconds = t0.elapsed().as_secs_f64();
    let events = observer.events() - events_before;
    let (_, cpu_seconds) = op.proc_status();
    let metrics = op.metrics()?;
    let writes = metric_sum(&metrics, "playbill_status_writes_total").unwrap_or(0.0);
    println!("operator converged in {seconds:.3}s ({events} watch events), {writes} writes");
    let convergence = Convergence {
        seconds,
        cpu_seconds,
        metrics,
        writes,
    };
    Ok((op, observer, convergence))
}

/// Writes after convergence, while the catalog does not change.
pub struct Idle {
    /// In the 2 s right after convergence (writes still in flight when the last status showed).
    pub settle_writes: f64,
    /// In the `seconds` after those.
    pub writes: f64,
    pub seconds: u64,
}

pub async fn idle(op: &Operator, writes_at_converge: f64, seconds: u64) -> Res<Idle> {
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = op.metric("playbill_status_writes_total")?;
    println!("idle: waiting {seconds}s");
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let writes = op.metric("playbill_status_writes_total")? - before;
    Ok(Idle {
        settle_writes: before - writes_at_converge,
        writes,
        seconds,
    })
}

/// The change trials' samples, by scenario, and one record per trial.
#[derive(Default)]
pub struct Trials {
    pub samples: BTreeMap<&'static str, Vec<f64>>,
    pub affected_sizes: BTreeMap<&'static str, Vec<usize>>,
    pub log: Vec<Value>,
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

/// Change latency: `trials` rounds of a Component moved to another System, a Group deleted and
/// re-created, and a User added to the large Group. Each sample runs from the API call until the
/// watches have shown every affected status as the model expects.
pub async fn changes(
    cluster: &Cluster,
    model: &mut Model,
    observer: &mut Observer,
    n: usize,
    trials: usize,
) -> Res<Trials> {
    println!("change trials:");
    let mut out = Trials::default();
    let timeout = Duration::from_secs(30);
    let keys = |model: &Model, keep: fn(&Obj) -> bool| -> Vec<String> {
        model
            .objs
            .iter()
            .filter(|(_, o)| keep(o))
            .map(|(k, _)| k.clone())
            .collect()
    };
    let comps = keys(model, |o| {
        o.kind == Kind::Component && o.spec.get("system").is_some()
    });
    // Any group but a root: small catalogs have business units and no teams.
    let deletable_groups = keys(model, |o| o.kind == Kind::Group && o.spec["type"] != "root");
    let users = keys(model, |o| {
        o.kind == Kind::User
            && !o.spec["memberOf"]
                .as_array()
                .unwrap()
                .iter()
                .any(|g| g == "group-1")
    });
    for trial in 0..trials {
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
        observer.expect(model, &affected);
        let t = Instant::now();
        let generation = cluster.merge_spec(&o, json!({"system": new})).await?;
        assert_eq!(generation, o.generation, "generation of {key}");
        let d = observer.wait_affected(&affected, t, timeout).await?;
        out.record("component moved", key, affected.len(), d);

        // (b) A Group deleted, then re-created.
        let key = deletable_groups[(trial * 31) % deletable_groups.len()].clone();
        let o = model.objs[&key].clone();
        let affected = model.remove(&key);
        observer.expect(model, &affected);
        let t = Instant::now();
        cluster.delete(&o).await?;
        let d = observer.wait_affected(&affected, t, timeout).await?;
        out.record("group deleted", &key, affected.len(), d);
        let mut o = o;
        o.generation = 1;
        let affected = model.upsert(o.clone());
        observer.expect(model, &affected);
        let t = Instant::now();
        cluster.create(&o).await?;
        let d = observer.wait_affected(&affected, t, timeout).await?;
        out.record("group re-created", &key, affected.len(), d);

        // (c) A User added to the large Group.
        let key = &users[(trial * 101) % users.len()];
        let mut o = model.objs[key].clone();
        o.spec["memberOf"]
            .as_array_mut()
            .unwrap()
            .push(json!("group-1"));
        o.generation += 1;
        let affected = model.upsert(o.clone());
        observer.expect(model, &affected);
        let t = Instant::now();
        let generation = cluster
            .merge_spec(&o, json!({"memberOf": o.spec["memberOf"].clone()}))
            .await?;
        assert_eq!(generation, o.generation, "generation of {key}");
        let d = observer.wait_affected(&affected, t, timeout).await?;
        out.record("user joins large group", key, affected.len(), d);
    }
    Ok(out)
}
