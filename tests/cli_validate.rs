//! `playbill validate` as CI and pre-commit hooks run it: the binary on files, directories and
//! stdin, every output form and exit code. No cluster needed.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn validate(args: &[&str], stdin: Option<&str>) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_playbill"))
        .arg("validate")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// A directory of its own under the system's temporary one, removed when dropped.
struct Dir(PathBuf);

impl Dir {
    fn new(test: &str) -> Dir {
        let dir = std::env::temp_dir().join(format!("playbill-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Dir(dir)
    }

    fn write(&self, name: &str, text: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One document with three errors (a schema error, two CEL rules), an unknown key and a
/// reference to an entity that is not in the file. Line numbers matter: keep the layout.
const BROKEN: &str = "\
apiVersion: catalog.playbill.dev/v1alpha1
kind: Component
metadata:
  name: checkout
  namespace: shop
spec:
  type: service
  lifecycle: production
  sytem: storefront
  tags:
    - go
    - Bad_Tag
  dependsOn:
    - payments-db
---
apiVersion: catalog.playbill.dev/v1alpha1
kind: Group
metadata:
  name: team-a
  namespace: shop
spec:
  type: team
  children: []
  members: [jdoe]
";

#[test]
fn every_problem_of_a_file_is_reported_at_once_with_its_line() {
    let dir = Dir::new("validate-broken");
    let file = dir.write("broken.yaml", BROKEN);
    let run = validate(&[&file], None);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let want = [
        format!("{file}:6: spec.owner: Required value"),
        format!(
            "{file}:9: spec.sytem: warning: not a field of Component; did you mean spec.system?"
        ),
        format!(
            "{file}:12: spec.tags[1]: must be lowercase a-z, 0-9, ':', '+' or '#', in words joined by single '-' (e.g. java, python:3, c++)"
        ),
        format!(
            "{file}:14: spec.dependsOn[0]: must name the target's kind, e.g. component:name or resource:namespace/name"
        ),
        format!("{file}:24: spec.members[0]: warning: user:shop/jdoe is not in the given files"),
    ];
    assert_eq!(
        run.stdout.lines().collect::<Vec<_>>(),
        want,
        "{}",
        run.stdout
    );
    assert_eq!(
        run.stderr.trim(),
        "playbill validate: 3 errors, 2 warnings in 1 file (2 catalog objects)"
    );
}

#[test]
fn json_output_has_every_finding_with_its_object() {
    let run = validate(&["-o", "json", "-"], Some(BROKEN));
    assert_eq!(run.code, 1);
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["objects"], 2);
    let findings = report["findings"].as_array().unwrap();
    let got: Vec<(&str, u64, u64, &str, &str)> = findings
        .iter()
        .map(|f| {
            (
                f["file"].as_str().unwrap(),
                f["line"].as_u64().unwrap(),
                f["document"].as_u64().unwrap(),
                f["field"].as_str().unwrap(),
                f["severity"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("-", 6, 1, "spec.owner", "error"),
            ("-", 9, 1, "spec.sytem", "warning"),
            ("-", 12, 1, "spec.tags[1]", "error"),
            ("-", 14, 1, "spec.dependsOn[0]", "error"),
            ("-", 24, 2, "spec.members[0]", "warning"),
        ]
    );
    assert_eq!(findings[0]["object"], "component:shop/checkout");
    assert_eq!(findings[4]["object"], "group:shop/team-a");
}

#[test]
fn github_output_is_workflow_commands() {
    let run = validate(&["-o", "github", "-"], Some(BROKEN));
    assert_eq!(run.code, 1);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines[0],
        "::error file=-,line=6,title=spec.owner::Required value"
    );
    assert_eq!(
        lines[1],
        "::warning file=-,line=9,title=spec.sytem::not a field of Component; did you mean spec.system?"
    );
    assert_eq!(lines.len(), 5);
    // Properties escape ':' and ',' (and '%' everywhere), as the runner reads them back.
    let dir = Dir::new("validate-github");
    let file = dir.write(
        "a,b:c%.yaml",
        "apiVersion: catalog.playbill.dev/v1alpha1\nkind: User\nmetadata: {name: u}\nspec: {}\n",
    );
    let run = validate(&["-o", "github", &file], None);
    let escaped = file
        .replace('%', "%25")
        .replace(':', "%3A")
        .replace(',', "%2C");
    assert_eq!(
        run.stdout,
        format!("::error file={escaped},line=4,title=spec.memberOf::Required value\n")
    );
}

#[test]
fn warnings_pass_unless_strict_and_custom_keys_are_quiet() {
    let text = "\
apiVersion: catalog.playbill.dev/v1alpha1
kind: User
metadata:
  name: jdoe
  annotations:
    catalog.playbill.dev/custom-keys: costCenter
spec:
  memberOf: []
  costCenter: cc-1
  x-slack: '#jdoe'
  profle: {email: j@example.com}
";
    let run = validate(&["-"], Some(text));
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        run.stdout,
        "-:11: spec.profle: warning: not a field of User; did you mean spec.profile?\n"
    );
    let strict = validate(&["--strict", "-"], Some(text));
    assert_eq!(strict.code, 1);
    let clean = text.replace("  profle:", "  profile:");
    let run = validate(&["-"], Some(&clean));
    assert_eq!((run.code, run.stdout.as_str()), (0, ""), "{}", run.stderr);
    assert!(
        run.stderr.contains("0 errors, 0 warnings"),
        "{}",
        run.stderr
    );
}

#[test]
fn metadata_kind_and_top_level_problems_are_errors() {
    let text = "\
apiVersion: catalog.playbill.dev/v1alpha1
kind: Component
metadata:
  name: Checkout
  labels: {team: -a}
  colour: red
spec: {type: service, lifecycle: production, owner: team-a}
extra: 1
---
apiVersion: catalog.playbill.dev/v1alpha1
kind: Service
metadata: {name: x}
---
apiVersion: catalog.playbill.dev/v1beta1
kind: Component
metadata: {name: x}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: Not-Checked}
";
    let run = validate(&["-o", "json", "-"], Some(text));
    assert_eq!(run.code, 1);
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    let got: Vec<(u64, &str)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "error")
        .map(|f| (f["line"].as_u64().unwrap(), f["field"].as_str().unwrap()))
        .collect();
    assert_eq!(
        got,
        [
            (4, "metadata.name"),
            (5, "metadata.labels.team"),
            (6, "metadata.colour"),
            (8, "extra"),
            (11, "kind"),
            (14, "apiVersion"),
        ]
    );
}

#[test]
fn directories_references_across_files_and_unreadable_yaml() {
    let dir = Dir::new("validate-dir");
    dir.write(
        "a.yaml",
        "apiVersion: catalog.playbill.dev/v1alpha1\nkind: System\nmetadata: {name: shop}\nspec: {owner: team-a}\n",
    );
    dir.write(
        "b.yml",
        "apiVersion: catalog.playbill.dev/v1alpha1\nkind: Group\nmetadata: {name: team-a}\nspec: {type: team, children: []}\n",
    );
    let run = validate(&[&dir.0.display().to_string()], None);
    assert_eq!((run.code, run.stdout.as_str()), (0, ""), "{}", run.stderr);
    assert!(
        run.stderr.contains("in 2 files (2 catalog objects)"),
        "{}",
        run.stderr
    );
    // An object with errors is still a target: only its own errors are reported.
    let invalid_target = "apiVersion: catalog.playbill.dev/v1alpha1\nkind: System\nmetadata: {name: shop}\nspec: {owner: team-a}\n---\napiVersion: catalog.playbill.dev/v1alpha1\nkind: Group\nmetadata: {name: team-a}\nspec: {type: team}\n";
    let run = validate(&["-"], Some(invalid_target));
    assert_eq!(run.stdout, "-:9: spec.children: Required value\n");
    // A reference the rules refuse is an error even though the target is missing.
    let bad_kind = "apiVersion: catalog.playbill.dev/v1alpha1\nkind: System\nmetadata: {name: shop}\nspec: {owner: component:x}\n";
    let run = validate(&["-"], Some(bad_kind));
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout.starts_with("-:4: spec.owner: "),
        "{}",
        run.stdout
    );
    // Not YAML: reported where it is, and the run fails.
    let run = validate(&["-"], Some("a: 1\n---\nb: [\n"));
    assert_eq!(run.code, 1);
    assert!(run.stdout.starts_with("-:4: "), "{}", run.stdout);
    let missing = validate(&[Path::new("/nonexistent/x.yaml").to_str().unwrap()], None);
    assert_eq!(missing.code, 1);
    assert!(
        missing.stderr.contains("/nonexistent/x.yaml"),
        "{}",
        missing.stderr
    );
}

/// CatalogGrants sit beside the entities in a repository: the example grants pass, and a grant
/// of the wrong shape is an error at its line rather than "no such kind".
#[test]
fn catalog_grants_are_checked_not_refused() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let examples = root.join("examples/consent");
    let run = validate(&[examples.to_str().unwrap()], None);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(run.stdout, "", "{}", run.stdout);

    let bad = "apiVersion: catalog.playbill.dev/v1alpha1\nkind: CatalogGrant\n\
               metadata: {name: g, namespace: team-b}\nspec:\n  from:\n    namespaces: 3\n";
    let run = validate(&["-"], Some(bad));
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .starts_with("-:4: spec: invalid type: integer `3`"),
        "{}",
        run.stdout
    );
}
