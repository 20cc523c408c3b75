//! The catalog API on a real API server: CRDs install, the examples apply, bad input is refused
//! at admission with a message naming the field, and kubectl's columns, categories, field
//! selectors and explain work.

mod support;

use std::collections::BTreeSet;

use support::*;

fn example_catalog(prefix: &str) -> (String, Vec<serde_json::Value>) {
    let yaml = relocate(
        &read_dir_yaml(&repo_root().join("examples/catalog")),
        prefix,
    );
    let docs = parse_docs(&yaml);
    (yaml, docs)
}

/// Applies the relocated example catalog; returns its namespaces (deleted on drop) and objects.
fn apply_examples(test: &str) -> (Namespaces, String, Vec<serde_json::Value>) {
    ensure_crds();
    let prefix = unique_prefix(test);
    let (yaml, docs) = example_catalog(&prefix);
    let namespaces = docs
        .iter()
        .filter(|d| d["kind"] == "Namespace")
        .map(|d| d["metadata"]["name"].as_str().unwrap().to_owned())
        .collect();
    let guard = Namespaces(namespaces);
    kubectl(&["apply", "--server-side", "-f", "-"], Some(&yaml));
    (guard, prefix, docs)
}

fn entities(docs: &[serde_json::Value]) -> impl Iterator<Item = &serde_json::Value> {
    docs.iter()
        .filter(|d| d["apiVersion"] == "catalog.playbill.dev/v1alpha1")
}

#[test]
fn crds_are_established_and_served() {
    ensure_crds();
    let out = kubectl(
        &[
            "api-resources",
            "--api-group=catalog.playbill.dev",
            "-o",
            "wide",
        ],
        None,
    );
    for kind in [
        "Component",
        "System",
        "API",
        "Resource",
        "Domain",
        "Group",
        "User",
    ] {
        let line = out
            .lines()
            .find(|l| l.split_whitespace().any(|w| w == kind))
            .unwrap_or_else(|| panic!("{kind} not served:\n{out}"));
        assert!(line.contains("true"), "{kind} is not namespaced: {line}");
        assert!(
            line.contains("catalog"),
            "{kind} is not in the catalog category: {line}"
        );
    }
}

#[test]
fn every_example_applies_and_lists_under_the_catalog_category() {
    let (ns, prefix, docs) = apply_examples("list");
    let listed = kubectl(&["get", "catalog", "-A", "-o", "name"], None);
    let listed: BTreeSet<_> = listed.lines().collect();
    let mut count = 0;
    for e in entities(&docs) {
        let kind = e["kind"].as_str().unwrap().to_lowercase();
        let name = e["metadata"]["name"].as_str().unwrap();
        let plural = if kind == "api" {
            "apis".to_string()
        } else {
            format!("{kind}s")
        };
        let got = kubectl(
            &[
                "get",
                &plural,
                name,
                "-n",
                e["metadata"]["namespace"].as_str().unwrap(),
                "-o",
                "name",
            ],
            None,
        );
        assert!(
            listed.contains(got.trim()),
            "{} missing from `get catalog -A`",
            got.trim()
        );
        count += 1;
    }
    assert!(count >= 40, "the example catalog has {count} entities");
    // The table view shows each kind with its own columns.
    let table = kubectl(&["get", "catalog", "-A"], None);
    assert!(table.contains(&format!("{prefix}-acme-")), "{table}");
    drop(ns);
}

