//! `playbill validate`: every problem in a set of manifests in one run, for CI and pre-commit,
//! each with the file and line it is written on.
//!
//! Per catalog object: the CRD's schema and CEL rules (from the generated CRDs, as
//! [`crate::api::validate`] reads them, so it refuses what the API server refuses, and reports
//! every error where the API server skips CEL once the schema fails), the metadata rules, and
//! unknown keys in spec (warnings, with the field they most likely meant). Across the objects:
//! the references, resolved as the operator resolves them. A reference to an entity that is not
//! in the given files is a warning (it may exist in the cluster); one the rules refuse (a wrong
//! kind, a hierarchy cycle, a reference that does not parse) is an error.

use serde::Serialize;
use serde_json::Value;

use crate::api::validate::validate_object;
use crate::api::{CatalogGrant, GROUP, VERSION, entity_from_value, unknown_fields};

static GROUP_VERSION: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("{GROUP}/{VERSION}"));
use crate::index::{ProblemReason, ReadyReason, RelationIndex};
use crate::manifest::{FieldLines, Input, documents, field_lines};
use crate::model::{CUSTOM_KEYS_ANNOTATION, EntityRef, Kind};

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Admission would refuse the object, or the catalog's rules refuse a reference.
    Error,
    /// Accepted, but probably not what was meant: an unknown key, a reference to an entity that
    /// is not in the given files.
    Warning,
}

/// One problem, where it is written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub file: String,
    pub line: usize,
    /// The 1-based document in the file.
    pub document: usize,
    /// The object's canonical reference, when the document is a catalog object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// `spec.owner`, `metadata.name`; empty for the document as a whole.
    pub field: String,
    pub severity: Severity,
    pub message: String,
}

/// What `playbill validate` found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// In file, line and field order.
    pub findings: Vec<Finding>,
    /// Catalog objects read.
    pub objects: usize,
    pub files: usize,
}

impl Report {
    pub fn errors(&self) -> usize {
        self.count(Severity::Error)
    }

    pub fn warnings(&self) -> usize {
        self.count(Severity::Warning)
    }

    fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == severity)
            .count()
    }
}

/// Output formats.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// `FILE:LINE: FIELD: message`, warnings marked `warning:`.
    #[default]
    Text,
    /// The report as JSON.
    Json,
    /// GitHub Actions workflow commands (`::error file=F,line=L,title=FIELD::message`).
    Github,
}

/// A catalog object read from a document, and where it is.
struct Read {
    finding_base: Finding,
    lines: FieldLines,
    entity_ref: EntityRef,
}

/// Validates every document of `inputs`; objects without a namespace get `default_namespace`.
pub fn validate(inputs: &[Input], default_namespace: &str) -> Report {
    let mut report = Report {
        files: inputs.len(),
        ..Report::default()
    };
    let mut read: Vec<Read> = Vec::new();
    let mut index = RelationIndex::default();
    let push = |report: &mut Report,
                base: &Finding,
                lines: &FieldLines,
                field: &str,
                severity,
                message: String| {
        report.findings.push(Finding {
            line: lines.line(field),
            field: field.to_owned(),
            severity,
            message,
            ..base.clone()
        });
    };
    for (file, text) in inputs {
        let all_lines = field_lines(text);
        for (source, value) in documents(file, text) {
            let lines = all_lines
                .get(source.document - 1)
                .cloned()
                .unwrap_or_default();
            let mut base = Finding {
                file: file.clone(),
                line: 0,
                document: source.document,
                object: None,
                field: String::new(),
                severity: Severity::Error,
                message: String::new(),
            };
            let value = match value {
                Ok(Value::Null) => continue,
                Ok(v) => v,
                Err(message) => {
                    // The parser cannot go on past it.
                    base.line = lines.error_line.unwrap_or_else(|| lines.line(""));
                    base.message = message;
                    report.findings.push(base);
                    break;
                }
            };
            // A CatalogGrant holds no entity: its types are checked here, its CEL rules by the
            // API server.
            if value["kind"] == "CatalogGrant" && value["apiVersion"] == GROUP_VERSION.as_str() {
                if let Err(e) = serde_json::from_value::<CatalogGrant>(value.clone()) {
                    push(
                        &mut report,
                        &base,
                        &lines,
                        "spec",
                        Severity::Error,
                        e.to_string(),
                    );
                }
                continue;
            }
            let Some(kind) = catalog_kind(&value, &mut |field, message| {
                push(&mut report, &base, &lines, field, Severity::Error, message)
            }) else {
                continue;
            };
            report.objects += 1;
            let meta = &value["metadata"];
            let namespace = meta["namespace"].as_str().unwrap_or(default_namespace);
            let name = meta["name"].as_str().unwrap_or_default();
            let entity_ref = EntityRef::of(kind, namespace, name);
            base.object = Some(entity_ref.to_string());
            let errors = validate_object(kind, &value);
            for e in &errors {
                push(
                    &mut report,
                    &base,
                    &lines,
                    &e.path,
                    Severity::Error,
                    e.message.clone(),
                );
            }
            if let Some(spec) = value["spec"].as_object() {
                let custom = meta["annotations"][CUSTOM_KEYS_ANNOTATION].as_str();
                for u in unknown_fields(kind, spec.keys().map(String::as_str), custom) {
                    let prefix = format!("{} is ", u.field);
                    let message = u.message.strip_prefix(&prefix).unwrap_or(&u.message);
                    let message = message.to_owned();
                    push(
                        &mut report,
                        &base,
                        &lines,
                        &u.field,
                        Severity::Warning,
                        message,
                    );
                }
            }
            // References are resolved only for objects admission would accept; one it would
            // refuse is still there as a target, so references to it are not reported too.
            let mut object = value.clone();
            object["metadata"]["namespace"] = Value::String(namespace.to_owned());
            match entity_from_value(object) {
                Some(Ok(entity)) if errors.is_empty() => {
                    index.upsert(&entity, None);
                    read.push(Read {
                        finding_base: base,
                        lines,
                        entity_ref,
                    });
                }
                _ => {
                    index.upsert_invalid(entity_ref, kind, None, "refused".to_owned());
                }
            }
        }
    }
    index.take_dirty();
    for r in &read {
        let Some(resolution) = index.resolve(&r.entity_ref) else {
            continue;
        };
        let cycle = resolution.readiness.reason == ReadyReason::CycleDetected;
        for p in &resolution.problems {
            let severity = match p.reason {
                // Never in allow mode, the only one this index runs in; a grant may exist in
                // the cluster all the same.
                ProblemReason::NotFound | ProblemReason::RefNotPermitted => Severity::Warning,
                ProblemReason::InvalidKind | ProblemReason::InvalidReference => Severity::Error,
            };
            let message = match p.reason {
                ProblemReason::NotFound => format!("{} is not in the given files", p.target),
                _ => p.message.clone(),
            };
            push(
                &mut report,
                &r.finding_base,
                &r.lines,
                &p.field,
                severity,
                message,
            );
        }
        if cycle {
            let message = resolution.readiness.message.clone();
            let field = message.split(": ").next().unwrap_or_default().to_owned();
            let message = message
                .strip_prefix(&format!("{field}: "))
                .unwrap_or(&message)
                .to_owned();
            push(
                &mut report,
                &r.finding_base,
                &r.lines,
                &field,
                Severity::Error,
                message,
            );
        }
    }
    report.findings.sort_by(|a, b| {
        (&a.file, a.document, a.line, &a.field, a.severity)
            .cmp(&(&b.file, b.document, b.line, &b.field, b.severity))
    });
    report.findings.dedup();
    report
}

