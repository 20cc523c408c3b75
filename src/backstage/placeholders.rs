//! Backstage's placeholders in catalog files: `{$text: ./file}`, `{$json: ./file}` and
//! `{$yaml: ./file}` replaced by the file's text, or its JSON or YAML data, the way Backstage's
//! `PlaceholderProcessor` does before it reads an entity:
//!
//! - anywhere in the document, in mappings and lists;
//! - only a mapping whose single key is `$text`, `$json` or `$yaml` is a placeholder; a mapping
//!   with a `$` key and other keys, or an unknown `$` key, is left as it is, and so is everything
//!   inside it;
//! - the value must be a string, a path relative to the file holding the entity;
//! - what a placeholder brings in is not searched for placeholders again;
//! - `$yaml` needs exactly one document; `$text` reads UTF-8 (invalid bytes become U+FFFD).
//!
//! Unlike Backstage, nothing is fetched over the network: a URL is refused, naming the field, and
//! so is a path that leaves the directories being imported. The walk is pure; reading files is
//! behind [`Files`], whose disk implementation, [`DiskFiles`], is at the end of this module.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::api::validate::FieldError;

/// Where placeholders read from.
pub trait Files {
    /// The file that `path`, written in the input `from`, names (an identity that is the same
    /// however the file is named), or why it cannot be read.
    fn locate(&self, from: &str, path: &str) -> Result<PathBuf, String>;
    /// The bytes of a located file.
    fn read(&self, file: &Path) -> Result<Vec<u8>, String>;
    /// The identity of the input file named `input`, to tell a placeholder's target among the
    /// inputs; None for standard input.
    fn identify(&self, input: &str) -> Option<PathBuf>;
}

/// No files at all: every placeholder is refused. For callers that import texts, not files.
pub struct NoFiles;

impl Files for NoFiles {
    fn locate(&self, _from: &str, path: &str) -> Result<PathBuf, String> {
        Err(format!("{path}: no files can be read here"))
    }
    fn read(&self, file: &Path) -> Result<Vec<u8>, String> {
        Err(format!("{}: no files can be read here", file.display()))
    }
    fn identify(&self, _input: &str) -> Option<PathBuf> {
        None
    }
}

const RESOLVERS: [&str; 3] = ["text", "json", "yaml"];

/// Resolves every placeholder in `doc`, read from the input `from`. Returns the problems (the
/// document is then not to be used) and adds the files it read to `read`.
pub fn resolve(
    doc: &mut Value,
    from: &str,
    files: &dyn Files,
    read: &mut BTreeSet<PathBuf>,
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    walk(doc, "", from, files, read, &mut errors);
    errors
}

fn join(path: &str, key: &str) -> String {
    match path {
        "" => key.to_owned(),
        _ => format!("{path}.{key}"),
    }
}

fn walk(
    value: &mut Value,
    path: &str,
    from: &str,
    files: &dyn Files,
    read: &mut BTreeSet<PathBuf>,
    errors: &mut Vec<FieldError>,
) {
    match value {
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                walk(item, &format!("{path}[{i}]"), from, files, read, errors);
            }
        }
        Value::Object(map) => {
            if !map.keys().any(|k| k.starts_with('$')) {
                for (k, v) in map.iter_mut() {
                    walk(v, &join(path, k), from, files, read, errors);
                }
                return;
            }
            let Some((key, arg)) = map.iter().next().filter(|_| map.len() == 1) else {
                return;
            };
            let resolver = &key[1..];
            if !RESOLVERS.contains(&resolver) {
                return;
            }
            let field = if path.is_empty() { "document" } else { path };
            match placeholder(resolver, arg, from, files, read) {
                Ok(resolved) => *value = resolved,
                Err(message) => errors.push(FieldError {
                    path: field.to_owned(),
                    message,
                }),
            }
        }
        _ => {}
    }
}