#[test]
fn printer_columns_per_kind() {
    let (ns, _, docs) = apply_examples("columns");
    let shop = &ns
        .0
        .iter()
        .find(|n| n.ends_with("acme-shop"))
        .unwrap()
        .clone();
    let org = &ns
        .0
        .iter()
        .find(|n| n.ends_with("acme-org"))
        .unwrap()
        .clone();
    let header = |what: &str, n: &str, wide: bool| {
        let mut args = vec!["get", what, "-n", n];
        if wide {
            args.extend(["-o", "wide"]);
        }
        let out = kubectl(&args, None);
        out.lines()
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        header("components", shop, false),
        [
            "NAME",
            "TYPE",
            "LIFECYCLE",
            "OWNER",
            "SYSTEM",
            "READY",
            "AGE"
        ]
    );
    assert_eq!(
        header("components", shop, true),
        [
            "NAME",
            "TYPE",
            "LIFECYCLE",
            "OWNER",
            "SYSTEM",
            "READY",
            "REASON",
            "PARTS",
            "AGE"
        ]
    );
    assert_eq!(
        header("apis", shop, false),
        [
            "NAME",
            "TYPE",
            "LIFECYCLE",
            "OWNER",
            "SYSTEM",
            "READY",
            "AGE"
        ]
    );
    assert_eq!(
        header("resources", shop, false),
        ["NAME", "TYPE", "OWNER", "SYSTEM", "READY", "AGE"]
    );
    assert_eq!(
        header("systems", shop, false),
        ["NAME", "OWNER", "DOMAIN", "PARTS", "READY", "AGE"]
    );
    assert_eq!(
        header("domains", org, false),
        ["NAME", "OWNER", "SUBDOMAIN-OF", "PARTS", "READY", "AGE"]
    );
    assert_eq!(
        header("groups", org, false),
        ["NAME", "TYPE", "PARENT", "MEMBERS", "READY", "AGE"]
    );
    assert_eq!(
        header("users", org, false),
        ["NAME", "DISPLAY-NAME", "EMAIL", "GROUPS", "READY", "AGE"]
    );

    // The OWNER column shows each component's owner as written.
    let rows = kubectl(&["get", "components", "-n", shop, "--no-headers"], None);
    for e in entities(&docs)
        .filter(|e| e["kind"] == "Component" && e["metadata"]["namespace"] == shop.as_str())
    {
        let name = e["metadata"]["name"].as_str().unwrap();
        let row = rows
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap();
        assert!(row.contains(e["spec"]["owner"].as_str().unwrap()), "{row}");
        assert!(row.contains(e["spec"]["type"].as_str().unwrap()), "{row}");
    }
}

#[test]
fn field_selectors_filter_on_the_server() {
    let (ns, _, docs) = apply_examples("select");
    let shop =
        ns.0.iter()
            .find(|n| n.ends_with("acme-shop"))
            .unwrap()
            .clone();
    let components: Vec<_> = entities(&docs)
        .filter(|e| e["kind"] == "Component" && e["metadata"]["namespace"] == shop.as_str())
        .collect();
    let owners: BTreeSet<&str> = components
        .iter()
        .map(|e| e["spec"]["owner"].as_str().unwrap())
        .collect();
    assert!(
        owners.len() >= 2,
        "examples need several owners to make this test meaningful"
    );
    for owner in owners {
        let expected: BTreeSet<String> = components
            .iter()
            .filter(|e| e["spec"]["owner"] == owner)
            .map(|e| {
                format!(
                    "component.catalog.playbill.dev/{}",
                    e["metadata"]["name"].as_str().unwrap()
                )
            })
            .collect();
        let selector = format!("spec.owner={owner}");
        let got = kubectl(
            &[
                "get",
                "components",
                "-n",
                &shop,
                "--field-selector",
                &selector,
                "-o",
                "name",
            ],
            None,
        );
        let got: BTreeSet<String> = got.lines().map(str::to_owned).collect();
        assert_eq!(got, expected, "selector {selector}");
    }
    let types = kubectl(
        &[
            "get",
            "components",
            "-n",
            &shop,
            "--field-selector",
            "spec.type=service",
            "-o",
            "name",
        ],
        None,
    );
    let want = components
        .iter()
        .filter(|e| e["spec"]["type"] == "service")
        .count();
    assert_eq!(types.lines().count(), want);
    // A field that is not selectable is refused by the server, not silently ignored.
    let bad = kubectl_run(
        &[
            "get",
            "components",
            "-n",
            &shop,
            "--field-selector",
            "spec.title=x",
        ],
        None,
    );
    assert!(
        !bad.ok && bad.stderr.contains("field label not supported"),
        "{}",
        bad.stderr
    );
}

