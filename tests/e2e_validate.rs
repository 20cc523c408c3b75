//! `playbill validate` against the real API server, and unknown keys from `kubectl apply` to
//! Argo CD's health message.
//!
//! - Every manifest in examples/invalid is refused by the API server (`kubectl apply
//!   --dry-run=server`) and by `playbill validate`, which names at least every field the server
//!   names; every valid example passes both.
//! - With the chart's unknown-keys policy installed (from deploy/, rendered from the chart),
//!   `kubectl apply` of a Component with `sytem:` prints the warning and creates the object; the
//!   policy's CEL suggests exactly what the Rust core suggests; the operator lists the key in
//!   status.unknownFields; Argo CD's health check (argocd/health.lua in tests/argocd's Lua VM)
//!   stays Healthy and says it.

mod support;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::*;

struct Run {
    code: i32,
    stdout: String,
}

fn playbill_validate(args: &[&str], stdin: &str) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_playbill"))
        .arg("validate")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap(),
        stdout: String::from_utf8(out.stdout).unwrap(),
    }
}

/// The fields of the errors `playbill validate -o json` reports.
fn validate_error_fields(yaml: &str) -> (i32, Vec<String>) {
    let run = playbill_validate(&["-o", "json", "-"], yaml);
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    let fields = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "error")
        .map(|f| f["field"].as_str().unwrap().to_owned())
        .collect();
    (run.code, fields)
}

/// The field paths an API server error message names (`spec.tags[1]`, `metadata.name`).
fn server_fields(message: &str) -> Vec<String> {
    let re = regex::Regex::new(r"\b(?:spec|metadata)(?:\.[A-Za-z0-9_-]+|\[\d+\])+").unwrap();
    let mut out: Vec<String> = re
        .find_iter(message)
        .map(|m| m.as_str().to_owned())
        .collect();
    out.sort();
    out.dedup();
    out
}

#[test]
fn validate_names_every_field_the_api_server_refuses() {
    ensure_crds();
    let prefix = unique_prefix("validate");
    let ns = format!("{prefix}-acme-shop");
    let _guard = Namespaces::create(std::slice::from_ref(&ns));
    let dir = repo_root().join("examples/invalid");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 16, "{} invalid examples", files.len());
    for file in &files {
        let text = relocate(&std::fs::read_to_string(file).unwrap(), &prefix);
        let expect = text
            .lines()
            .find_map(|l| l.strip_prefix("# expect: "))
            .unwrap()
            .to_owned();
        let server = kubectl_run(&["apply", "--dry-run=server", "-f", "-"], Some(&text));
        assert!(!server.ok, "{}: the API server accepted it", file.display());
        let named = server_fields(&server.stderr);
        assert!(
            named.contains(&expect),
            "{}: the server names {named:?}",
            file.display()
        );
        let (code, fields) = validate_error_fields(&text);
        assert_eq!(code, 1, "{}", file.display());
        for f in &named {
            assert!(
                fields.contains(f),
                "{}: the API server names {f}, playbill validate only {fields:?}\n{}",
                file.display(),
                server.stderr
            );
        }
    }

    // All of them at once: the API server stops at the first schema error of an object (CEL
    // rules are not run on an object that fails its schema); validate does not.
    let all: String = files
        .iter()
        .map(|f| relocate(&std::fs::read_to_string(f).unwrap(), &prefix))
        .collect::<Vec<_>>()
        .join("\n---\n");
    let (code, fields) = validate_error_fields(&all);
    assert_eq!(code, 1);
    assert!(fields.len() >= files.len(), "{fields:?}");
    let several = relocate(
        "apiVersion: catalog.playbill.dev/v1alpha1\nkind: Component\nmetadata: {name: several, namespace: acme-shop}\n\
         spec: {type: service, lifecycle: production, tags: [Bad_Tag], dependsOn: [db]}\n",
        &prefix,
    );
    let server = kubectl_run(&["apply", "--dry-run=server", "-f", "-"], Some(&several));
    assert!(!server.ok);
    let (_, fields) = validate_error_fields(&several);
    assert_eq!(fields, ["spec.dependsOn[0]", "spec.owner", "spec.tags[0]"]);
    let named = server_fields(&server.stderr);
    for f in &named {
        assert!(fields.contains(f), "{f}");
    }
    assert!(
        named.len() < fields.len(),
        "the API server now names every field ({named:?}): the point of this check is gone\n{}",
        server.stderr
    );
}

