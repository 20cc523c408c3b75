//! YAML output that every reader takes back as the same data.
//!
//! kubectl reads YAML 1.1 (through go-yaml), where `on`, `yes`, `n` and `1_000` are not strings;
//! Backstage reads YAML 1.2. A generic emitter writes such strings bare, so `name: on` would reach
//! the API server as a boolean. This writer quotes every string that is not plainly a string to
//! both, and writes keys in the order people read manifests in.

use serde_json::Value;

/// Keys that come first, in this order; all others follow alphabetically.
const KEY_ORDER: [&str; 19] = [
    "apiVersion",
    "kind",
    "metadata",
    "spec",
    "relations",
    "status",
    "name",
    "namespace",
    "uid",
    "etag",
    "title",
    "description",
    "labels",
    "annotations",
    "tags",
    "links",
    "type",
    "targetRef",
    "url",
];

/// A multi-document stream, each document introduced by `---`.
pub fn documents<'a>(docs: impl IntoIterator<Item = &'a Value>) -> String {
    let mut out = String::new();
    for d in docs {
        out.push_str("---\n");
        write_value(d, 0, &mut out);
    }
    out
}

fn write_value(v: &Value, indent: usize, out: &mut String) {
    match v {
        Value::Object(m) if !m.is_empty() => write_map(v, indent, out),
        Value::Array(a) if !a.is_empty() => write_list(a, indent, out),
        other => {
            out.push_str(&scalar(other, indent));
            out.push('\n');
        }
    }
}

fn ordered(v: &Value) -> Vec<(&String, &Value)> {
    let mut entries: Vec<(&String, &Value)> = v.as_object().into_iter().flatten().collect();
    let rank = |k: &str| {
        KEY_ORDER
            .iter()
            .position(|o| *o == k)
            .unwrap_or(KEY_ORDER.len())
    };
    entries.sort_by(|(a, _), (b, _)| rank(a).cmp(&rank(b)).then_with(|| a.cmp(b)));
    entries
}

fn is_nested(v: &Value) -> bool {
    matches!(v, Value::Object(m) if !m.is_empty()) || matches!(v, Value::Array(a) if !a.is_empty())
}

fn write_map(v: &Value, indent: usize, out: &mut String) {
    for (i, (k, val)) in ordered(v).into_iter().enumerate() {
        // The first key of a map inside a list item continues the `- ` line.
        if i > 0 || !out.ends_with("- ") {
            out.push_str(&" ".repeat(indent));
        }
        match plain(k) {
            true => out.push_str(k),
            false => out.push_str(&serde_json::to_string(k).unwrap_or_default()),
        }
        out.push(':');
        match val {
            Value::Object(m) if !m.is_empty() => {
                out.push('\n');
                write_map(val, indent + 2, out);
            }
            Value::Array(a) if !a.is_empty() => {
                out.push('\n');
                write_list(a, indent, out);
            }
            _ => {
                out.push(' ');
                out.push_str(&scalar(val, indent + 2));
                out.push('\n');
            }
        }
    }
}

fn write_list(items: &[Value], indent: usize, out: &mut String) {
    for item in items {
        out.push_str(&" ".repeat(indent));
        out.push_str("- ");
        if is_nested(item) {
            if item.is_array() {
                out.push('\n');
                write_value(item, indent + 2, out);
            } else {
                write_map(item, indent + 2, out);
            }
        } else {
            out.push_str(&scalar(item, indent + 2));
            out.push('\n');
        }
    }
}

fn scalar(v: &Value, indent: usize) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => string(s, indent),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

/// Words that YAML 1.1 or 1.2 reads as booleans or null, in any case.
const RESERVED: [&str; 12] = [
    "y", "yes", "n", "no", "true", "false", "on", "off", "null", "~", "=", "<<",
];

