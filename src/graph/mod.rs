//! `playbill graph`: the relation graph around an entity, or of the whole catalog, as DOT or
//! Mermaid.
//!
//! The graph is built from the objects' specs, not from their `status.relations`: specs are the
//! current truth even where the operator has not caught up (or is not running), and statuses
//! list at most a bounded number of relations per type. Statuses supply only the Ready state.

pub mod model;
pub mod render;

use std::collections::BTreeSet;

use crate::catalog::CatalogObject;
use crate::cluster::Coverage;
use crate::consent::Consents;
use crate::model::{EntityRef, Kind, parse_ref};
use model::{Graph, Scope};

/// Arguments of `playbill graph`.
#[derive(Debug, clap::Args)]
pub struct GraphArgs {
    /// The entity to draw the graph around, as `kind:[namespace/]name` (for example
    /// `component:acme-shop/web-shop`). The kind is required; the namespace defaults to `-n`,
    /// else the current kubeconfig context's (with `-f`: `default`). Without REF, the whole
    /// catalog is drawn.
    #[arg(value_name = "REF")]
    pub reference: Option<String>,
    /// Include entities up to this many relations away from REF, following relations in both
    /// directions.
    #[arg(long, short = 'd', default_value_t = 1, requires = "reference")]
    pub depth: usize,
    /// Output format: Graphviz DOT (`dot -Tsvg`) or a Mermaid flowchart (renders in GitHub
    /// Markdown).
    #[arg(long, short = 'o', value_enum, default_value_t = Format::Dot)]
    pub output: Format,
    /// The namespace of REF when REF names none. Without REF: draw only this namespace's
    /// entities, with every relation that touches them and the entities at their other ends.
    #[arg(long, short = 'n', conflicts_with = "all_namespaces")]
    pub namespace: Option<String>,
    /// Draw the catalog of every namespace (what happens anyway without REF and without -n).
    #[arg(long, short = 'A')]
    pub all_namespaces: bool,
    /// Read Playbill manifests from these files or directories (walked; `-` is stdin) instead of
    /// the cluster. Ready states are then computed as the operator would compute them.
    #[arg(long = "filename", short = 'f', value_name = "PATH")]
    pub files: Vec<String>,
    /// How references across namespaces count, as the operator's --cross-namespace-refs: allow
    /// (every reference, as in Backstage) or consent (only those a CatalogGrant in the target's
    /// namespace permits).
    #[arg(long, value_enum, default_value = "allow")]
    pub cross_namespace_refs: crate::tenancy::CrossNamespaceRefsArg,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Dot,
    Mermaid,
}

#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    #[error("REF {raw:?}: {message}")]
    Reference { raw: String, message: String },
    #[error("{reference} is not in the catalog{}", referenced_by(.referrers))]
    NotFound {
        reference: EntityRef,
        referrers: Vec<EntityRef>,
    },
    #[error(transparent)]
    Read(#[from] crate::manifest::ManifestError),
    #[error("cannot connect to the cluster: {0}")]
    Connect(#[source] kube::Error),
    #[error(
        "the catalog CRDs are not installed in this cluster (install them with `playbill crds | kubectl apply --server-side -f -`)"
    )]
    NoCrds,
    #[error("cannot list the catalog: {0}")]
    List(String),
}

fn referenced_by(referrers: &[EntityRef]) -> String {
    if referrers.is_empty() {
        return String::new();
    }
    let names: Vec<String> = referrers.iter().map(ToString::to_string).collect();
    format!(
        " (it is a dangling reference of {}; draw the graph around one of those to see it)",
        names.join(", ")
    )
}

