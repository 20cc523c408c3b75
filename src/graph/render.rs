//! Rendering a [`Graph`] as Graphviz DOT or as a Mermaid flowchart. Pure text in, text out; the
//! output depends on nothing but the graph, so it can be committed and diffed.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::model::{Edge, Graph, Node, NodeState};
use crate::catalog::ReadyState;
use crate::model::Kind;

/// How a node looks for its state: colours, the words added under its name, its tooltip.
struct Look {
    /// Mermaid class name, also a stable key for the legend.
    class: &'static str,
    fill: &'static str,
    stroke: &'static str,
    /// Words shown under the name, so the state does not rest on colour alone.
    note: Option<&'static str>,
    legend: &'static str,
}

fn look(state: NodeState) -> Look {
    match state {
        NodeState::Entity(ReadyState::True) => Look {
            class: "ready",
            fill: "#e3f4dc",
            stroke: "#4a8f3c",
            note: None,
            legend: "green: Ready",
        },
        NodeState::Entity(ReadyState::False) => Look {
            class: "notReady",
            fill: "#fbe0dc",
            stroke: "#c0392b",
            note: Some("not Ready"),
            legend: "red: not Ready",
        },
        NodeState::Entity(ReadyState::Unknown) => Look {
            class: "readyUnknown",
            fill: "#eeeeee",
            stroke: "#888888",
            note: Some("Ready unknown"),
            legend: "grey: no Ready condition yet",
        },
        NodeState::Missing => Look {
            class: "missing",
            fill: "#ffffff",
            stroke: "#c0392b",
            note: Some("missing"),
            legend: "dashed: missing (a dangling reference)",
        },
        NodeState::NotRead => Look {
            class: "notRead",
            fill: "#ffffff",
            stroke: "#888888",
            note: Some("not read"),
            legend: "dotted: in a namespace that could not be read",
        },
    }
}

/// Every state in the order the legend lists them.
const STATES: [NodeState; 5] = [
    NodeState::Entity(ReadyState::True),
    NodeState::Entity(ReadyState::False),
    NodeState::Entity(ReadyState::Unknown),
    NodeState::Missing,
    NodeState::NotRead,
];

fn states_used(graph: &Graph) -> Vec<NodeState> {
    STATES
        .into_iter()
        .filter(|s| graph.nodes.values().any(|n| n.state == *s))
        .collect()
}

fn is_absent(state: NodeState) -> bool {
    matches!(state, NodeState::Missing | NodeState::NotRead)
}

/// Whether an edge touches a node that is missing or not read: it stands for a reference that
/// dangles (or may), so it is drawn dashed. The absent end is not always the target: a pair is
/// drawn from one fixed side, so `memberOf: [gone]` is drawn as `gone hasMember user`.
fn touches_absent(graph: &Graph, edge: &Edge) -> bool {
    [&edge.from, &edge.to]
        .into_iter()
        .any(|r| graph.nodes.get(r).is_some_and(|n| is_absent(n.state)))
}

/// One line of text for a comment: no line breaks can end the comment early.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A control character as visible text (`\n`, `\x01`): raw, it would break a line of output or
/// be refused (XML forbids most of them); as U+FFFD it would hide what the name holds.
fn push_control(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        c => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
    }
}

// ------------------------------------------------------------------------------------- DOT

/// A font Graphviz has metrics for, so the layout does not depend on the fonts installed.
const FONT: &str = "Helvetica";

/// A DOT double-quoted string. Inside one, DOT itself only unescapes `\"`; labels and tooltips
/// further read `\\` as one backslash and `\n` as a line break. Escaping `\` and `"` keeps IDs
/// distinct (a name with a literal backslash-n cannot meet one with a line break) and shows
/// text as written; control characters become visible escapes rather than raw bytes.
fn dot_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => push_control(&mut out, c),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Text inside a DOT HTML-like label, which Graphviz parses as XML: the XML specials become
/// entities, control characters visible escapes.
fn dot_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => push_control(&mut out, c),
            c => out.push(c),
        }
    }
    out
}

/// Graphviz shape per kind, so kinds tell apart at a glance, roughly as Backstage draws them.
fn dot_shape(node: &Node) -> (&'static str, bool) {
    match Kind::parse(&node.kind) {
        Some(Kind::Component) => ("box", true),
        Some(Kind::Api) => ("hexagon", false),
        Some(Kind::Resource) => ("cylinder", false),
        Some(Kind::System) => ("box3d", false),
        Some(Kind::Domain) => ("folder", false),
        Some(Kind::Group) => ("tab", false),
        Some(Kind::User) => ("ellipse", false),
        None => ("box", false),
    }
}

