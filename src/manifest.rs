//! Reading manifest files: the one place that turns paths (files, walked directories, `-` for
//! stdin) into texts, and texts into YAML documents. A leaf: it knows nothing of catalog kinds, so
//! `resolve`, `export -f`, `graph -f` and `import` all read input the same way.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

/// An input read in full: its name as the user wrote it (or the walked file's path) and its text.
pub type Input = (String, String);

/// Why manifests could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{document}: {message}")]
    Document { document: Source, message: String },
}

impl ManifestError {
    /// A document that was read but cannot be used, for the reason `message`.
    pub fn document(source: &Source, message: impl Into<String>) -> ManifestError {
        ManifestError::Document {
            document: source.clone(),
            message: message.into(),
        }
    }
}

/// Where a document came from: its input (file or `-`) and its 1-based position in it, as
/// people count documents.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Source {
    pub path: String,
    pub document: usize,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: document {}", self.path, self.document)
    }
}

/// Every YAML file under `path` (a file itself, or a directory walked in name order).
fn yaml_files(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), ManifestError> {
    let err = |source| ManifestError::Read {
        path: path.display().to_string(),
        source,
    };
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(err)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() || p.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                yaml_files(&p, out)?;
            }
        }
    } else {
        out.push(path.to_owned());
    }
    Ok(())
}

/// Reads each of `paths`: a file, a directory (its *.yaml and *.yml files, walked in name
/// order), or `-` for stdin.
pub fn read_inputs(paths: &[String]) -> Result<Vec<Input>, ManifestError> {
    let mut out = Vec::new();
    for p in paths {
        if p == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|source| ManifestError::Read {
                    path: "-".into(),
                    source,
                })?;
            out.push(("-".to_owned(), text));
            continue;
        }
        let mut files = Vec::new();
        yaml_files(Path::new(p), &mut files)?;
        for f in files {
            let text = std::fs::read_to_string(&f).map_err(|source| ManifestError::Read {
                path: f.display().to_string(),
                source,
            })?;
            out.push((f.display().to_string(), text));
        }
    }
    Ok(out)
}

/// The YAML documents of `text` (named `path` in messages), empty ones included as `Null`.
/// After a document that is not valid YAML nothing more is yielded: the parser cannot find the
/// next document boundary reliably, so the rest of the input is unreadable.
pub fn documents<'a>(
    path: &'a str,
    text: &'a str,
) -> impl Iterator<Item = (Source, Result<Value, String>)> + 'a {
    let mut failed = false;
    serde_norway::Deserializer::from_str(text)
        .enumerate()
        .map_while(move |(i, doc)| {
            if failed {
                return None;
            }
            let source = Source {
                path: path.to_owned(),
                document: i + 1,
            };
            let value = Value::deserialize(doc).map_err(|e| e.to_string());
            failed = value.is_err();
            Some((source, value))
        })
}

/// Every non-empty document of every input, or the first that is not valid YAML.
pub fn values(inputs: &[Input]) -> Result<Vec<(Source, Value)>, ManifestError> {
    let mut out = Vec::new();
    for (path, text) in inputs {
        for (source, value) in documents(path, text) {
            match value {
                Ok(Value::Null) => {}
                Ok(v) => out.push((source, v)),
                Err(message) => {
                    return Err(ManifestError::Document {
                        document: source,
                        message,
                    });
                }
            }
        }
    }
    Ok(out)
}

/// Where each field of one YAML document is written: the 1-based line of every path
/// (`spec.tags[2]`, `metadata.name`, `` for the document itself).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldLines {
    lines: std::collections::HashMap<String, usize>,
    start: usize,
    /// Where the document stops being YAML, if it does.
    pub error_line: Option<usize>,
}

impl FieldLines {
    /// The line of `path`, or of its nearest written ancestor (a missing required field is
    /// reported where its parent is), or of the document's start.
    pub fn line(&self, path: &str) -> usize {
        let mut path = path;
        loop {
            if let Some(l) = self.lines.get(path) {
                return *l;
            }
            match path.rfind(['.', '[']) {
                Some(i) => path = &path[..i],
                None => return self.start,
            }
        }
    }
}

/// One open mapping or sequence while walking a document's events.
enum Open {
    Map { path: String, key: Option<String> },
    Seq { path: String, next: usize },
}

