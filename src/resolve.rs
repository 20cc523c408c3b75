//! `playbill resolve`: the operator's resolution, run offline over manifest files, so a catalog
//! can be checked in CI before it is applied.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::api::EntityStatus;

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("{path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: document {index}: {message}")]
    Document {
        path: String,
        /// 1-based, as people count documents in a file.
        index: usize,
        message: String,
    },
}

/// Every YAML file under `path` (a file itself, or a directory walked in name order).
fn yaml_files(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), ResolveError> {
    let err = |source| ResolveError::Read {
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

/// Reads `(source name, text)` for each input; `-` is stdin.
pub fn read_inputs(paths: &[String]) -> Result<Vec<(String, String)>, ResolveError> {
    let mut out = Vec::new();
    for p in paths {
        if p == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|source| ResolveError::Read {
                    path: "-".into(),
                    source,
                })?;
            out.push(("-".to_owned(), text));
            continue;
        }
        let mut files = Vec::new();
        yaml_files(Path::new(p), &mut files)?;
        for f in files {
            let text = std::fs::read_to_string(&f).map_err(|source| ResolveError::Read {
                path: f.display().to_string(),
                source,
            })?;
            out.push((f.display().to_string(), text));
        }
    }
    Ok(out)
}

/// Resolves every catalog object in `inputs` and returns each entity's status, keyed by its
/// canonical reference. Objects without a namespace go to `default_namespace`.
pub fn resolve(
    inputs: &[(String, String)],
    default_namespace: &str,
    max_relations_per_type: usize,
    now: &Time,
) -> Result<BTreeMap<String, EntityStatus>, ResolveError> {
    let objects =
        crate::catalog::from_manifests(inputs, default_namespace, max_relations_per_type, now)?;
    Ok(objects
        .into_iter()
        .filter_map(|o| Some((o.entity_ref().to_string(), o.status?)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_a_small_catalog_from_text() {
        let text = r#"
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: catalog.playbill.dev/v1alpha1
kind: Component
metadata: {name: web, namespace: shop}
spec: {type: website, lifecycle: production, owner: team-a, dependsOn: ["component:api"]}
---
apiVersion: catalog.playbill.dev/v1alpha1
kind: Group
metadata: {name: team-a}
spec: {type: team, children: []}
"#;
        let now = Time(Default::default());
        let out = resolve(&[("t.yaml".into(), text.into())], "shop", 1000, &now).unwrap();
        assert_eq!(
            out.keys().collect::<Vec<_>>(),
            ["component:shop/web", "group:shop/team-a"]
        );
        let web = &out["component:shop/web"];
        assert_eq!(web.conditions[0].reason, "UnresolvedReferences");
        assert_eq!(web.unresolved_refs[0].target_ref, "component:shop/api");
        assert_eq!(
            out["group:shop/team-a"].relations[0].target_ref,
            "component:shop/web"
        );
    }

    #[test]
    fn a_document_that_does_not_fit_the_schema_names_file_index_and_field() {
        let text = "apiVersion: catalog.playbill.dev/v1alpha1\nkind: Component\nmetadata: {name: x}\nspec: {type: service, lifecycle: production}\n";
        let err = resolve(
            &[("bad.yaml".into(), text.into())],
            "d",
            1000,
            &Time(Default::default()),
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("bad.yaml: document 1:") && msg.contains("owner"),
            "{msg}"
        );
    }
}