/// The catalog kind of a document, or `None` for documents of other groups. A document of the
/// catalog group that names no catalog kind or version is reported through `error`.
fn catalog_kind(value: &Value, error: &mut dyn FnMut(&str, String)) -> Option<Kind> {
    let api_version = value["apiVersion"].as_str()?;
    let (group, version) = api_version.split_once('/')?;
    if group != GROUP {
        return None;
    }
    if version != VERSION {
        error(
            "apiVersion",
            format!("{GROUP} serves only {GROUP}/{VERSION}, not {api_version}"),
        );
        return None;
    }
    let kind = value["kind"].as_str().unwrap_or_default();
    match Kind::ALL.into_iter().find(|k| k.name() == kind) {
        Some(k) => Some(k),
        None => {
            let kinds: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
            error(
                "kind",
                format!(
                    "no kind {kind:?} in {GROUP}/{VERSION}; the kinds are {}",
                    kinds.join(", ")
                ),
            );
            None
        }
    }
}

/// The report in `output` form.
pub fn render(report: &Report, output: Output) -> String {
    match output {
        Output::Text => report
            .findings
            .iter()
            .map(|f| {
                let severity = match f.severity {
                    Severity::Error => "",
                    Severity::Warning => "warning: ",
                };
                match f.field.is_empty() {
                    true => format!("{}:{}: {severity}{}\n", f.file, f.line, f.message),
                    false => format!(
                        "{}:{}: {}: {severity}{}\n",
                        f.file, f.line, f.field, f.message
                    ),
                }
            })
            .collect(),
        Output::Json => serde_json::to_string_pretty(report).unwrap_or_default() + "\n",
        Output::Github => report
            .findings
            .iter()
            .map(|f| {
                let command = match f.severity {
                    Severity::Error => "error",
                    Severity::Warning => "warning",
                };
                let title = match f.field.is_empty() {
                    true => String::new(),
                    false => format!(",title={}", property(&f.field)),
                };
                format!(
                    "::{command} file={},line={}{title}::{}\n",
                    property(&f.file),
                    f.line,
                    data(&f.message)
                )
            })
            .collect(),
    }
}

/// A workflow command's message, escaped as GitHub Actions reads it.
fn data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A workflow command's property value, escaped as GitHub Actions reads it.
fn property(s: &str) -> String {
    data(s).replace(':', "%3A").replace(',', "%2C")
}

/// The one-line summary: `3 errors, 1 warning in 2 files (5 catalog objects)`.
pub fn summary(report: &Report) -> String {
    let plural = |n: usize, word: &str| match n {
        1 => format!("1 {word}"),
        n => format!("{n} {word}s"),
    };
    format!(
        "{}, {} in {} ({})",
        plural(report.errors(), "error"),
        plural(report.warnings(), "warning"),
        plural(report.files, "file"),
        plural(report.objects, "catalog object"),
    )
}