/// The [`FieldLines`] of every document in `text`, in order. A document the parser cannot read
/// ends the list (as [`documents`] ends there too); keys that are not plain scalars are skipped.
pub fn field_lines(text: &str) -> Vec<FieldLines> {
    use saphyr_parser::{Event, Parser};
    let mut docs = Vec::new();
    let mut stack: Vec<Open> = Vec::new();
    let mut current = FieldLines::default();
    for item in Parser::new_from_str(text) {
        let (event, span) = match item {
            Ok(e) => e,
            Err(e) => {
                current.error_line = Some(e.marker().line());
                docs.push(current);
                break;
            }
        };
        let line = span.start.line();
        // The path of the node this event starts, if it is a value (not a mapping key).
        let mut node_path = |stack: &mut Vec<Open>, key: Option<&str>| -> Option<String> {
            match stack.last_mut() {
                None => Some(String::new()),
                Some(Open::Seq { path, next }) => {
                    *next += 1;
                    Some(format!("{path}[{}]", *next - 1))
                }
                Some(Open::Map { path, key: pending }) => match pending.take() {
                    Some(k) => Some(if path.is_empty() {
                        k
                    } else {
                        format!("{path}.{k}")
                    }),
                    None => {
                        // A key: remember it, and where it is written.
                        let k = key.unwrap_or("?").to_owned();
                        let full = if path.is_empty() {
                            k.clone()
                        } else {
                            format!("{path}.{k}")
                        };
                        current.lines.entry(full).or_insert(line);
                        *pending = Some(k);
                        None
                    }
                },
            }
        };
        match event {
            Event::DocumentStart(_) => {
                current = FieldLines {
                    start: line,
                    ..FieldLines::default()
                };
                stack.clear();
            }
            Event::DocumentEnd => docs.push(std::mem::take(&mut current)),
            Event::Scalar(value, ..) => {
                if let Some(p) = node_path(&mut stack, Some(&value)) {
                    current.lines.entry(p).or_insert(line);
                }
            }
            Event::Alias(_) => {
                if let Some(p) = node_path(&mut stack, None) {
                    current.lines.entry(p).or_insert(line);
                }
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                let is_map = matches!(event, Event::MappingStart(..));
                let path = match node_path(&mut stack, None) {
                    Some(p) => {
                        current.lines.entry(p.clone()).or_insert(line);
                        p
                    }
                    // A mapping or sequence as a key: its contents get paths under "?".
                    None => "?".to_owned(),
                };
                stack.push(match is_map {
                    true => Open::Map { path, key: None },
                    false => Open::Seq { path, next: 0 },
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                stack.pop();
            }
            _ => {}
        }
    }
    docs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_numbered_from_one_and_empty_ones_kept() {
        let docs: Vec<_> = documents("f.yaml", "a: 1\n---\n---\nb: 2\n").collect();
        let got: Vec<_> = docs
            .iter()
            .map(|(s, v)| (s.to_string(), v.clone().unwrap()))
            .collect();
        assert_eq!(
            got,
            [
                ("f.yaml: document 1".to_owned(), serde_json::json!({"a": 1})),
                ("f.yaml: document 2".to_owned(), Value::Null),
                ("f.yaml: document 3".to_owned(), serde_json::json!({"b": 2})),
            ]
        );
    }

    #[test]
    fn nothing_after_a_document_that_is_not_yaml() {
        let docs: Vec<_> = documents("f", "a: 1\n---\na: [\n---\nb: 2\n").collect();
        assert_eq!(docs.len(), 2, "{docs:?}");
        assert!(docs[1].1.is_err());
        let err = values(&[("f".into(), "a: 1\n---\na: [\n".into())]).unwrap_err();
        assert!(err.to_string().starts_with("f: document 2: "), "{err}");
        assert_eq!(
            values(&[("f".into(), "---\nx: y\n".into())]).unwrap().len(),
            1
        );
    }

    #[test]
    fn field_lines_point_at_keys_and_items() {
        let text = "a: 1\n---\n# c\napiVersion: v1\nspec:\n  tags:\n    - x\n    - y\n  links: [{url: u}]\n  m: {k: v}\n---\n";
        let docs = field_lines(text);
        assert_eq!(docs.len(), 3, "{docs:?}");
        assert_eq!(docs[0].line("a"), 1);
        let d = &docs[1];
        assert_eq!(d.line("apiVersion"), 4);
        assert_eq!(d.line("spec"), 5);
        assert_eq!(d.line("spec.tags"), 6);
        assert_eq!(d.line("spec.tags[1]"), 8);
        assert_eq!(d.line("spec.links[0].url"), 9);
        assert_eq!(d.line("spec.m.k"), 10);
        // Missing: the nearest ancestor that is written.
        assert_eq!(d.line("spec.owner"), 5);
        assert_eq!(d.line("spec.tags[7]"), 6);
        assert_eq!(d.line("metadata.name"), 2);
        assert_eq!(docs[2].line("x"), 11);
        let broken = field_lines("a: 1\n---\nb: [\n");
        assert_eq!(broken.len(), 2);
        assert_eq!(broken[1].error_line, Some(4));
    }

    #[test]
    fn directories_are_walked_in_name_order_for_yaml_files_only() {
        let dir = std::env::temp_dir().join(format!("playbill-manifest-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        for (name, text) in [
            ("b.yaml", "b"),
            ("a.yml", "a"),
            ("sub/c.yaml", "c"),
            ("x.txt", "x"),
        ] {
            std::fs::write(dir.join(name), text).unwrap();
        }
        let got = read_inputs(&[dir.display().to_string()]);
        std::fs::remove_dir_all(&dir).unwrap();
        let texts: Vec<String> = got.unwrap().into_iter().map(|(_, t)| t).collect();
        assert_eq!(texts, ["a", "b", "c"]);
        let missing = read_inputs(&["/nonexistent/playbill.yaml".into()]).unwrap_err();
        assert!(
            missing
                .to_string()
                .starts_with("/nonexistent/playbill.yaml: ")
        );
    }
}
