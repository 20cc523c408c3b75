//! The container image (Dockerfile, built by `scripts/image.sh build`) runs the operator as the
//! chart runs it: user 65532, read-only root filesystem, every capability dropped, the kubeconfig
//! mounted read-only. Against the local control plane it must converge the example catalog, follow
//! a change, serve /readyz and /metrics, and stop cleanly on SIGTERM within the chart's
//! terminationGracePeriodSeconds.
//!
//! Needs a container engine that runs containers (Podman or Docker): `make test` installs Podman
//! with apt when it can (`scripts/image.sh deps`). Without one the test says why and passes
//! without running; `scripts/image.sh deps` has already printed the same reason in `make test`.

mod support;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;

fn image_sh(args: &[&str]) -> Output {
    let mut cmd = Command::new(repo_root().join("scripts/image.sh"));
    // Cargo gives this test the variables it gives the crates it compiles (CARGO_PKG_NAME,
    // CARGO_MANIFEST_DIR, ...). Build scripts such as ring's re-run when those change, so the
    // script's `cargo build` would rebuild them here and again in the next shell.
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        let set_by_cargo = [
            "CARGO_PKG_",
            "CARGO_MANIFEST_",
            "CARGO_CRATE_",
            "CARGO_BIN_",
            "CARGO_CFG_",
            "CARGO_PRIMARY_PACKAGE",
            "CARGO_TARGET_TMPDIR",
            "OUT_DIR",
        ];
        if set_by_cargo.iter().any(|p| k.starts_with(p)) {
            cmd.env_remove(k.as_ref());
        }
    }
    cmd.args(args)
        .stdin(Stdio::null())
        .output()
        .expect("scripts/image.sh runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The container engine with this repository's settings (`scripts/image.sh exec ...`).
fn engine(args: &[&str]) -> String {
    let out = image_sh(&[&["exec"], args].concat());
    assert!(
        out.status.success(),
        "engine {args:?} failed:\n{}",
        text(&out)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Removes the container when the test ends, pass or fail.
struct Container(String);

impl Drop for Container {
    fn drop(&mut self) {
        let _ = image_sh(&["exec", "rm", "--force", &self.0]);
    }
}

/// The operator's Deployment as the chart renders it (deploy/playbill.yaml, which
/// tests/e2e_install.rs keeps equal to `helm template`).
fn deployment() -> Value {
    let yaml = std::fs::read_to_string(repo_root().join("deploy/playbill.yaml")).unwrap();
    parse_docs(&yaml)
        .into_iter()
        .find(|d| d["kind"] == "Deployment")
        .expect("a Deployment in deploy/playbill.yaml")
}

/// A copy of the kubeconfig the container user (65532) can read, with the API server named
/// `localhost` instead of 127.0.0.1 so the static binary's name resolution (glibc getaddrinfo,
/// /etc/hosts, /etc/nsswitch.conf) is exercised too.
fn container_kubeconfig(dir: &std::path::Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let original = std::fs::read_to_string(kubeconfig()).unwrap();
    let rewritten = original.replace("https://127.0.0.1:", "https://localhost:");
    let path = dir.join("kubeconfig");
    std::fs::write(&path, rewritten).unwrap();
    use std::os::unix::fs::PermissionsExt;
    // Owned by the container user when we may chown (root), readable by all otherwise (rootless
    // engines map ids, so an owner cannot be predicted).
    if std::os::unix::fs::chown(&path, Some(65532), Some(65532)).is_ok() {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
    } else {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn ready_status(obj: &Value) -> Option<&str> {
    obj["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")?["status"]
        .as_str()
}

fn relations(obj: &Value) -> Vec<String> {
    obj["relations"]
        .as_array()
        .or_else(|| obj["status"]["relations"].as_array())
        .map(|a| {
            a.iter()
                .map(|r| {
                    format!(
                        "{} {}",
                        r["type"].as_str().unwrap_or_default(),
                        r["targetRef"].as_str().unwrap_or_default()
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Waits until every object in `namespaces` has the status the pure resolver computes for it.
fn wait_converged(namespaces: &[String], yaml: &str) {
    let now =
        k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(k8s_openapi::jiff::Timestamp::now());
    let expected = playbill::resolve::resolve(
        &[("examples".into(), yaml.to_owned())],
        "default",
        1000,
        &now,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let mut diff = Vec::new();
        let mut seen = 0;
        for ns in namespaces {
            let list: Value =
                serde_json::from_str(&kubectl(&["get", "catalog", "-n", ns, "-o", "json"], None))
                    .unwrap();
            for o in list["items"].as_array().unwrap() {
                seen += 1;
                let r = o["status"]["entityRef"].as_str().unwrap_or_default();
                let Some(want) = expected.get(r) else {
                    diff.push(format!("{}: no status yet", o["metadata"]["name"]));
                    continue;
                };
                let want = serde_json::to_value(want).unwrap();
                diff.extend(status_mismatches(r, &want, o));
            }
        }
        if diff.is_empty() && seen == expected.len() {
            return;
        }
        let last = diff.join("\n");
        assert!(
            Instant::now() < deadline,
            "example catalog did not converge ({seen} of {} objects seen):\n{last}",
            expected.len()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn the_image_runs_the_operator_as_the_chart_does() {
    let runner = image_sh(&["runner"]);
    if !runner.status.success() {
        eprintln!(
            "SKIPPED: the image is not tested, no container engine here:\n{}",
            text(&runner)
        );
        return;
    }
    let build = image_sh(&["build"]);
    assert!(
        build.status.success(),
        "image build failed:\n{}",
        text(&build)
    );
    let image = String::from_utf8_lossy(&image_sh(&["name"]).stdout)
        .trim()
        .to_owned();

    // What the image declares: the chart relies on the user; registries and scanners on the labels.
    let config: Value = serde_json::from_str(&engine(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config}}",
        &image,
    ]))
    .unwrap();
    assert_eq!(config["User"], "65532:65532", "{config:#}");
    assert_eq!(config["Entrypoint"][0], "/usr/local/bin/playbill");
    let labels = &config["Labels"];
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(labels["org.opencontainers.image.version"], version);
    assert_eq!(
        labels["org.opencontainers.image.licenses"],
        env!("CARGO_PKG_LICENSE")
    );
    assert_eq!(
        labels["org.opencontainers.image.source"],
        env!("CARGO_PKG_REPOSITORY")
    );
    // The chart runs the image as the image expects: its user, a read-only root, its port.
    let pod = &deployment()["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    let user = format!(
        "{}:{}",
        pod["securityContext"]["runAsUser"], pod["securityContext"]["runAsGroup"]
    );
    assert_eq!(config["User"], user.as_str(), "image user vs chart");
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(
        container["securityContext"]["capabilities"]["drop"][0],
        "ALL"
    );
    let http_port = container["ports"][0]["containerPort"].as_u64().unwrap();
    assert_eq!(container["ports"][0]["name"], "http");
    assert!(
        container["args"]
            .as_array()
            .unwrap()
            .contains(&Value::from(format!("--listen=0.0.0.0:{http_port}"))),
        "the operator does not listen on the port the probes use: {container:#}"
    );
    assert!(
        config["ExposedPorts"]
            .as_object()
            .is_some_and(|p| p.contains_key(&format!("{http_port}/tcp"))),
        "the image does not expose {http_port}: {config:#}"
    );
    let probes = [
        (&container["livenessProbe"], "/healthz"),
        (&container["readinessProbe"], "/readyz"),
    ];
    for (probe, path) in probes {
        assert_eq!(probe["httpGet"]["path"], path);
        assert_eq!(probe["httpGet"]["port"], "http");
    }
    let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap();

    // No shell to exec into.
    let sh = image_sh(&[
        "exec",
        "run",
        "--rm",
        "--network",
        "none",
        "--entrypoint",
        "/bin/sh",
        &image,
        "-c",
        "true",
    ]);
    assert!(
        !sh.status.success() && text(&sh).contains("/bin/sh") && text(&sh).contains("no such file"),
        "the image has a shell, or the engine failed for another reason:\n{}",
        text(&sh)
    );

    ensure_crds();
    let id = std::process::id();
    let dir = repo_root().join(format!("target/e2e-image-{id}"));
    let kubeconfig = container_kubeconfig(&dir);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let name = format!("playbill-e2e-{id}");
    let lease = format!("playbill-e2e-image-{id}");
    let started = Instant::now();
    engine(&[
        "run",
        "--detach",
        "--name",
        &name,
        "--network",
        "host",
        "--read-only",
        "--user",
        "65532:65532",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        "--volume",
        &format!("{}:/etc/playbill/kubeconfig:ro", kubeconfig.display()),
        "--env",
        "KUBECONFIG=/etc/playbill/kubeconfig",
        "--env",
        "PLAYBILL_LOG_FORMAT=json",
        &image,
        "run",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--lease-name",
        &lease,
        "--lease-namespace",
        "default",
        // The export's content is under test here; its auth in e2e_api_auth.
        "--api-auth=none",
    ]);
    let container = Container(name.clone());
    let logs = || engine(&["logs", &container.0]);

    // The engine really applied what was asked.
    let host: Value = serde_json::from_str(&engine(&[
        "inspect",
        "--format",
        "{{json .HostConfig}}",
        &name,
    ]))
    .unwrap();
    assert_eq!(host["ReadonlyRootfs"], true, "{host:#}");
    let dropped = host["CapDrop"].to_string().to_ascii_uppercase();
    assert!(
        dropped.contains("ALL") || dropped.contains("CAP_CHOWN"),
        "capabilities not dropped: {dropped}"
    );

    let ready_deadline = Instant::now() + Duration::from_secs(120);
    while http_get(port, "/readyz").is_none_or(|(code, _)| code != 200) {
        let running = engine(&["inspect", "--format", "{{.State.Running}}", &name]);
        assert!(running == "true", "container exited:\n{}", logs());
        assert!(
            Instant::now() < ready_deadline,
            "not ready after 120 s:\n{}",
            logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("container start to /readyz: {:?}", started.elapsed());
    let (code, body) = http_get(port, "/healthz").unwrap();
    assert_eq!((code, body.as_str()), (200, "ok"));
    let (code, metrics) = http_get(port, "/metrics").unwrap();
    assert_eq!(code, 200);
    assert!(
        metrics.lines().any(|l| l == "playbill_leader 1"),
        "the container does not hold its own lease:\n{metrics}"
    );

    // The example catalog, in namespaces of its own.
    let prefix = unique_prefix("image");
    let yaml = relocate(
        &read_dir_yaml(&repo_root().join("examples/catalog")),
        &prefix,
    );
    let namespaces: Vec<String> = parse_docs(&yaml)
        .iter()
        .filter(|d| d["kind"] == "Namespace")
        .map(|d| d["metadata"]["name"].as_str().unwrap().to_owned())
        .collect();
    let _ns = Namespaces(namespaces.clone());
    kubectl(&["apply", "--server-side", "-f", "-"], Some(&yaml));
    wait_converged(&namespaces, &yaml);
    let writes = |port| {
        http_get(port, "/metrics")
            .map(|(_, body)| {
                body.lines()
                    .filter(|l| l.starts_with("playbill_status_writes_total{"))
                    .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                    .sum::<f64>()
            })
            .unwrap_or_default()
    };
    eprintln!(
        "example catalog converged; the container wrote {} statuses",
        writes(port)
    );

    // A change: cart-service moves from storefront to product-catalog.
    let shop = format!("{prefix}-acme-shop");
    kubectl(
        &[
            "patch",
            "component",
            "cart-service",
            "-n",
            &shop,
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"system":"product-catalog"}}"#,
        ],
        None,
    );
    let part = format!("hasPart component:{shop}/cart-service");
    wait_for(
        Duration::from_secs(30),
        "product-catalog hasPart cart-service",
        || {
            let o: Value = serde_json::from_str(&kubectl(
                &[
                    "get",
                    "system",
                    "product-catalog",
                    "-n",
                    &shop,
                    "-o",
                    "json",
                ],
                None,
            ))
            .unwrap();
            relations(&o).contains(&part) && ready_status(&o) == Some("True")
        },
    );
    wait_for(
        Duration::from_secs(30),
        "storefront without cart-service",
        || {
            let o: Value = serde_json::from_str(&kubectl(
                &["get", "system", "storefront", "-n", &shop, "-o", "json"],
                None,
            ))
            .unwrap();
            !relations(&o).contains(&part)
        },
    );
    // The container's own catalog API sees it too (its snapshot follows the watches a moment
    // after the statuses).
    let path = format!("/api/catalog/entities/by-name/system/{shop}/product-catalog");
    wait_for(
        Duration::from_secs(30),
        "the catalog API shows the part",
        || {
            http_get(port, &path).is_some_and(|(code, body)| {
                code == 200
                    && serde_json::from_str::<Value>(&body)
                        .is_ok_and(|exported| relations(&exported).contains(&part))
            })
        },
    );

    // Graceful stop: SIGTERM, then the chart's grace period before SIGKILL.
    let stopping = Instant::now();
    engine(&["stop", "--time", &grace.to_string(), &name]);
    let took = stopping.elapsed();
    let exit = engine(&["inspect", "--format", "{{.State.ExitCode}}", &name]);
    let log = logs();
    assert_eq!(exit, "0", "exit code after SIGTERM:\n{log}");
    assert!(
        took < Duration::from_secs(grace),
        "stopping took {took:?}, the grace period is {grace} s"
    );
    eprintln!("stopped on SIGTERM in {took:?} (grace period {grace} s), exit code 0");
    let _ = std::fs::remove_dir_all(&dir);
}