#[test]
fn invalid_manifests_are_refused_naming_the_field() {
    ensure_crds();
    let prefix = unique_prefix("invalid");
    let ns = format!("{prefix}-acme-shop");
    let _guard = Namespaces::create(std::slice::from_ref(&ns));
    let dir = repo_root().join("examples/invalid");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(
        files.len() >= 10,
        "examples/invalid has {} files",
        files.len()
    );
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let expect: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# expect: "))
            .collect();
        assert!(
            !expect.is_empty(),
            "{} has no `# expect:` line",
            file.display()
        );
        let run = kubectl_run(&["apply", "-f", "-"], Some(&relocate(&text, &prefix)));
        assert!(!run.ok, "{} was accepted:\n{}", file.display(), run.stdout);
        for e in expect {
            assert!(
                run.stderr.contains(e),
                "{}: error does not mention {e:?}:\n{}",
                file.display(),
                run.stderr
            );
        }
    }
    let left = kubectl(&["get", "catalog", "-n", &ns, "-o", "name"], None);
    assert!(left.trim().is_empty(), "refused objects exist: {left}");
}

#[test]
fn references_that_parse_are_accepted_and_malformed_ones_refused() {
    // The admission rule and the Rust parser must agree on what a reference is.
    ensure_crds();
    let ns = unique_prefix("refs");
    let _guard = Namespaces::create(std::slice::from_ref(&ns));
    let cases = [
        "team-a",
        "User:Jdoe",
        "default/team-a",
        "a:b:c",
        "a/b/c",
        "group:ns/x/y",
        "x/y:z",
        ":x",
        "a:",
        "a:/x",
        "/x",
        "x/",
        "a:b/",
        "/",
        ":",
    ];
    for (i, raw) in cases.iter().enumerate() {
        let parses = playbill::model::split_ref(raw).is_ok();
        let manifest = serde_json::json!({
            "apiVersion": "catalog.playbill.dev/v1alpha1", "kind": "System",
            "metadata": {"name": format!("s{i}"), "namespace": ns},
            "spec": {"owner": raw}
        });
        let run = kubectl_run(
            &["create", "--dry-run=server", "-f", "-"],
            Some(&manifest.to_string()),
        );
        assert_eq!(
            run.ok, parses,
            "{raw:?}: server accepted={} parser ok={parses}\n{}",
            run.ok, run.stderr
        );
        if !parses {
            assert!(run.stderr.contains("spec.owner"), "{raw:?}: {}", run.stderr);
        }
    }
}

#[test]
fn kubectl_explain_shows_field_docs() {
    ensure_crds();
    let out = kubectl(&["explain", "components.spec.owner"], None);
    assert!(
        out.contains("The Group or User that owns the component"),
        "{out}"
    );
    let out = kubectl(&["explain", "groups.spec.children"], None);
    assert!(out.contains("Child Groups"), "{out}");
    let out = kubectl(&["explain", "components.status.relations"], None);
    assert!(out.contains("Backstage"), "{out}");
}

#[test]
fn unknown_spec_keys_are_kept() {
    ensure_crds();
    let ns = unique_prefix("extra");
    let _guard = Namespaces::create(std::slice::from_ref(&ns));
    let manifest = serde_json::json!({
        "apiVersion": "catalog.playbill.dev/v1alpha1", "kind": "Component",
        "metadata": {"name": "c", "namespace": ns},
        "spec": {"type": "service", "lifecycle": "production", "owner": "team-a",
                 "costCenter": "cc-1", "oncall": {"rotation": "weekly"}}
    });
    kubectl(&["apply", "-f", "-"], Some(&manifest.to_string()));
    let got = kubectl(&["get", "component", "c", "-n", &ns, "-o", "json"], None);
    let got: serde_json::Value = serde_json::from_str(&got).unwrap();
    assert_eq!(got["spec"]["costCenter"], "cc-1");
    assert_eq!(got["spec"]["oncall"]["rotation"], "weekly");
}
