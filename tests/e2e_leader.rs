//! Two replicas of the operator: only the leader writes, and when it stops the other takes over.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::*;

fn start(lease: &str, name: &str) -> OperatorProcess {
    operator_process(
        &[
            "--lease-name",
            lease,
            "--identity",
            name,
            "--lease-seconds",
            "6",
        ],
        &format!("leader-{name}"),
    )
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
    wait_for(Duration::from_secs(30), "replica a leads", || {
        a.metric("playbill_leader") == Some(1.0)
    });
    let b = start(&lease, "replica-b");
    wait_for(Duration::from_secs(30), "replica b is up", || {
        b.metric("playbill_leader").is_some()
    });

    let group = json!({"apiVersion": "catalog.playbill.dev/v1alpha1", "kind": "Group",
        "metadata": {"name": "team", "namespace": ns}, "spec": {"type": "team", "children": []}});
    apply(group.clone());
    apply(
        json!({"apiVersion": "catalog.playbill.dev/v1alpha1", "kind": "Component",
        "metadata": {"name": "svc", "namespace": ns},
        "spec": {"type": "service", "lifecycle": "production", "owner": "team"}}),
    );
    wait_for(Duration::from_secs(30), "svc Ready", || {
        ready_status(&ns, "component", "svc").as_deref() == Some("True")
    });
    assert_eq!(b.metric("playbill_leader"), Some(0.0), "two leaders");
    assert_eq!(
        b.metric("playbill_status_writes_total").unwrap_or(0.0),
        0.0,
        "the standby wrote"
    );
    // The status can be visible before the leader has read the response and counted the write.
    wait_for(
        Duration::from_secs(30),
        "the leader to count its writes",
        || a.metric("playbill_status_writes_total").unwrap_or(0.0) >= 2.0,
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
    assert_eq!(holder, "replica-a");

    // The leader stops gracefully and releases the lease; the standby takes over at once.
    let mut a = a;
    a.stop(Duration::from_secs(20));
    wait_for(Duration::from_secs(20), "replica b leads", || {
        b.metric("playbill_leader") == Some(1.0)
    });
    kubectl(&["delete", "group", "team", "-n", &ns], None);
    wait_for(Duration::from_secs(30), "svc unready", || {
        ready_status(&ns, "component", "svc").as_deref() == Some("False")
    });
    // Counted when the response arrives, which can be after the status is visible.
    wait_for(
        Duration::from_secs(30),
        "the new leader to count its write",
        || b.metric("playbill_status_writes_total").unwrap_or(0.0) >= 1.0,
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
