//! The Playbill benchmark (BENCHMARKS.md): loads a generated catalog of N entities into the
//! cluster, times the floor (N precomputed status patches from a plain client), starts the
//! operator cold and times its convergence, then measures idle writes, change latency, peak RSS
//! and CPU.
//!
//! The bench observes statuses through one watch per kind (all namespaces, filtered to the bench
//! namespaces on its side). It keeps every object's normalised status and the set of objects that
//! differ from the pure model, updated one watch event at a time, so a status write costs the API
//! server one event to the bench rather than a list of N objects per poll. The same watches run
//! during the floor (whose time is only its N patch calls) and during the operator's
//! convergence (from spawning the process until the set of differing objects is empty), and they
//! time the change trials and make the final check.
//!
//! `make bench N=1000`, or `cargo build --release -p playbill && cargo run --release -p
//! playbill-bench -- --n 1000` (uses `.playbill/kubeconfig` unless KUBECONFIG is set). Writes
//! `target/bench/results.json`.

mod catalog;
mod cluster;
mod expected;
mod observe;
mod operator;
mod report;
mod scenarios;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Parser;
use kube::api::{Api, DeleteParams};

use crate::catalog::generate;
use crate::cluster::Cluster;
use crate::expected::Model;
use crate::operator::Operator;
use crate::report::Report;

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[derive(Parser)]
#[command(about = "Playbill benchmark (BENCHMARKS.md)")]
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
    /// The operator binary; by default the `playbill` next to this bench's own binary
    /// (`target/release/playbill`).
    #[arg(long, alias = "operator")]
    playbill_bin: Option<PathBuf>,
    /// The operator's `--cross-namespace-refs` mode. In `consent` every bench namespace grants
    /// the other three everything, so the statuses are those of `allow` and the difference is
    /// the cost of the checks.
    #[arg(long, default_value = "allow", value_parser = ["allow", "consent"])]
    cross_namespace_refs: String,
    /// Leave the bench namespaces in place at the end.
    #[arg(long)]
    keep: bool,
}

impl Args {
    /// `--timeout-seconds`, or a default long enough for N.
    fn timeout(&self) -> Duration {
        Duration::from_secs(
            self.timeout_seconds
                .unwrap_or_else(|| 300.max(self.n as u64 / 20)),
        )
    }
}

const PREFIX: &str = "bench-";
const FLOOR_PREFIX: &str = "bench-floor-";

#[tokio::main]
async fn main() -> Res<()> {
    let args = Args::parse();
    let bin = operator::binary(args.playbill_bin.clone())?;
    let kubeconfig = playbill_testkit::kubeconfig();
    let cluster = Cluster::connect(&kubeconfig).await?;
    cluster.install_crds().await?;
    let out_dir = playbill_testkit::repo_root().join("target/bench");
    std::fs::create_dir_all(&out_dir)?;
    let n = args.n;
    let timeout = args.timeout();
    // Deleting a large catalog's namespaces can take minutes.
    let cleanup = timeout.max(Duration::from_secs(180));

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
    let foreign = cluster.count_foreign(&[PREFIX, FLOOR_PREFIX]).await?;
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

    // 2. The floor, on an identical copy of the catalog that is deleted before the operator
    // starts.
    let floor = scenarios::floor(
        &cluster,
        FLOOR_PREFIX,
        &floor_objs,
        &floor_model,
        args.concurrency,
        timeout,
    )
    .await?;
    cluster.delete_namespaces(FLOOR_PREFIX, cleanup).await?;
    let t = Instant::now();
    cluster.load(&objs, PREFIX, args.load_concurrency).await?;
    if args.cross_namespace_refs == "consent" {
        cluster.grant_all(PREFIX).await?;
    }
    println!(
        "loaded {n} entities into {PREFIX}0..3 in {:.1}s",
        t.elapsed().as_secs_f64()
    );

    // 3. The operator, cold.
    let log = out_dir.join("operator.log");
    let start = || {
        Operator::start(
            &bin,
            &kubeconfig,
            args.concurrency,
            &args.cross_namespace_refs,
            &log,
        )
    };
    let (op, mut observer, convergence) =
        scenarios::converge(&cluster, PREFIX, &model, start, timeout).await?;

    // 4. Idle writes.
    let idle = scenarios::idle(&op, convergence.writes, args.idle_seconds).await?;

    // 5. Change latency.
    let trials = scenarios::changes(&cluster, &mut model, &mut observer, n, args.trials).await?;

    // A last full check, on the watches' view: nothing drifted during the trials.
    let drift = observer.mismatches();
    drop(observer);

    // 6. The operator's resources.
    let (peak_rss_mib, cpu_total) = op.proc_status();
    let final_metrics = op.metrics()?;
    let lease = op.lease.clone();
    op.stop();
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(cluster.client.clone(), "default");
    let _ = leases.delete(&lease, &DeleteParams::default()).await;

    // 7. Results.
    let report = Report {
        n,
        concurrency: args.concurrency,
        cross_namespace_refs: args.cross_namespace_refs.clone(),
        floor,
        convergence,
        idle,
        trials,
        peak_rss_mib,
        cpu_total,
        final_metrics,
        drift,
    };
    let results = report.write(&out_dir)?;
    report.print();
    println!("results: {}", results.display());

    if !args.keep {
        cluster.delete_namespaces(PREFIX, cleanup).await?;
    }
    Ok(())
}
