//! The test support for tests that run against a real API server lives in
//! `crates/playbill-testkit`, shared with the benchmark; this adds what only the product's own
//! tests know: where cargo built the `playbill` binary.

#![allow(dead_code)]

use std::path::Path;

pub use playbill_testkit::*;

/// Starts this build's `playbill run` on a free loopback port in the lease namespace `default`,
/// with `args` added; logs go to `target/e2e-<log_name>-<port>.log`.
pub fn operator_process(args: &[&str], log_name: &str) -> OperatorProcess {
    let port = free_port();
    let log = repo_root().join(format!("target/e2e-{log_name}-{port}.log"));
    let args: Vec<&str> = ["--lease-namespace", "default"]
        .into_iter()
        .chain(args.iter().copied())
        .collect();
    OperatorProcess::spawn(
        Path::new(env!("CARGO_BIN_EXE_playbill")),
        &kubeconfig(),
        port,
        &args,
        &log,
    )
    .expect("operator starts")
}
