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

/// References match case-insensitively, so `Acme-Org/Team-A` is moved too (keeping its case).
pub fn relocate(yaml: &str, prefix: &str) -> String {
    let lower = yaml.to_ascii_lowercase();
    let mut out = String::with_capacity(yaml.len() + 64);
    let mut last = 0;
    for (i, _) in lower.match_indices(EXAMPLE_PREFIX) {
        out.push_str(&yaml[last..i]);
        out.push_str(prefix);
        out.push('-');
        last = i;
    }
    out.push_str(&yaml[last..]);
    out
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

/// An operator process started by a test. It runs until dropped, or until the test process
/// exits: it is told to stop when its standard input closes.
pub struct OperatorProcess {
    pub child: std::process::Child,
    pub port: u16,
}

impl OperatorProcess {
    /// Starts `playbill run` on a free loopback port with `args` added; logs go to
    /// `target/e2e-<log_name>-<port>.log`.
    pub fn start(args: &[&str], log_name: &str) -> OperatorProcess {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log =
            std::fs::File::create(repo_root().join(format!("target/e2e-{log_name}-{port}.log")))
                .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_playbill"))
            .args([
                "run",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--lease-namespace",
                "default",
                "--exit-on-stdin-close",
            ])
            .args(args)
            .env("KUBECONFIG", kubeconfig())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("operator starts");
        OperatorProcess { child, port }
    }

    /// Sends SIGTERM, as Kubernetes does, and waits for the process to exit.
    pub fn stop(&mut self, timeout: std::time::Duration) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = std::time::Instant::now() + timeout;
        while self.child.try_wait().unwrap().is_none() {
            assert!(
                std::time::Instant::now() < deadline,
                "operator did not stop on SIGTERM"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// The sum of a metric's samples (all label sets), if the operator exports it.
    pub fn metric(&self, name: &str) -> Option<f64> {
        let (_, body) = http_get(self.port, "/metrics")?;
        let values: Vec<f64> = body
            .lines()
            .filter(|l| {
                l.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
            .collect();
        (!values.is_empty()).then(|| values.iter().sum())
    }
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal HTTP GET on loopback: (status code, body).
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let code = buf.split_whitespace().nth(1)?.parse().ok()?;
    let body = buf
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Some((code, body))
}

/// Polls `ok` every 100 ms until it holds, failing the test after `timeout`.
pub fn wait_for(timeout: std::time::Duration, what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + timeout;
    while !ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