/// Parses REF: like any reference (docs/reference.md#entity-references), but with no field to lend a default kind, the kind
/// must be written, and it must be a catalog kind.
pub fn parse_center(raw: &str, namespace: &str) -> Result<EntityRef, GraphError> {
    let bad = |message: String| GraphError::Reference {
        raw: raw.to_owned(),
        message,
    };
    let reference = parse_ref(raw, None, namespace).map_err(|e| bad(e.to_string()))?;
    if reference.known_kind().is_none() {
        let kinds: Vec<&str> = Kind::ALL.iter().map(|k| k.lower()).collect();
        return Err(bad(format!(
            "unknown kind {:?} (one of {})",
            reference.kind,
            kinds.join(", ")
        )));
    }
    Ok(reference)
}

/// What to draw, decided from the arguments alone.
#[derive(Clone, Debug, PartialEq, Eq)]
enum View {
    Around { center: EntityRef, depth: usize },
    Namespace(String),
    Everything,
}

impl View {
    fn title(&self) -> String {
        match self {
            View::Around { center, depth } => format!(
                "playbill graph: {center} and what is within {depth} relation{} of it",
                if *depth == 1 { "" } else { "s" }
            ),
            View::Namespace(ns) => {
                format!("playbill graph: namespace {ns} and what its entities relate to")
            }
            View::Everything => "playbill graph: the whole catalog".to_owned(),
        }
    }

    /// The one namespace it is enough to read when listing the whole catalog is forbidden.
    fn home_namespace(&self) -> Option<&str> {
        match self {
            View::Around { center, .. } => Some(&center.namespace),
            View::Namespace(ns) => Some(ns),
            View::Everything => None,
        }
    }
}

fn view(args: &GraphArgs, default_namespace: &str) -> Result<View, GraphError> {
    let namespace = args.namespace.as_deref().unwrap_or(default_namespace);
    Ok(match &args.reference {
        Some(raw) => View::Around {
            center: parse_center(raw, namespace)?,
            depth: args.depth,
        },
        None => match &args.namespace {
            Some(ns) => View::Namespace(ns.clone()),
            None => View::Everything,
        },
    })
}

/// The catalog read for a graph, and what to draw of it. Reading and drawing are apart so the
/// caller can say how much was read (see [`Coverage`]) before drawing, which may fail.
#[derive(Debug)]
pub struct Input {
    objects: Vec<CatalogObject>,
    scope: Scope,
    view: View,
    /// How much of the catalog the cluster let us read.
    pub coverage: Coverage,
    /// Which references across namespaces count.
    consents: Consents,
}

impl Input {
    /// Draws the view in `format`.
    pub fn draw(&self, format: Format) -> Result<String, GraphError> {
        draw(
            &self.objects,
            &self.scope,
            &self.view,
            &self.consents,
            format,
        )
    }
}

/// Draws `view` of `objects` (read from `scope`) in `format`.
fn draw(
    objects: &[CatalogObject],
    scope: &Scope,
    view: &View,
    consents: &Consents,
    format: Format,
) -> Result<String, GraphError> {
    let full = Graph::of_catalog_with(objects, scope, consents);
    let graph = match view {
        View::Around { center, depth } => {
            let exists = objects.iter().any(|o| &o.entity_ref() == center);
            if !exists {
                return Err(GraphError::NotFound {
                    reference: center.clone(),
                    referrers: full.referrers(center).into_iter().cloned().collect(),
                });
            }
            full.around(center, *depth)
        }
        View::Namespace(ns) => full.touching_namespace(ns),
        View::Everything => full,
    };
    let title = view.title();
    Ok(match format {
        Format::Dot => render::dot(&graph, &title),
        Format::Mermaid => render::mermaid(&graph, &title),
    })
}

/// The offline path: manifests (`args.files`) in, no cluster. Ready states are computed as the
/// operator would.
pub fn from_files(args: &GraphArgs) -> Result<Input, GraphError> {
    let default_namespace = args.namespace.as_deref().unwrap_or("default");
    let view = view(args, default_namespace)?;
    let inputs = crate::manifest::read_inputs(&args.files)?;
    let now =
        k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(k8s_openapi::jiff::Timestamp::now());
    let (objects, consents) = crate::catalog::from_manifests_with(
        &inputs,
        default_namespace,
        crate::index::DEFAULT_MAX_RELATIONS_PER_TYPE,
        args.cross_namespace_refs.into(),
        &now,
    )?;
    Ok(Input {
        objects,
        scope: Scope::All,
        view,
        coverage: Coverage::All,
        consents,
    })
}