#[test]
fn valid_examples_pass_both() {
    ensure_crds();
    let prefix = unique_prefix("validate-ok");
    let catalog = read_dir_yaml(&repo_root().join("examples/catalog"));
    let dangling = std::fs::read_to_string(repo_root().join("examples/dangling.yaml")).unwrap();
    let all = relocate(&format!("{catalog}\n---\n{dangling}"), &prefix);
    let docs = parse_docs(&all);
    let namespaces: Vec<String> = docs
        .iter()
        .filter(|d| d["kind"] == "Namespace")
        .map(|d| d["metadata"]["name"].as_str().unwrap().to_owned())
        .collect();
    let _guard = Namespaces::create(&namespaces);
    let server = kubectl_run(&["apply", "--dry-run=server", "-f", "-"], Some(&all));
    assert!(server.ok, "{}", server.stderr);
    let run = playbill_validate(&["-"], &all);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        !run.stdout.lines().any(|l| !l.contains(": warning: ")),
        "{}",
        run.stdout
    );
}

/// Installs the unknown-keys policy and its binding from deploy/ (rendered from the chart).
fn install_policy() {
    let deploy = std::fs::read_to_string(repo_root().join("deploy/playbill.yaml")).unwrap();
    let policy: Vec<Value> = parse_docs(&deploy)
        .into_iter()
        .filter(|d| {
            matches!(
                d["kind"].as_str(),
                Some("ValidatingAdmissionPolicy" | "ValidatingAdmissionPolicyBinding")
            )
        })
        .collect();
    assert_eq!(policy.len(), 2, "deploy/ has no unknown-keys policy");
    let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": policy});
    kubectl(
        &["apply", "--server-side", "--force-conflicts", "-f", "-"],
        Some(&list.to_string()),
    );
}

/// The warnings a dry-run apply of `yaml` prints, with the policy's prefix cut off.
fn admission_warnings(yaml: &str) -> Vec<String> {
    let run = kubectl_run(&["apply", "--dry-run=server", "-f", "-"], Some(yaml));
    assert!(run.ok, "{}", run.stderr);
    warnings(&run.stderr)
}

fn warnings(stderr: &str) -> Vec<String> {
    let mut out: Vec<String> = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("Warning: "))
        // Only deploy/'s policy: another test may leave a release of the chart with its own.
        .filter(|l| l.contains("ValidatingAdmissionPolicy 'playbill-unknown-keys'"))
        .map(|l| l.rsplit_once("': ").map_or(l, |(_, m)| m).to_owned())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// A Component manifest with `metadata` and `spec` lines added.
fn component(ns: &str, name: &str, metadata: &str, spec: &str) -> String {
    format!(
        "apiVersion: catalog.playbill.dev/v1alpha1\nkind: Component\nmetadata:\n  name: {name}\n  namespace: {ns}\n\
         {metadata}spec:\n  type: service\n  lifecycle: production\n  owner: team-a\n{spec}"
    )
}

