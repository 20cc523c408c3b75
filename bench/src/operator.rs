//! The operator under test: the release `playbill` binary, started cold as its own process with
//! a Lease of its own, its `/metrics` read and its memory and CPU taken from `/proc`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use playbill_testkit::{OperatorProcess, free_port, metric_sum};

use crate::Res;

pub struct Operator {
    process: OperatorProcess,
    pub lease: String,
}

impl Operator {
    /// Starts `bin run` with `concurrency` status patches in flight and the given
    /// `--cross-namespace-refs` mode, logging to `log`.
    pub fn start(
        bin: &Path,
        kubeconfig: &Path,
        concurrency: usize,
        cross_namespace_refs: &str,
        log: &Path,
    ) -> Res<Operator> {
        let port = free_port();
        let lease = format!("bench-{}-{port}", std::process::id());
        let process = OperatorProcess::spawn(
            bin,
            kubeconfig,
            port,
            &[
                "--lease-namespace",
                "default",
                "--lease-name",
                &lease,
                "--concurrency",
                &concurrency.to_string(),
                "--cross-namespace-refs",
                cross_namespace_refs,
            ],
            log,
        )?;
        Ok(Operator { process, lease })
    }

    /// The `/metrics` text.
    pub fn metrics(&self) -> Res<String> {
        // A blocking loopback request, answered in microseconds; the watches run on the other
        // worker threads meanwhile.
        tokio::task::block_in_place(|| self.process.metrics())
            .ok_or_else(|| "the operator does not serve /metrics".into())
    }

    /// The sum of a metric's samples over all label sets (0 when it has none).
    pub fn metric(&self, name: &str) -> Res<f64> {
        Ok(metric_sum(&self.metrics()?, name).unwrap_or(0.0))
    }

    /// Peak resident memory (MiB) and CPU time used (seconds) so far.
    pub fn proc_status(&self) -> (f64, f64) {
        let pid = self.process.child.id();
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

    /// Closes its standard input, so it releases its Lease and exits; kills it after 10 s.
    pub fn stop(mut self) {
        self.process.close(Duration::from_secs(10));
    }
}

/// The operator binary: `--playbill-bin`, else the `playbill` that cargo built next to this
/// bench (`target/release/playbill` for a release build).
pub fn binary(given: Option<PathBuf>) -> Res<PathBuf> {
    let bin = match given {
        Some(bin) => bin,
        None => std::env::current_exe()?.with_file_name("playbill"),
    };
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(format!(
            "no operator binary at {}: build it (`cargo build --release -p playbill`) or pass --playbill-bin",
            bin.display()
        )
        .into())
    }
}