fn status_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}

/// The cluster path. Relations cross namespaces (owners usually live elsewhere), so even a view
/// of one entity or namespace reads every namespace; only if RBAC forbids that does it fall back
/// to the one namespace the view is about, and [`Input::coverage`] says so.
pub async fn from_cluster(args: &GraphArgs) -> Result<Input, GraphError> {
    // A malformed REF is reported before any connection is attempted.
    if let Some(raw) = &args.reference {
        parse_center(raw, "default")?;
    }
    let client = kube::Client::try_default()
        .await
        .map_err(GraphError::Connect)?;
    let view = view(args, client.default_namespace())?;
    let listed = crate::cluster::fetch_covering(&client, view.home_namespace()).await;
    let (objects, coverage) = listed.map_err(|e| match (status_code(&e), &e) {
        (Some(404), _) => GraphError::NoCrds,
        // The API server's own sentence says who may not do what; the rest of kube's error
        // repeats it as a struct dump.
        (Some(code), kube::Error::Api(status)) if !status.message.is_empty() => {
            let hint = if code == 403 && view.home_namespace().is_none() {
                "; draw a single namespace with -n NAMESPACE instead"
            } else {
                ""
            };
            GraphError::List(format!("{}{hint}", status.message))
        }
        _ => GraphError::List(e.to_string()),
    })?;
    let scope = match &coverage {
        Coverage::All => Scope::All,
        Coverage::Namespace(ns) => Scope::Namespaces(BTreeSet::from([ns.clone()])),
    };
    let consents = crate::tenancy::fetch_consents(
        &client,
        args.cross_namespace_refs.into(),
        objects.iter().map(|o| o.namespace.as_str()),
    )
    .await
    .map_err(|e| GraphError::List(format!("cannot list CatalogGrants: {e}")))?;
    Ok(Input {
        objects,
        scope,
        view,
        coverage,
        consents,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: GraphArgs,
    }

    fn args(argv: &[&str]) -> Result<GraphArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("graph").chain(argv.iter().copied())).map(|c| c.args)
    }

    #[test]
    fn ref_needs_a_catalog_kind_and_takes_the_namespace_given() {
        assert_eq!(
            parse_center("Component:Shop/Web", "x").unwrap().to_string(),
            "component:shop/web"
        );
        assert_eq!(
            parse_center("api:orders", "shop").unwrap().to_string(),
            "api:shop/orders"
        );
        let e = parse_center("web", "shop").unwrap_err().to_string();
        assert!(e.contains("must name its kind"), "{e}");
        let e = parse_center("template:web", "shop")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown kind \"template\""), "{e}");
        let e = parse_center("component:", "shop").unwrap_err().to_string();
        assert!(e.contains("empty name"), "{e}");
    }

    #[test]
    fn arguments_pick_the_view() {
        let a = args(&["component:web", "-n", "shop", "--depth", "2"]).unwrap();
        assert_eq!(
            view(&a, "ctx").unwrap(),
            View::Around {
                center: parse_center("component:shop/web", "-").unwrap(),
                depth: 2
            }
        );
        let a = args(&["component:web"]).unwrap();
        assert_eq!(
            view(&a, "ctx").unwrap(),
            View::Around {
                center: parse_center("component:ctx/web", "-").unwrap(),
                depth: 1
            }
        );
        assert_eq!(
            view(&args(&["-n", "shop"]).unwrap(), "ctx").unwrap(),
            View::Namespace("shop".into())
        );
        assert_eq!(view(&args(&[]).unwrap(), "ctx").unwrap(), View::Everything);
        assert_eq!(
            view(&args(&["-A"]).unwrap(), "ctx").unwrap(),
            View::Everything
        );
        let a = args(&["-o", "mermaid", "-f", "a", "--filename", "b"]).unwrap();
        assert_eq!(
            (a.output, a.files),
            (Format::Mermaid, vec!["a".into(), "b".into()])
        );
        // --depth only means something around an entity; -n and -A contradict each other.
        assert!(args(&["--depth", "2"]).is_err());
        assert!(args(&["-n", "x", "-A"]).is_err());
        assert!(args(&["-o", "png"]).is_err());
    }

    const CATALOG: &str = r#"