#[test]
fn unknown_keys_are_warned_at_apply_listed_in_status_and_in_argocd_health() {
    ensure_crds();
    install_policy();
    let ns = unique_prefix("unknown-keys");
    let _guard = Namespaces::create(std::slice::from_ref(&ns));
    let typo = "  sytem: storefront\n";
    // The policy takes effect once the API server has loaded it.
    wait_for(Duration::from_secs(30), "the unknown-keys policy", || {
        !admission_warnings(&component(&ns, "probe", "", typo)).is_empty()
    });

    // The policy's CEL suggests exactly what the Rust core suggests, key by key.
    let keys = [
        "sytem",
        "Owner",
        "dependson",
        "owenr",
        "providesApi",
        "tag",
        "lifecyle",
        "tilte",
        "descripton",
        "costCenter",
        "onCall",
        "lifecyc",
        "subcomponentof",
        "linkss",
        "ypte",
        "SYSTEM",
        "dependencyOff",
    ];
    for chunk in keys.chunks(5) {
        let extra: String = chunk.iter().map(|k| format!("  {k}: x\n")).collect();
        let mut want: Vec<String> = playbill::api::unknown_fields(
            playbill::model::Kind::Component,
            chunk.iter().copied(),
            None,
        )
        .into_iter()
        .map(|u| u.message)
        .collect();
        want.sort();
        assert_eq!(
            admission_warnings(&component(&ns, "probe", "", &extra)),
            want
        );
    }

    // The policy's CEL cost stays within the API server's budget for a spec with hundreds of
    // unknown keys (over the budget the policy would be skipped without a word): five are named,
    // the likely typo first, and one more warning counts the rest.
    let many: String = (0..500)
        .map(|i| format!("  custom-key-number-{i:04}: x\n"))
        .chain(std::iter::once(typo.to_owned()))
        .collect();
    let got = admission_warnings(&component(&ns, "probe", "", &many));
    assert_eq!(got.len(), 6, "{got:?}");
    assert!(got.contains(&"496 more keys in spec are not fields of Component".to_owned()));
    assert!(
        got.contains(
            &"spec.sytem is not a field of Component; did you mean spec.system?".to_owned()
        )
    );

    // Applied for real: the warning is printed, the object is created with the key kept, and
    // keys that are custom on purpose are not warned about.
    let manifest = format!(
        "{}---\napiVersion: catalog.playbill.dev/v1alpha1\nkind: Group\nmetadata:\n  name: team-a\n  namespace: {ns}\nspec:\n  type: team\n  children: []\n",
        component(
            &ns,
            "checkout",
            "  annotations:\n    catalog.playbill.dev/custom-keys: costCenter\n",
            &format!("{typo}  x-slack: '#shop'\n  costCenter: cc-1\n"),
        )
    );
    let applied = kubectl_run(&["apply", "-f", "-"], Some(&manifest));
    assert!(applied.ok, "{}", applied.stderr);
    assert_eq!(
        warnings(&applied.stderr),
        ["spec.sytem is not a field of Component; did you mean spec.system?"],
        "{}",
        applied.stderr
    );
    let live: Value = serde_json::from_str(&kubectl(
        &["get", "component", "checkout", "-n", &ns, "-o", "json"],
        None,
    ))
    .unwrap();
    assert_eq!(live["spec"]["sytem"], "storefront");

    // playbill validate says the same, at the line it is written on.
    let validated = playbill_validate(&["-"], &manifest);
    assert_eq!(validated.code, 0);
    let line = manifest
        .lines()
        .position(|l| l.starts_with("  sytem:"))
        .unwrap()
        + 1;
    assert_eq!(
        validated.stdout,
        format!(
            "-:{line}: spec.sytem: warning: not a field of Component; did you mean spec.system?\n"
        )
    );

    // The operator lists it in status, and Argo CD's health says it, still Healthy.
    let lease = format!("playbill-e2e-validate-{}", std::process::id());
    let _operator = operator_process(&["--lease-name", &lease], "validate-operator");
    let mut object = Value::Null;
    wait_for(Duration::from_secs(60), "status.unknownFields", || {
        object = serde_json::from_str(&kubectl(
            &["get", "component", "checkout", "-n", &ns, "-o", "json"],
            None,
        ))
        .unwrap();
        object["status"]["observedGeneration"] == object["metadata"]["generation"]
            && !object["status"]["unknownFields"].is_null()
    });
    assert_eq!(
        object["status"]["unknownFields"],
        serde_json::json!([{
            "field": "spec.sytem",
            "suggestion": "spec.system",
            "message": "spec.sytem is not a field of Component; did you mean spec.system?",
        }])
    );
    let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": [object]});
    let verdict = argocd_health_verdicts(&list.to_string()).remove(0);
    assert_eq!(verdict["status"], "Healthy", "{verdict}");
    assert_eq!(
        verdict["message"],
        "1 reference resolved; warning: spec.sytem is not a field of Component; did you mean spec.system?"
    );
}
