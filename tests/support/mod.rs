//! Shared helpers for tests that run against a real API server (`make cluster-up`, or any cluster
//! named by `KUBECONFIG`). They drive `kubectl` as users do, so printer columns, field selectors and
//! admission messages are tested as people see them.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Once;
use std::sync::atomic::{AtomicU32, Ordering};

pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The kubeconfig to use: `KUBECONFIG`, else the one `make cluster-up` writes.
pub fn kubeconfig() -> PathBuf {
    if let Some(k) = std::env::var_os("KUBECONFIG") {
        return PathBuf::from(k);
    }
    let local = repo_root().join(".playbill/kubeconfig");
    assert!(
        local.exists(),
        "no cluster: run these tests through `make test` (which starts the local control plane) or set KUBECONFIG"
    );
    local
}

/// kubectl built with the control plane (same version as the server), else the one on PATH.
pub fn kubectl_path() -> PathBuf {
    if let Some(k) = std::env::var_os("KUBECTL") {
        return PathBuf::from(k);
    }
    let local = repo_root().join(".playbill/bin/kubectl");
    if local.exists() {
        local
    } else {
        PathBuf::from("kubectl")
    }
}

/// The result of one kubectl call.
pub struct Run {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(out: Output) -> Run {
        Run {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// Runs kubectl with `args`, feeding `stdin` if given.
pub fn kubectl_run(args: &[&str], stdin: Option<&str>) -> Run {
    let mut cmd = Command::new(kubectl_path());
    cmd.arg("--kubeconfig").arg(kubeconfig()).args(args);
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("kubectl runs");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    Run::from(child.wait_with_output().unwrap())
}

/// Runs kubectl and panics with its output if it fails.
pub fn kubectl(args: &[&str], stdin: Option<&str>) -> String {
    let run = kubectl_run(args, stdin);
    assert!(
        run.ok,
        "kubectl {args:?} failed:\n{}\n{}",
        run.stdout, run.stderr
    );
    run.stdout
}

/// Installs the committed CRDs once per test binary and waits until they are Established.
pub fn ensure_crds() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let crds = repo_root().join("crds/catalog.playbill.dev.yaml");
        kubectl(
            &[
                "apply",
                "--server-side",
                "--force-conflicts",
                "-f",
                crds.to_str().unwrap(),
            ],
            None,
        );
        kubectl(
            &[
                "wait",
                "--for=condition=Established",
                "--timeout=60s",
                "-f",
                crds.to_str().unwrap(),
            ],
            None,
        );
    });
}

/// A unique prefix for the namespaces one test creates, so tests run side by side and next to
/// the demo without touching each other.
pub fn unique_prefix(test: &str) -> String {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "t{:x}{}-{test}",
        nanos % 0xfffff,
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

/// Namespaces a test created; deleted when the test ends, pass or fail.
pub struct Namespaces(pub Vec<String>);

impl Namespaces {
    pub fn create(names: &[String]) -> Namespaces {
        for n in names {
            kubectl(&["create", "namespace", n], None);
        }
        Namespaces(names.to_vec())
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for n in &self.0 {
            let _ = kubectl_run(
                &[
                    "delete",
                    "namespace",
                    n,
                    "--wait=false",
                    "--ignore-not-found",
                ],
                None,
            );
        }
    }
}

/// The example catalog's namespaces all start with `acme-`; rewriting that prefix moves the whole
/// catalog, references included, into a test's own namespaces.
pub const EXAMPLE_PREFIX: &str = "acme-";

pub fn relocate(yaml: &str, prefix: &str) -> String {
    yaml.replace(EXAMPLE_PREFIX, &format!("{prefix}-{EXAMPLE_PREFIX}"))
}

/// The YAML of every file in `dir` (sorted by name), concatenated as one stream.
pub fn read_dir_yaml(dir: &Path) -> String {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| format!("---\n{}\n", std::fs::read_to_string(f).unwrap()))
        .collect()
}

/// Parses a multi-document YAML stream into JSON values, skipping empty documents.
pub fn parse_docs(yaml: &str) -> Vec<serde_json::Value> {
    use serde::Deserialize;
    serde_norway::Deserializer::from_str(yaml)
        .map(|d| serde_json::Value::deserialize(d).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}
