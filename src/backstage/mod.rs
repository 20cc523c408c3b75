//! The bridge to Backstage: `playbill import` turns catalog-info.yaml files into Playbill
//! manifests, `playbill export` (and the operator's HTTP export) turns the catalog back into
//! Backstage entities. Texts and objects in, texts and objects out: reading files and the
//! cluster, and talking to the user, is the CLI's part.

pub mod export;
pub mod import;
pub mod mapping;
pub mod names;
pub mod placeholders;

use crate::api::validate::is_dns_label;

/// Arguments of `playbill import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// Backstage catalog files or directories (walked for *.yaml and *.yml); `-` reads stdin.
    #[arg(required = true)]
    pub paths: Vec<String>,
    /// The Kubernetes namespace for Backstage's `default` namespace (the same as
    /// `--map-namespace default=NS`).
    #[arg(long, short = 'n', value_parser = namespace_arg)]
    pub namespace: Option<String>,
    /// Put the entities of Backstage namespace FROM into Kubernetes namespace TO; repeatable.
    #[arg(long, value_name = "FROM=TO", value_parser = mapping_arg)]
    pub map_namespace: Vec<(String, String)>,
    /// Do not print Namespace manifests for the namespaces the entities need.
    #[arg(long)]
    pub skip_namespaces: bool,
}

/// Arguments of `playbill export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Output format: YAML documents, or one JSON array as Backstage's
    /// `GET /api/catalog/entities` returns it.
    #[arg(long, short = 'o', value_enum, default_value_t = Format::Yaml)]
    pub output: Format,
    /// Leave out `relations` (Backstage computes them itself when it reads the file as a
    /// location).
    #[arg(long)]
    pub no_relations: bool,
    /// Read Playbill manifests (files, walked directories, `-`) instead of the cluster.
    #[arg(long, short = 'f', value_name = "PATH")]
    pub filename: Vec<String>,
    /// Only the entities of this namespace (the Kubernetes one), still with their relations to
    /// every other namespace; the default is every namespace.
    #[arg(long, short = 'n', conflicts_with = "all_namespaces")]
    pub namespace: Option<String>,
    /// Every namespace (the default).
    #[arg(long, short = 'A')]
    pub all_namespaces: bool,
    /// How references across namespaces count, as the operator's --cross-namespace-refs: allow
    /// (every reference, as in Backstage) or consent (only those a CatalogGrant in the target's
    /// namespace permits).
    #[arg(long, value_enum, default_value = "allow")]
    pub cross_namespace_refs: crate::tenancy::CrossNamespaceRefsArg,
}

impl ImportArgs {
    /// The import options these arguments ask for: `-n NS` is `--map-namespace default=NS`.
    pub fn options(&self) -> import::Options {
        let mut namespaces: std::collections::BTreeMap<String, String> =
            self.map_namespace.iter().cloned().collect();
        if let Some(ns) = &self.namespace {
            namespaces.insert("default".into(), ns.clone());
        }
        import::Options {
            namespaces,
            skip_namespaces: self.skip_namespaces,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Yaml,
    Json,
}

fn namespace_arg(s: &str) -> Result<String, String> {
    if is_dns_label(s) {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "{s:?} is not a valid namespace (lowercase letters, digits and '-')"
        ))
    }
}

fn mapping_arg(s: &str) -> Result<(String, String), String> {
    let (from, to) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?} is not FROM=TO"))?;
    Ok((namespace_arg(from)?, namespace_arg(to)?))
}

/// The export as text: JSON (one array) or multi-document YAML.
pub fn render(entities: &[export::BackstageEntity], format: Format) -> Result<String, String> {
    match format {
        Format::Json => serde_json::to_string_pretty(entities)
            .map(|s| s + "\n")
            .map_err(|e| e.to_string()),
        Format::Yaml => {
            let docs = entities
                .iter()
                .map(serde_json::to_value)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| e.to_string())?;
            Ok(crate::yaml::documents(&docs))
        }
    }
}

#[cfg(test)]
mod tests;
