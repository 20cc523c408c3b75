//! Two replicas of the operator: only the leader writes, and when it stops the other takes over.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::*;

struct Replica {
    child: Child,
    port: u16,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(lease: &str, name: &str) -> Replica {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log =
        std::fs::File::create(repo_root().join(format!("target/e2e-leader-{name}-{port}.log")))
            .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_playbill"))
        .args([
            "run",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--lease-namespace",
            "default",
            "--lease-name",
            lease,
        ])
        .args([
            "--identity",
            name,
            "--lease-seconds",
            "6",
            "--exit-on-stdin-close",
        ])
        .env("KUBECONFIG", kubeconfig())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    Replica { child, port }
}

fn metric(port: u16, name: &str) -> Option<f64> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    let values: Vec<f64> = body
        .lines()
        .filter(|l| {
            l.starts_with(name)
                && (l[name.len()..].starts_with(' ') || l[name.len()..].starts_with('{'))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

fn wait_for(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn ready_status(ns: &str, kind: &str, name: &str) -> Option<String> {
    let out = kubectl_run(&["get", kind, name, "-n", ns, "-o", "json"], None);
    let obj: Value = serde_json::from_str(&out.stdout).ok()?;
    let c = obj["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")?
        .clone();
    Some(c["status"].as_str()?.to_owned())
}

fn apply(doc: Value) {
    kubectl(
        &["apply", "--server-side", "-f", "-"],
        Some(&doc.to_string()),
    );
}

#[test]
fn only_the_leader_writes_and_a_standby_takes_over() {
    ensure_crds();
    let ns = unique_prefix("leader");
    let _guard = Namespaces::create(std::slice::from_ref(&ns));
    let lease = format!("{ns}-lease");
    let a = start(&lease, "replica-a");
    wait_for("replica a leads", Duration::from_secs(30), || {
        metric(a.port, "playbill_leader") == Some(1.0)
    });
    let b = start(&lease, "replica-b");
    wait_for("replica b is up", Duration::from_secs(30), || {
        metric(b.port, "playbill_leader").is_some()
    });

    let group = json!({"apiVersion": "catalog.playbill.dev/v1alpha1", "kind": "Group",
        "metadata": {"name": "team", "namespace": ns}, "spec": {"type": "team", "children": []}});
    apply(group.clone());
    apply(
        json!({"apiVersion": "catalog.playbill.dev/v1alpha1", "kind": "Component",
        "metadata": {"name": "svc", "namespace": ns},
        "spec": {"type": "service", "lifecycle": "production", "owner": "team"}}),
    );
    wait_for("svc Ready", Duration::from_secs(30), || {
        ready_status(&ns, "component", "svc").as_deref() == Some("True")
    });
    assert_eq!(metric(b.port, "playbill_leader"), Some(0.0), "two leaders");
    assert_eq!(
        metric(b.port, "playbill_status_writes_total").unwrap_or(0.0),
        0.0,
        "the standby wrote"
    );
    assert!(metric(a.port, "playbill_status_writes_total").unwrap_or(0.0) >= 2.0);
    let holder = kubectl(
        &[
            "get",
            "lease",
            &lease,
            "-n",
            "default",
            "-o",
            "jsonpath={.spec.holderIdentity}",
        ],
        None,
    );
    assert_eq!(holder, "replica-a");

    // The leader stops gracefully and releases the lease; the standby takes over at once.
    let _ = Command::new("kill")
        .args(["-TERM", &a.child.id().to_string()])
        .status();
    wait_for("replica b leads", Duration::from_secs(20), || {
        metric(b.port, "playbill_leader") == Some(1.0)
    });
    kubectl(&["delete", "group", "team", "-n", &ns], None);
    wait_for("svc unready", Duration::from_secs(30), || {
        ready_status(&ns, "component", "svc").as_deref() == Some("False")
    });
    assert!(
        metric(b.port, "playbill_status_writes_total").unwrap_or(0.0) >= 1.0,
        "the new leader did not write"
    );
    let holder = kubectl(
        &[
            "get",
            "lease",
            &lease,
            "-n",
            "default",
            "-o",
            "jsonpath={.spec.holderIdentity}",
        ],
        None,
    );
    assert_eq!(holder, "replica-b");
    drop(a);
    drop(b);
    let _ = kubectl_run(&["delete", "lease", &lease, "-n", "default"], None);
}