apiVersion: catalog.playbill.dev/v1alpha1
kind: Group
metadata: {name: team, namespace: org}
spec: {type: team, children: []}
---
apiVersion: catalog.playbill.dev/v1alpha1
kind: Component
metadata: {name: web, namespace: shop}
spec: {type: website, lifecycle: production, owner: org/team, dependsOn: ["resource:db"]}
"#;

    fn draw_catalog(argv: &[&str]) -> Result<String, GraphError> {
        draw_text(argv, CATALOG)
    }

    fn draw_text(argv: &[&str], text: &str) -> Result<String, GraphError> {
        let a = args(argv).unwrap();
        let (objects, consents) = crate::catalog::from_manifests_with(
            &[("t.yaml".into(), text.into())],
            "default",
            1000,
            a.cross_namespace_refs.into(),
            &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(Default::default()),
        )
        .unwrap();
        draw(
            &objects,
            &Scope::All,
            &view(&a, "default")?,
            &consents,
            a.output,
        )
    }

    #[test]
    fn an_unknown_ref_is_an_error_that_names_who_refers_to_it() {
        let e = draw_catalog(&["component:shop/nope"]).unwrap_err();
        assert_eq!(e.to_string(), "component:shop/nope is not in the catalog");
        let e = draw_catalog(&["resource:shop/db"]).unwrap_err().to_string();
        assert!(
            e.starts_with("resource:shop/db is not in the catalog (it is a dangling reference of component:shop/web;"),
            "{e}"
        );
    }

    #[test]
    fn views_draw_what_they_say() {
        let around = draw_catalog(&["group:org/team", "--depth", "1"]).unwrap();
        assert!(around.starts_with(
            "// playbill graph: group:org/team and what is within 1 relation of it\n"
        ));
        assert!(
            around.contains("\"group:org/team\" -> \"component:shop/web\" [label=\"ownerOf\"];")
        );
        // The dangling db is two relations away.
        assert!(!around.contains("resource:shop/db"));
        let deeper = draw_catalog(&["group:org/team", "-d", "2"]).unwrap();
        assert!(deeper.contains("\"resource:shop/db\" ["));
        let mermaid = draw_catalog(&["-o", "mermaid"]).unwrap();
        assert!(mermaid.contains("flowchart LR") && mermaid.contains("-.->|dependsOn|"));
    }

    #[test]
    fn consent_mode_draws_only_permitted_references() {
        let edge = "\"group:org/team\" -> \"component:shop/web\" [label=\"ownerOf\"];";
        let refused =
            draw_catalog(&["group:org/team", "--cross-namespace-refs", "consent"]).unwrap();
        assert!(!refused.contains(edge), "{refused}");
        let grant = "---\napiVersion: catalog.playbill.dev/v1alpha1\nkind: CatalogGrant\nmetadata: {name: owners, namespace: org}\nspec: {from: {namespaces: [shop]}, to: {relations: [ownedBy]}}\n";
        let granted = draw_text(
            &["group:org/team", "--cross-namespace-refs", "consent"],
            &format!("{CATALOG}{grant}"),
        )
        .unwrap();
        assert!(granted.contains(edge), "{granted}");
        // In allow mode the grant changes nothing.
        let allowed = draw_text(&["group:org/team"], &format!("{CATALOG}{grant}")).unwrap();
        assert_eq!(allowed, draw_catalog(&["group:org/team"]).unwrap());
    }
}
