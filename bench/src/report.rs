//! The results of a run: `results.json` and the operator's `/metrics` text in the output
//! directory, and the summary printed at the end (BENCHMARKS.md quotes both).

use std::path::{Path, PathBuf};

use playbill_testkit::metric_sum;
use serde_json::json;

use crate::Res;
use crate::scenarios::{Convergence, Floor, Idle, Trials};

pub struct Report {
    pub n: usize,
    pub concurrency: usize,
    /// The operator's `--cross-namespace-refs` mode.
    pub cross_namespace_refs: String,
    pub floor: Floor,
    pub convergence: Convergence,
    pub idle: Idle,
    pub trials: Trials,
    /// The operator's peak RSS (MiB) and CPU seconds over the whole run.
    pub peak_rss_mib: f64,
    pub cpu_total: f64,
    /// Its `/metrics` text at the end.
    pub final_metrics: String,
    /// How many statuses differed from the model at the end, and an example.
    pub drift: (usize, Option<String>),
}

impl Report {
    fn ratio(&self) -> f64 {
        self.convergence.seconds / self.floor.seconds
    }

    fn writes_per_entity(&self) -> f64 {
        self.convergence.writes / self.n as f64
    }

    /// Change latency over all trials: p50 and p99 in ms.
    fn latency(&self) -> (f64, f64) {
        let mut all: Vec<f64> = self.trials.samples.values().flatten().copied().collect();
        all.sort_by(f64::total_cmp);
        (percentile(&all, 50.0), percentile(&all, 99.0))
    }

    /// Writes `results.json` and the metrics files into `dir`; returns the path of the former.
    pub fn write(&self, dir: &Path) -> Res<PathBuf> {
        let (p50, p99) = self.latency();
        let results = json!({
            "n": self.n,
            "cross_namespace_refs": self.cross_namespace_refs,
            "converge_seconds": self.convergence.seconds,
            "floor_seconds": self.floor.seconds,
            "floor_seen_seconds": self.floor.seen,
            "ratio": self.ratio(),
            "writes_per_entity": self.writes_per_entity(),
            "idle_writes": self.idle.writes as u64,
            "change_latency_ms": {"p50": p50, "p99": p99},
            "peak_rss_mib": self.peak_rss_mib,
            "cpu_seconds": self.convergence.cpu_seconds,
            "change_samples": self.trials.log,
        });
        let path = dir.join("results.json");
        std::fs::write(&path, serde_json::to_string_pretty(&results)? + "\n")?;
        std::fs::write(
            dir.join("operator-metrics-at-converge.txt"),
            &self.convergence.metrics,
        )?;
        std::fs::write(dir.join("operator-metrics-final.txt"), &self.final_metrics)?;
        Ok(path)
    }

    pub fn print(&self) {
        let Report { n, concurrency, .. } = *self;
        let floor_seconds = self.floor.seconds;
        let converge_seconds = self.convergence.seconds;
        let ratio = self.ratio();
        let writes_per_entity = self.writes_per_entity();
        let Idle {
            settle_writes,
            writes: idle_writes,
            seconds: idle_seconds,
        } = self.idle;
        let (p50, p99) = self.latency();
        let metrics = &self.convergence.metrics;
        let sum = |name: &str| metric_sum(metrics, name).unwrap_or(0.0);
        let hist = |name: &str| (sum(&format!("{name}_sum")), sum(&format!("{name}_count")));

        println!();
        println!(
            "== Playbill benchmark, N = {n}, concurrency {concurrency}, cross-namespace refs: {} ==",
            self.cross_namespace_refs
        );
        println!("floor (N status patches):       {floor_seconds:.3} s");
        if let Some(seen) = self.floor.seen {
            println!("  all seen by the watches at:   {seen:.3} s");
        }
        println!("operator cold convergence:      {converge_seconds:.3} s  (ratio {ratio:.2}x)");
        println!(
            "status writes per entity:       {writes_per_entity:.3}  (+{settle_writes} within 2 s after)"
        );
        println!("idle writes in {idle_seconds} s:            {idle_writes}");
        println!("change latency (all trials):    p50 {p50:.0} ms, p99 {p99:.0} ms");
        for (name, v) in &self.trials.samples {
            let mut v = v.clone();
            v.sort_by(f64::total_cmp);
            let sizes = &self.trials.affected_sizes[name];
            println!(
                "  {name:<24} p50 {:>5.0} ms  max {:>5.0} ms  ({} samples, {}-{} statuses affected)",
                percentile(&v, 50.0),
                percentile(&v, 100.0),
                v.len(),
                sizes.iter().min().unwrap(),
                sizes.iter().max().unwrap()
            );
        }
        println!(
            "operator peak RSS:              {:.1} MiB",
            self.peak_rss_mib
        );
        println!(
            "operator CPU:                   {:.2} s to converge, {:.2} s in all",
            self.convergence.cpu_seconds, self.cpu_total
        );
        println!(
            "operator writes in all:         {}",
            metric_sum(&self.final_metrics, "playbill_status_writes_total").unwrap_or(0.0)
        );
        let (ws, wc) = hist("playbill_status_write_duration_seconds");
        let (rs, rc) = hist("playbill_resolve_duration_seconds");
        let (qs, qc) = hist("playbill_queue_duration_seconds");
        println!(
            "at convergence: {wc} writes, mean {:.1} ms each ({ws:.2} s summed / {concurrency} in flight = {:.2} s); \
             {rc} resolve batches, {rs:.3} s; {qc} queue batches, {qs:.3} s",
            1e3 * ws / wc.max(1.0),
            ws / concurrency as f64
        );
        println!(
            "floor: mean {:.1} ms per patch x {n} / {concurrency} in flight",
            1e3 * floor_seconds * concurrency as f64 / n as f64,
        );
        let (bad, example) = &self.drift;
        if *bad > 0 {
            println!(
                "WARNING: {bad} statuses differ from the pure computation at the end, e.g. {}",
                example.as_deref().unwrap_or_default()
            );
        }
    }
}

/// The `p`th percentile of `sorted` (nearest rank; 0 for no samples).
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[i.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn percentile_is_the_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert_eq!(percentile(&v, 0.0), 1.0);
        assert_eq!(percentile(&[7.0], 99.0), 7.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
    }
}