/// Whether `s` can be written bare and still read back as this string by YAML 1.1 and 1.2
/// readers: it starts with a letter (so it is no number, date or indicator), holds only letters,
/// digits and `_ . / : @ -` and inner spaces, has no `: ` or trailing `:`, and is no reserved word.
fn plain(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || " _./:@-".contains(c))
        && !s.ends_with(' ')
        && !s.ends_with(':')
        && !s.contains(": ")
        && !s.contains("  ")
        && !RESERVED.contains(&s.to_ascii_lowercase().as_str())
}

fn string(s: &str, indent: usize) -> String {
    if plain(s) {
        return s.to_owned();
    }
    // Text over several lines reads best as a literal block, when the block keeps it exactly.
    let block_ok = s.contains('\n')
        && !s.starts_with([' ', '\n'])
        && s.chars().all(|c| c == '\n' || c == '\t' || !c.is_control());
    if block_ok {
        let body = s.trim_end_matches('\n');
        let trailing = s.len() - body.len();
        let chomp = match trailing {
            0 => "|-",
            1 => "|",
            _ => "|+",
        };
        let pad = " ".repeat(indent.max(2));
        let mut out = chomp.to_owned();
        for line in body.split('\n') {
            out.push('\n');
            if !line.is_empty() {
                out.push_str(&pad);
                out.push_str(line);
            }
        }
        for _ in 1..trailing {
            out.push('\n');
        }
        return out;
    }
    // JSON's escapes are valid in a YAML double-quoted string.
    serde_json::to_string(s).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(yaml: &str) -> Vec<Value> {
        crate::manifest::documents("test", yaml)
            .map(|(_, v)| v.unwrap())
            .collect()
    }

    #[test]
    fn strings_that_yaml_1_1_reads_otherwise_are_quoted() {
        for s in [
            "on",
            "Yes",
            "n",
            "NO",
            "off",
            "~",
            "null",
            "1_000",
            "0o644",
            "08",
            "1e3",
            ".5",
            "2001-12-14",
            "+1",
            "-",
            "",
            " x",
            "x ",
            "a: b",
            "a:",
            "#x",
            "[x]",
            "{x}",
            "*x",
            "&x",
            "!x",
            "|",
            ">",
            "%x",
            "@x",
            "`x",
            "'x",
            "\"x",
            "x #y",
            "=",
            "<<",
        ] {
            let yaml = documents(&[json!({ "k": s })]);
            assert!(
                yaml.contains(&serde_json::to_string(s).unwrap()),
                "{s:?} must be quoted: {yaml}"
            );
            assert_eq!(read(&yaml), [json!({ "k": s })], "{yaml}");
        }
        for s in [
            "team-a",
            "dir:.",
            "https://example.com/x",
            "backstage.io/techdocs-ref",
            "a b",
        ] {
            assert_eq!(documents(&[json!({ "k": s })]), format!("---\nk: {s}\n"));
        }
    }

    #[test]
    fn layout_round_trips() {
        let v = json!({
            "spec": {"owner": "team-a", "dependsOn": ["resource:db", "component:x"], "empty": [],
                     "nested": [{"a": 1, "b": [true, null]}, [1, 2], {}], "obj": {}},
            "metadata": {"name": "on", "annotations": {"yes": "no"}},
            "apiVersion": "v1", "kind": "X",
            "text": "line 1\n  indented\n\nlast\n", "strip": "a\nb", "keep": "a\n\n\n",
            "lead": " a\nb", "cr": "a\r\nb", "num": 1.5, "big": 12345678901_i64,
        });
        let yaml = documents(&[v.clone(), json!([])]);
        assert!(
            yaml.starts_with("---\napiVersion: v1\nkind: X\nmetadata:\n  name: \"on\"\n"),
            "{yaml}"
        );
        assert!(
            yaml.contains("text: |\n  line 1\n    indented\n\n  last\n"),
            "{yaml}"
        );
        assert_eq!(read(&yaml), [v, json!([])], "{yaml}");
    }
}