/// Whether `s` starts with a URL scheme (`https:`, `file:`, ...), as RFC 3986 spells one.
fn is_url(s: &str) -> bool {
    let Some((scheme, _)) = s.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

fn placeholder(
    resolver: &str,
    arg: &Value,
    from: &str,
    files: &dyn Files,
    read: &mut BTreeSet<PathBuf>,
) -> Result<Value, String> {
    let Some(target) = arg.as_str() else {
        return Err(format!(
            "placeholder ${resolver} expected a string value parameter, a path relative to this file"
        ));
    };
    if is_url(target) {
        return Err(format!(
            "placeholder ${resolver} names the URL {target:?}; playbill import reads no network: save the file next to the entity and name it by a relative path"
        ));
    }
    let file = files
        .locate(from, target)
        .map_err(|e| format!("placeholder ${resolver} could not read {target:?}: {e}"))?;
    let bytes = files
        .read(&file)
        .map_err(|e| format!("placeholder ${resolver} could not read {target:?}: {e}"))?;
    read.insert(file);
    let content = String::from_utf8_lossy(&bytes);
    match resolver {
        "json" => serde_json::from_str(&content)
            .map_err(|e| format!("placeholder $json failed to parse JSON data at {target:?}: {e}")),
        "yaml" => {
            let mut documents = Vec::new();
            for doc in serde_norway::Deserializer::from_str(&content) {
                let doc = Value::deserialize(doc).map_err(|e| {
                    format!("placeholder $yaml failed to parse YAML data at {target:?}: {e}")
                })?;
                documents.push(doc);
            }
            if documents.len() != 1 {
                return Err(format!(
                    "placeholder $yaml expected to find exactly one document of data at {target:?}, found {}",
                    documents.len()
                ));
            }
            Ok(documents.remove(0))
        }
        _ => Ok(Value::String(content.into_owned())),
    }
}

/// The files on disk, confined to the imported paths: a placeholder may name a file under the
/// directory it was imported from (the directory given, or the directory of a file given), and
/// nothing outside it, symbolic links resolved.
pub struct DiskFiles {
    roots: Vec<PathBuf>,
}

impl DiskFiles {
    /// For the paths given to `playbill import` (`-` is standard input and has no directory).
    pub fn new(paths: &[String]) -> DiskFiles {
        let roots = paths
            .iter()
            .filter(|p| *p != "-")
            .filter_map(|p| std::fs::canonicalize(p).ok())
            .filter_map(|p| match p.is_dir() {
                true => Some(p),
                false => p.parent().map(Path::to_path_buf),
            })
            .collect();
        DiskFiles { roots }
    }
}

impl Files for DiskFiles {
    fn locate(&self, from: &str, path: &str) -> Result<PathBuf, String> {
        if from == "-" {
            return Err(
                "standard input is in no directory to find it in; import the file itself".into(),
            );
        }
        let holder = std::fs::canonicalize(from).map_err(|e| format!("{from}: {e}"))?;
        let base = holder.parent().unwrap_or(Path::new("/"));
        let file = std::fs::canonicalize(base.join(path)).map_err(|e| e.to_string())?;
        let inside = self
            .roots
            .iter()
            .any(|root| holder.starts_with(root) && file.starts_with(root));
        match inside {
            true => Ok(file),
            false => Err(format!(
                "{} is outside the directory being imported",
                file.display()
            )),
        }
    }

    fn read(&self, file: &Path) -> Result<Vec<u8>, String> {
        if !file.is_file() {
            return Err(format!("{} is not a file", file.display()));
        }
        std::fs::read(file).map_err(|e| e.to_string())
    }

    fn identify(&self, input: &str) -> Option<PathBuf> {
        (input != "-")
            .then(|| std::fs::canonicalize(input).ok())
            .flatten()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;

    /// Files in memory, under `/repo`, named relative to the directory of the input.
    struct Memory(BTreeMap<&'static str, &'static [u8]>);

    impl Files for Memory {
        fn locate(&self, from: &str, path: &str) -> Result<PathBuf, String> {
            let base = Path::new(from).parent().unwrap();
            let mut out = PathBuf::new();
            for part in base.join(path).components() {
                match part {
                    std::path::Component::ParentDir => {
                        out.pop();
                    }
                    std::path::Component::CurDir => {}
                    other => out.push(other),
                }
            }
            match out.starts_with("/repo") {
                true => Ok(out),
                false => Err(format!(
                    "{} is outside the directory being imported",
                    out.display()
                )),
            }
        }
        fn read(&self, file: &Path) -> Result<Vec<u8>, String> {
            self.0
                .get(file.to_str().unwrap())
                .map(|b| b.to_vec())
                .ok_or_else(|| "No such file or directory (os error 2)".into())
        }
        fn identify(&self, input: &str) -> Option<PathBuf> {
            Some(PathBuf::from(input))
        }
    }

    fn files() -> Memory {
        Memory(BTreeMap::from([
            (
                "/repo/apis/openapi.yaml",
                &b"openapi: 3.0.3\ninfo: {title: x}\n"[..],
            ),
            (
                "/repo/apis/data.json",
                b"{\"a\": [1, {\"$text\": \"./x\"}]}",
            ),
            ("/repo/apis/two.yaml", b"a: 1\n---\nb: 2\n"),
            ("/repo/apis/bad.json", b"{nope"),
            ("/repo/shared/notes.md", b"caf\xc3\xa9 \xff"),
        ]))
    }

    fn run(mut doc: Value) -> (Value, Vec<String>, BTreeSet<PathBuf>) {
        let mut read = BTreeSet::new();
        let errors = resolve(
            &mut doc,
            "/repo/apis/catalog-info.yaml",
            &files(),
            &mut read,
        );
        let errors = errors
            .into_iter()
            .map(|e| format!("{}: {}", e.path, e.message))
            .collect();
        (doc, errors, read)
    }

    #[test]
    fn text_json_and_yaml_are_read_relative_to_the_entity_file() {
        let (doc, errors, read) = run(json!({
            "kind": "API",
            "spec": {
                "definition": {"$text": "./openapi.yaml"},
                "parsed": {"$yaml": "openapi.yaml"},
                "list": [{"$json": "./data.json"}, "plain"],
                "notes": {"$text": "../shared/notes.md"},
            },
        }));
        assert_eq!(errors, Vec::<String>::new());
        assert_eq!(
            doc["spec"]["definition"],
            "openapi: 3.0.3\ninfo: {title: x}\n"
        );
        assert_eq!(
            doc["spec"]["parsed"],
            json!({"openapi": "3.0.3", "info": {"title": "x"}})
        );
        // What a placeholder brings in is not resolved again.
        assert_eq!(
            doc["spec"]["list"],
            json!([{"a": [1, {"$text": "./x"}]}, "plain"])
        );
        // Invalid UTF-8 becomes U+FFFD, as Buffer.toString('utf-8') does.
        assert_eq!(doc["spec"]["notes"], "café \u{fffd}");
        assert_eq!(read.len(), 3);
        assert!(read.contains(Path::new("/repo/apis/openapi.yaml")));
    }

    #[test]
    fn only_a_single_known_dollar_key_is_a_placeholder() {
        let untouched = json!({
            "spec": {
                "two": {"$text": "./openapi.yaml", "other": 1},
                "unknown": {"$file": "./openapi.yaml"},
                "nested": {"$text": "./openapi.yaml", "$json": "./data.json"},
                "inside": {"$ref": "x", "deeper": {"$text": "./openapi.yaml"}},
            }
        });
        let (doc, errors, read) = run(untouched.clone());
        assert_eq!(errors, Vec::<String>::new());
        assert_eq!(doc, untouched);
        assert!(read.is_empty());
    }

    #[test]
    fn problems_name_the_field() {
        let (_, errors, _) = run(json!({
            "metadata": {"description": {"$text": "https://example.com/x.md"}},
            "spec": {
                "definition": {"$text": "../../etc/passwd"},
                "n": {"$text": 42},
                "missing": [{"$yaml": "./nope.yaml"}],
                "two": {"$yaml": "./two.yaml"},
                "bad": {"$json": "./bad.json"},
            }
        }));
        let expect = [
            "metadata.description: placeholder $text names the URL \"https://example.com/x.md\"; playbill import reads no network",
            "spec.bad: placeholder $json failed to parse JSON data at \"./bad.json\"",
            "spec.definition: placeholder $text could not read \"../../etc/passwd\": /etc/passwd is outside the directory being imported",
            "spec.missing[0]: placeholder $yaml could not read \"./nope.yaml\": No such file",
            "spec.n: placeholder $text expected a string value parameter",
            "spec.two: placeholder $yaml expected to find exactly one document of data at \"./two.yaml\", found 2",
        ];
        assert_eq!(errors.len(), expect.len(), "{errors:#?}");
        for (got, want) in errors.iter().zip(expect) {
            assert!(
                got.starts_with(want),
                "{got}\n  does not start with\n{want}"
            );
        }
    }

    #[test]
    fn a_placeholder_at_the_top_is_a_document_error() {
        let mut doc = json!({"$yaml": "./openapi.yaml"});
        let mut read = BTreeSet::new();
        let errors = resolve(&mut doc, "-", &DiskFiles::new(&[]), &mut read);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].path, "document");
        assert!(errors[0].message.contains("standard input"), "{errors:?}");
    }

    #[test]
    fn urls_are_told_from_paths() {
        for url in ["https://x/y", "http://x", "file:///etc/x", "git+ssh://x"] {
            assert!(is_url(url), "{url}");
        }
        for path in ["./a.yaml", "a.yaml", "../a:b.yaml", "/abs/a.yaml", "1x:y"] {
            assert!(!is_url(path), "{path}");
        }
    }

    #[test]
    fn disk_files_stay_inside_the_imported_directory() {
        let dir =
            std::env::temp_dir().join(format!("playbill-placeholders-{}", std::process::id()));
        let repo = dir.join("repo");
        std::fs::create_dir_all(repo.join("apis")).unwrap();
        std::fs::write(repo.join("apis/catalog-info.yaml"), "kind: API\n").unwrap();
        std::fs::write(repo.join("apis/openapi.yaml"), "openapi: 3.0.3\n").unwrap();
        std::fs::write(dir.join("secret.txt"), "secret").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(dir.join("secret.txt"), repo.join("apis/link.txt")).unwrap();

        let holder = repo.join("apis/catalog-info.yaml").display().to_string();
        let files = DiskFiles::new(&[repo.display().to_string()]);
        let found = files.locate(&holder, "./openapi.yaml").unwrap();
        assert_eq!(files.read(&found).unwrap(), b"openapi: 3.0.3\n");
        assert_eq!(
            files.identify(&repo.join("apis/openapi.yaml").display().to_string()),
            Some(found)
        );
        let outside = files.locate(&holder, "../../secret.txt").unwrap_err();
        assert!(outside.contains("outside"), "{outside}");
        #[cfg(unix)]
        assert!(
            files
                .locate(&holder, "./link.txt")
                .unwrap_err()
                .contains("outside")
        );
        assert!(files.read(&repo.join("apis")).is_err());
        // Importing the file alone confines placeholders to its directory.
        let files = DiskFiles::new(std::slice::from_ref(&holder));
        assert!(files.locate(&holder, "./openapi.yaml").is_ok());
        assert!(files.locate(&holder, "../apis/openapi.yaml").is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