fn tooltip(reference: &str, state: NodeState) -> String {
    let what = match state {
        NodeState::Entity(ReadyState::True) => "Ready",
        NodeState::Entity(ReadyState::False) => "not Ready",
        NodeState::Entity(ReadyState::Unknown) => "no Ready condition yet",
        NodeState::Missing => "missing: referenced, but not in the catalog",
        NodeState::NotRead => "not read: its namespace could not be listed",
    };
    format!("{reference}: {what}")
}

/// The small first line of a node's label: its kind, and its namespace when the graph spans more
/// than one (in a picture of one namespace it would only repeat itself).
fn kind_line(node: &Node, show_namespace: bool) -> String {
    if show_namespace {
        format!("{} in {}", node.kind, node.namespace)
    } else {
        node.kind.clone()
    }
}

fn spans_namespaces(graph: &Graph) -> bool {
    let mut namespaces = graph.nodes.keys().map(|r| &r.namespace);
    namespaces
        .next()
        .is_some_and(|first| namespaces.any(|n| n != first))
}

/// The graph as Graphviz DOT. Node IDs are canonical entity references, so the text is greppable
/// and diffs read well; `title` becomes a leading comment. Namespaces are not drawn as clusters:
/// relations cross them all the time (owners live elsewhere), and clusters force those edges
/// into long detours; the namespace is in each label instead.
pub fn dot(graph: &Graph, title: &str) -> String {
    let show_namespace = spans_namespaces(graph);
    let mut out = String::new();
    let _ = writeln!(out, "// {}", one_line(title));
    out.push_str("digraph catalog {\n");
    let legend: Vec<&str> = states_used(graph)
        .into_iter()
        .map(|s| look(s).legend)
        .collect();
    let _ = writeln!(
        out,
        "  graph [rankdir=LR, fontname={f}, fontsize=10, nodesep=0.2, ranksep=0.7, labelloc=b, label={l}];",
        f = dot_quote(FONT),
        l = dot_quote(&legend.join("   ")),
    );
    let _ = writeln!(
        out,
        "  node [fontname={f}, fontsize=11, penwidth=1.2, margin=\"0.16,0.05\"];",
        f = dot_quote(FONT)
    );
    let _ = writeln!(
        out,
        "  edge [fontname={f}, fontsize=9, color=\"#666666\", fontcolor=\"#444444\", arrowsize=0.7];",
        f = dot_quote(FONT)
    );
    if !graph.nodes.is_empty() {
        out.push('\n');
    }
    for (reference, node) in &graph.nodes {
        let l = look(node.state);
        let (shape, rounded) = dot_shape(node);
        let mut style = vec!["filled"];
        if rounded {
            style.push("rounded");
        }
        match node.state {
            NodeState::Missing => style.push("dashed"),
            NodeState::NotRead => style.push("dotted"),
            NodeState::Entity(_) => {}
        }
        let mut label = format!(
            "<font point-size=\"9\" color=\"#555555\">{}</font><br/>{}",
            dot_html(&kind_line(node, show_namespace)),
            dot_html(&node.name)
        );
        if let Some(note) = l.note {
            let _ = write!(
                label,
                "<br/><font point-size=\"9\" color=\"{}\">{note}</font>",
                l.stroke
            );
        }
        let mut attrs = format!(
            "label=<{label}>, shape={shape}, style={}, fillcolor=\"{}\", color=\"{}\"",
            dot_quote(&style.join(",")),
            l.fill,
            l.stroke
        );
        if node.state == NodeState::Entity(ReadyState::False) {
            attrs.push_str(", penwidth=2");
        }
        if is_absent(node.state) {
            attrs.push_str(", fontcolor=\"#777777\"");
        }
        let _ = writeln!(
            out,
            "  {} [{attrs}, tooltip={}];",
            dot_quote(&reference.to_string()),
            dot_quote(&tooltip(&reference.to_string(), node.state))
        );
    }
    if !graph.edges.is_empty() {
        out.push('\n');
    }
    for e in &graph.edges {
        let dashed = touches_absent(graph, e);
        let _ = writeln!(
            out,
            "  {} -> {} [label={}{}];",
            dot_quote(&e.from.to_string()),
            dot_quote(&e.to.to_string()),
            dot_quote(e.relation.as_str()),
            if dashed { ", style=dashed" } else { "" }
        );
    }
    out.push_str("}\n");
    out
}

