//! What Playbill's end-to-end tests (`tests/`) and its benchmark (`bench/`) both need to drive a
//! real API server (`make cluster-up`, or any cluster named by `KUBECONFIG`) and an operator
//! process: kubectl as users run it, the operator started and stopped as Kubernetes would, its
//! `/metrics` read, and a seeded random generator. One copy, so the tests and the bench measure
//! the same operator the same way.
//!
//! `env!("CARGO_BIN_EXE_playbill")` exists only in the product's own tests, so everything that
//! starts the operator takes the binary's path.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Once;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The repository's top directory (this crate lives in `crates/playbill-testkit`).
pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/playbill-testkit is two levels below the repository")
}

/// The kubeconfig to use: `KUBECONFIG`, else the one `make cluster-up` writes.
pub fn kubeconfig() -> PathBuf {
    if let Some(k) = std::env::var_os("KUBECONFIG") {
        return PathBuf::from(k);
    }
    let local = repo_root().join(".playbill/kubeconfig");
    assert!(
        local.exists(),
        "no cluster: start the local control plane (`make cluster-up`; `make test` and `make bench` do) or set KUBECONFIG"
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

impl From<Output> for Run {
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
    kubectl_run_on(&kubeconfig(), args, stdin)
}

/// Runs kubectl against the cluster of `kubeconfig` (a test's private control plane, say).
pub fn kubectl_run_on(kubeconfig: &Path, args: &[&str], stdin: Option<&str>) -> Run {
    let mut cmd = Command::new(kubectl_path());
    cmd.arg("--kubeconfig").arg(kubeconfig).args(args);
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

/// A free loopback port, for an operator's `--listen` (free when asked, so the operator binds it
/// soon after).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// An operator process. It runs until dropped, or until the process that started it exits: it
/// is told to stop when its standard input closes.
pub struct OperatorProcess {
    pub child: std::process::Child,
    pub port: u16,
}

impl OperatorProcess {
    /// Starts `<bin> run --listen 127.0.0.1:<port> --exit-on-stdin-close` with `args` added,
    /// `KUBECONFIG` set to `kubeconfig` and its log (standard error) written to `log`. The pod
    /// variables are removed, so only `args` choose the lease, never the caller's environment.
    pub fn spawn(
        bin: &Path,
        kubeconfig: &Path,
        port: u16,
        args: &[&str],
        log: &Path,
    ) -> std::io::Result<OperatorProcess> {
        let log = std::fs::File::create(log)?;
        let child = Command::new(bin)
            .args([
                "run",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--exit-on-stdin-close",
            ])
            .args(args)
            .env("KUBECONFIG", kubeconfig)
            .env_remove("POD_NAMESPACE")
            .env_remove("POD_NAME")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        Ok(OperatorProcess { child, port })
    }

    /// Sends SIGTERM, as Kubernetes does, and waits for the process to exit.
    pub fn stop(&mut self, timeout: Duration) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + timeout;
        while self.child.try_wait().unwrap().is_none() {
            assert!(
                Instant::now() < deadline,
                "operator did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Closes its standard input (the operator then releases its Lease and exits), waits up to
    /// `grace` for it to exit, then kills it.
    pub fn close(&mut self, grace: Duration) {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + grace;
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The `/metrics` text, if the operator serves it.
    pub fn metrics(&self) -> Option<String> {
        let (code, body) = http_get(self.port, "/metrics")?;
        (code == 200).then_some(body)
    }

    /// The sum of a metric's samples (all label sets), if the operator exports it.
    pub fn metric(&self, name: &str) -> Option<f64> {
        metric_sum(&self.metrics()?, name)
    }
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The sum of a metric's samples over all label sets in a Prometheus text exposition; `None`
/// when it has no sample.
pub fn metric_sum(text: &str, name: &str) -> Option<f64> {
    let values: Vec<f64> = text
        .lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

/// A minimal HTTP GET on loopback: (status code, body).
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    http_get_as(port, path, None)
}

/// A minimal HTTP GET on loopback with `Authorization: Bearer <token>` when `token` is given:
/// (status code, body).
pub fn http_get_as(port: u16, path: &str, token: Option<&str>) -> Option<(u16, String)> {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Connection: close\r\n\r\n"
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
pub fn wait_for(timeout: Duration, what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A small deterministic generator (SplitMix64): the same seed gives the same sequence on every
/// machine, with no extra crate.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// One of `xs`, which must not be empty.
    pub fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len())]
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }
}

/// An object's `status.relations` as `"<type> <targetRef>"` lines, in status order.
pub fn status_relations(obj: &serde_json::Value) -> Vec<String> {
    obj["status"]["relations"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            format!(
                "{} {}",
                r["type"].as_str().unwrap_or_default(),
                r["targetRef"].as_str().unwrap_or_default()
            )
        })
        .collect()
}

/// How a live object's status differs from the status `want` computed offline (`playbill
/// resolve`), ignoring what only the live object can know: transition times and the generation.
/// Empty when they agree and the status describes the object's current generation.
pub fn status_mismatches(
    r: &str,
    want: &serde_json::Value,
    obj: &serde_json::Value,
) -> Vec<String> {
    let mut want = want.clone();
    let mut got = obj["status"].clone();
    for v in [&mut want, &mut got] {
        if let Some(m) = v.as_object_mut() {
            m.remove("observedGeneration");
        }
        for c in v["conditions"].as_array_mut().into_iter().flatten() {
            if let Some(c) = c.as_object_mut() {
                c.remove("lastTransitionTime");
                c.remove("observedGeneration");
            }
        }
    }
    let mut out = Vec::new();
    if want != got {
        out.push(format!("{r}:\n want {want}\n  got {got}"));
    }
    if obj["status"]["observedGeneration"] != obj["metadata"]["generation"] {
        out.push(format!("{r}: observedGeneration behind"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_sum_adds_every_label_set_and_only_that_metric() {
        let text = "# HELP playbill_writes Writes.\n\
                    # TYPE playbill_writes counter\n\
                    playbill_writes{kind=\"Group\"} 2\n\
                    playbill_writes{kind=\"User\"} 3.5\n\
                    playbill_writes_created 17\n\
                    playbill_leader 1\n";
        assert_eq!(metric_sum(text, "playbill_writes"), Some(5.5));
        assert_eq!(metric_sum(text, "playbill_leader"), Some(1.0));
        assert_eq!(metric_sum(text, "playbill_missing"), None);
    }

    #[test]
    fn rng_replays_by_seed_and_stays_in_range() {
        let draw = |seed| {
            let mut rng = Rng(seed);
            (0..100).map(|_| rng.below(7)).collect::<Vec<_>>()
        };
        assert_eq!(draw(1), draw(1));
        assert_ne!(draw(1), draw(2));
        assert!(draw(3).iter().all(|&x| x < 7));
        assert!(
            (0..7).all(|x| draw(4).contains(&x)),
            "every value comes up in 100 draws"
        );
        assert_eq!(Rng(5).below(0), 0);
    }
}
