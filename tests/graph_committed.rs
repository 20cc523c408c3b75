//! The README's picture of the example catalog: `docs/catalog-graph.dot` is what
//! `playbill graph -f examples/catalog -o dot` prints, and `docs/catalog-graph.svg` is rendered
//! from it (`make graph-image`). These fail when either is stale. The SVG's exact bytes are
//! checked against a fresh render by `make check-graph-image` (it needs Node); here, without it,
//! the SVG must at least draw every node and edge the DOT has.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn committed_dot_is_what_playbill_graph_prints() {
    let out = Command::new(env!("CARGO_BIN_EXE_playbill"))
        .args(["graph", "-f", "examples/catalog", "-o", "dot"])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        read("docs/catalog-graph.dot") == String::from_utf8(out.stdout).unwrap(),
        "docs/catalog-graph.dot is stale: run `make graph-image` and commit docs/catalog-graph.*"
    );
}

/// The text of XML character data as Graphviz writes it into SVG (`&#45;` for `-`).
fn decode_xml(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let end = rest.find(';').unwrap_or(0);
        let entity = &rest[1..end.max(1)];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            e => e
                .strip_prefix('#')
                .and_then(|n| n.parse().ok())
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) if end > 0 => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            _ => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[test]
fn committed_svg_draws_every_node_and_edge_of_the_dot() {
    let dot = read("docs/catalog-graph.dot");
    let svg = read("docs/catalog-graph.svg");
    // `playbill graph` writes one statement per line; node statements start with the quoted ID.
    let nodes: BTreeSet<String> = dot
        .lines()
        .filter(|l| l.starts_with("  \"") && !l.contains(" -> "))
        .map(|l| l[3..].split("\" [").next().unwrap().replace("\\\"", "\""))
        .collect();
    let edges = dot.lines().filter(|l| l.contains("\" -> \"")).count();
    let titles: BTreeSet<String> = svg
        .split("class=\"node\">\n<title>")
        .skip(1)
        .map(|s| decode_xml(s.split("</title>").next().unwrap()))
        .collect();
    assert_eq!(
        titles, nodes,
        "docs/catalog-graph.svg is stale: run `make graph-image`"
    );
    assert_eq!(
        svg.matches("class=\"edge\">").count(),
        edges,
        "docs/catalog-graph.svg is stale: run `make graph-image`"
    );
    // 45 entities and the two targets the example leaves dangling on purpose.
    assert_eq!(nodes.len(), 47);
    assert!(nodes.contains("group:acme-org/team-mobile"));
    assert!(nodes.contains("resource:acme-shop/legacy-mainframe"));
}