// --------------------------------------------------------------------------------- Mermaid

/// Text inside a Mermaid quoted label. Mermaid ends the label at `"`, reads `#name;` as an
/// entity and may read `<...>` as HTML, so those characters are written as Mermaid's own
/// `#code;` entities; control characters become visible escapes.
fn mermaid_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '#' => out.push_str("#35;"),
            '&' => out.push_str("#amp;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '`' => out.push_str("#96;"),
            c if c.is_control() => push_control(&mut out, c),
            c => out.push(c),
        }
    }
    out
}

/// Mermaid shape delimiters per kind, matching the DOT shapes as closely as Mermaid allows.
fn mermaid_shape(node: &Node) -> (&'static str, &'static str) {
    match Kind::parse(&node.kind) {
        Some(Kind::Component) => ("(", ")"),
        Some(Kind::Api) => ("{{", "}}"),
        Some(Kind::Resource) => ("[(", ")]"),
        Some(Kind::System) => ("[[", "]]"),
        Some(Kind::Domain) => ("[/", "/]"),
        Some(Kind::Group) => ("[", "]"),
        Some(Kind::User) => ("([", "])"),
        None => ("[", "]"),
    }
}

/// The graph as a Mermaid flowchart. Mermaid IDs cannot hold arbitrary text, so nodes get
/// positional IDs (`n0`, `n1`, ... in reference order) and their names live in quoted labels.
/// Like the DOT, it shows namespaces in labels rather than as subgraphs.
pub fn mermaid(graph: &Graph, title: &str) -> String {
    let show_namespace = spans_namespaces(graph);
    let ids: BTreeMap<_, String> = graph
        .nodes
        .keys()
        .enumerate()
        .map(|(i, r)| (r, format!("n{i}")))
        .collect();
    let mut out = String::new();
    let _ = writeln!(out, "%% {}", one_line(title));
    out.push_str("flowchart LR\n");
    for (reference, node) in &graph.nodes {
        let (open, close) = mermaid_shape(node);
        let mut label = format!(
            "{}<br/>{}",
            mermaid_text(&kind_line(node, show_namespace)),
            mermaid_text(&node.name)
        );
        if let Some(note) = look(node.state).note {
            let _ = write!(label, "<br/><i>{note}</i>");
        }
        let _ = writeln!(out, "  {}{open}\"{label}\"{close}", ids[reference]);
    }
    for e in &graph.edges {
        let arrow = if touches_absent(graph, e) {
            "-.->"
        } else {
            "-->"
        };
        let _ = writeln!(
            out,
            "  {} {arrow}|{}| {}",
            ids[&e.from], e.relation, ids[&e.to]
        );
    }
    for state in states_used(graph) {
        let l = look(state);
        let extra = match state {
            NodeState::Entity(ReadyState::False) => ",stroke-width:2px",
            NodeState::Missing => ",stroke-dasharray:5 5,color:#777777",
            NodeState::NotRead => ",stroke-dasharray:2 2,color:#777777",
            NodeState::Entity(_) => "",
        };
        let _ = writeln!(
            out,
            "  classDef {} fill:{},stroke:{}{extra}",
            l.class, l.fill, l.stroke
        );
        let members: Vec<&str> = graph
            .nodes
            .iter()
            .filter(|(_, n)| n.state == state)
            .map(|(r, _)| ids[r].as_str())
            .collect();
        let _ = writeln!(out, "  class {} {}", members.join(","), l.class);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::model::Scope;
    use crate::model::{EntityRef, RelationType};

    fn node(kind: &str, namespace: &str, name: &str, state: NodeState) -> (EntityRef, Node) {
        (
            EntityRef {
                kind: kind.to_lowercase(),
                namespace: namespace.into(),
                name: name.into(),
            },
            Node {
                kind: kind.into(),
                namespace: namespace.into(),
                name: name.into(),
                state,
            },
        )
    }

    fn edge(from: &EntityRef, relation: RelationType, to: &EntityRef) -> Edge {
        Edge {
            from: from.clone(),
            relation,
            to: to.clone(),
        }
    }

    /// A Ready team owning a not-Ready component with no-status and missing neighbours, one of
    /// them with a name full of characters DOT and Mermaid treat specially.
    fn sample() -> Graph {
        let team = node("Group", "org", "team", NodeState::Entity(ReadyState::True));
        let web = node(
            "Component",
            "shop",
            "web",
            NodeState::Entity(ReadyState::False),
        );
        let new = node("API", "shop", "new", NodeState::Entity(ReadyState::Unknown));
        let odd = node(
            "Resource",
            "shop",
            "a:b/c.d \"q\" \\n <x>&#1;`",
            NodeState::Missing,
        );
        let far = node("System", "secret", "s", NodeState::NotRead);
        let edges = [
            edge(&team.0, RelationType::OwnerOf, &web.0),
            edge(&web.0, RelationType::DependsOn, &odd.0),
            edge(&web.0, RelationType::ProvidesApi, &new.0),
            edge(&far.0, RelationType::HasPart, &web.0),
        ];
        Graph {
            nodes: [team, web, new, odd, far].into_iter().collect(),
            edges: edges.into_iter().collect(),
        }
    }

    #[test]
    fn dot_has_one_styled_node_per_entity_and_one_edge_per_pair() {
        let text = dot(&sample(), "test");
        assert!(text.starts_with("// test\ndigraph catalog {\n"), "{text}");
        assert!(text.ends_with("}\n"));
        let team = text
            .lines()
            .find(|l| l.trim_start().starts_with("\"group:org/team\" ["))
            .unwrap();
        assert!(team.contains("shape=tab"), "{team}");
        assert!(team.contains("fillcolor=\"#e3f4dc\""), "{team}");
        assert!(
            !team.contains("not Ready") && !team.contains("dashed"),
            "{team}"
        );
        let web = text
            .lines()
            .find(|l| l.trim_start().starts_with("\"component:shop/web\" ["))
            .unwrap();
        assert!(web.contains("fillcolor=\"#fbe0dc\"") && web.contains("penwidth=2"));
        assert!(web.contains(">not Ready</font>"), "{web}");
        assert!(web.contains("style=\"filled,rounded\""), "{web}");
        let new = text
            .lines()
            .find(|l| l.contains("\"api:shop/new\" ["))
            .unwrap();
        assert!(
            new.contains("Ready unknown") && new.contains("#eeeeee"),
            "{new}"
        );
        let far = text
            .lines()
            .find(|l| l.contains("\"system:secret/s\" ["))
            .unwrap();
        assert!(far.contains("dotted") && far.contains("not read"), "{far}");
        // One line per node, in reference order; the graph spans namespaces, so labels name them.
        let nodes: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("tooltip="))
            .map(|l| l.trim().split(' ').next().unwrap())
            .collect();
        assert_eq!(
            nodes,
            [
                "\"api:shop/new\"",
                "\"component:shop/web\"",
                "\"group:org/team\"",
                "\"resource:shop/a:b/c.d",
                "\"system:secret/s\""
            ]
        );
        assert!(team.contains(">Group in org</font><br/>team>"), "{team}");
        let edges: Vec<&str> = text.lines().filter(|l| l.contains(" -> ")).collect();
        assert_eq!(edges.len(), 4);
        assert_eq!(
            edges[1].trim(),
            "\"component:shop/web\" -> \"api:shop/new\" [label=\"providesApi\"];"
        );
        // Edges touching absent nodes are dashed, whichever end is absent; the legend names the
        // states present.
        let dashed: Vec<&str> = edges
            .iter()
            .filter(|e| e.ends_with(", style=dashed];"))
            .map(|e| e.trim().split(" [").next().unwrap())
            .collect();
        assert_eq!(
            dashed,
            [
                "\"component:shop/web\" -> \"resource:shop/a:b/c.d \\\"q\\\" \\\\n <x>&#1;`\"",
                "\"system:secret/s\" -> \"component:shop/web\""
            ]
        );
        assert!(text.contains(
            "label=\"green: Ready   red: not Ready   grey: no Ready condition yet   dashed: missing (a dangling reference)   dotted: in a namespace that could not be read\""
        ));
    }

    #[test]
    fn labels_name_the_namespace_only_when_there_is_more_than_one() {
        let mut g = sample();
        g.nodes.retain(|r, _| r.namespace == "shop");
        g.edges
            .retain(|e| g.nodes.contains_key(&e.from) && g.nodes.contains_key(&e.to));
        let text = dot(&g, "t");
        assert!(text.contains(">Component</font><br/>web<br/>"), "{text}");
        assert!(!text.contains(" in shop"), "{text}");
        assert!(mermaid(&g, "t").contains("n1(\"Component<br/>web<br/><i>not Ready</i>\")"));
    }

    #[test]
    fn dot_escapes_ids_labels_and_tooltips() {
        let text = dot(&sample(), "around \"x\"\nnext");
        // The title cannot break out of its comment.
        assert!(text.starts_with("// around \"x\" next\n"));
        let odd = text
            .lines()
            .find(|l| l.contains("\"resource:shop/"))
            .unwrap();
        // The ID: quotes and backslashes escaped, everything else as is.
        assert!(
            odd.trim_start()
                .starts_with(r#""resource:shop/a:b/c.d \"q\" \\n <x>&#1;`" ["#),
            "{odd}"
        );
        // The HTML-like label: XML entities.
        assert!(
            odd.contains("<br/>a:b/c.d &quot;q&quot; \\n &lt;x&gt;&amp;#1;`<br/>"),
            "{odd}"
        );
        assert!(odd.contains("style=\"filled,dashed\""), "{odd}");
        // Control characters never reach the output raw.
        let mut g = sample();
        let (r, n) = node("User", "org", "tab\there\u{1}", NodeState::Missing);
        g.nodes.insert(r, n);
        let text = dot(&g, "t");
        assert!(text.contains(r#""user:org/tab\x09here\x01" ["#), "{text}");
        assert!(text.contains(r"<br/>tab\x09here\x01<br/>"), "{text}");
        assert!(mermaid(&g, "t").contains(r"<br/>tab\x09here\x01<br/>"));
        assert!(!text.chars().any(|c| c.is_control() && c != '\n'));
    }

    /// Balanced quotes per line is what a DOT parser needs to find where each string ends.
    #[test]
    fn every_dot_line_closes_its_strings() {
        for line in dot(&sample(), "t").lines() {
            let mut open = false;
            let mut chars = line.chars();
            while let Some(c) = chars.next() {
                match c {
                    '\\' if open => {
                        chars.next();
                    }
                    '"' => open = !open,
                    _ => {}
                }
            }
            assert!(!open, "unterminated string in {line}");
        }
    }

    #[test]
    fn mermaid_uses_positional_ids_escaped_labels_and_classes() {
        let text = mermaid(&sample(), "t");
        let expected = [
            "%% t",
            "flowchart LR",
            "  n0{{\"API in shop<br/>new<br/><i>Ready unknown</i>\"}}",
            "  n1(\"Component in shop<br/>web<br/><i>not Ready</i>\")",
            "  n2[\"Group in org<br/>team\"]",
            "  n3[(\"Resource in shop<br/>a:b/c.d #quot;q#quot; \\n #lt;x#gt;#amp;#35;1;#96;<br/><i>missing</i>\")]",
            "  n4[[\"System in secret<br/>s<br/><i>not read</i>\"]]",
            "  n1 -.->|dependsOn| n3",
            "  n1 -->|providesApi| n0",
            "  n2 -->|ownerOf| n1",
            "  n4 -.->|hasPart| n1",
            "  classDef ready fill:#e3f4dc,stroke:#4a8f3c",
            "  class n2 ready",
            "  classDef notReady fill:#fbe0dc,stroke:#c0392b,stroke-width:2px",
            "  class n1 notReady",
            "  classDef readyUnknown fill:#eeeeee,stroke:#888888",
            "  class n0 readyUnknown",
            "  classDef missing fill:#ffffff,stroke:#c0392b,stroke-dasharray:5 5,color:#777777",
            "  class n3 missing",
            "  classDef notRead fill:#ffffff,stroke:#888888,stroke-dasharray:2 2,color:#777777",
            "  class n4 notRead",
        ];
        assert_eq!(text.lines().collect::<Vec<_>>(), expected, "{text}");
    }

    #[test]
    fn an_empty_graph_renders() {
        let g = Graph::of_catalog(&[], &Scope::All);
        assert_eq!(
            dot(&g, "t"),
            format!(
                "// t\ndigraph catalog {{\n  graph [rankdir=LR, fontname=\"{FONT}\", fontsize=10, nodesep=0.2, ranksep=0.7, labelloc=b, label=\"\"];\n  node [fontname=\"{FONT}\", fontsize=11, penwidth=1.2, margin=\"0.16,0.05\"];\n  edge [fontname=\"{FONT}\", fontsize=9, color=\"#666666\", fontcolor=\"#444444\", arrowsize=0.7];\n}}\n"
            )
        );
        assert_eq!(mermaid(&g, "t"), "%% t\nflowchart LR\n");
    }
}
