// Playbill catalog objects -> Backstage entities, exactly as `playbill export` maps them
// (src/backstage/export.rs), relations and server fields left out: Backstage computes relations
// itself and assigns its own uid and etag.
//
// The data of the mapping (reference fields and their default kinds, annotation keys, what moves
// between spec and metadata) is not written here: it is `mapping.json`, generated from the Rust
// code by `playbill backstage-mapping` and checked for staleness by `make check-crds`. What is
// here is the algorithm that reads it; test/unit/differential.test.js holds it equal to
// `playbill export -o json` over every fixture.

import { readFileSync } from 'node:fs';

/**
 * @typedef {{ field: string, list: boolean, defaultKind: string | null }} RefField
 * @typedef {{ kind: string, plural: string, refFields: RefField[] }} KindTable
 * @typedef {{
 *   group: string, version: string, backstageApiVersion: string, kinds: KindTable[],
 *   annotations: { name: string, namespace: string, refs: string, metadata: string },
 *   droppedAnnotations: string[], metadataInSpec: string[], metadataFields: string[]
 * }} MappingTable
 * @typedef {{ apiVersion?: string, kind?: string, metadata?: Record<string, any>, spec?: Record<string, any> }} KubeObject
 * @typedef {{ apiVersion: string, kind: string, metadata: Record<string, any>, spec: Record<string, any> }} BackstageEntity
 */

/** @type {MappingTable} */
export const TABLE = JSON.parse(readFileSync(new URL('./mapping.json', import.meta.url), 'utf8'));

export const API_VERSION = `${TABLE.group}/${TABLE.version}`;
/** The seven kinds, with their plural (the resource name in API paths). */
export const KINDS = TABLE.kinds.map(({ kind, plural }) => ({ kind, plural }));
const BY_KIND = new Map(TABLE.kinds.map((k) => [k.kind, k]));
const DROPPED = new Set(TABLE.droppedAnnotations);

const asciiLower = (/** @type {string} */ s) => s.replace(/[A-Z]/g, (c) => c.toLowerCase());
const isAsciiAlnum = (/** @type {string} */ c) => /^[A-Za-z0-9]$/.test(c);

/** A DNS-1123 label (what a namespace must be). */
export function isDnsLabel(/** @type {string} */ s) {
  return s.length >= 1 && s.length <= 63 && /^[a-z0-9-]+$/.test(s) && s[0] !== '-' && s[s.length - 1] !== '-';
}

/** A DNS-1123 subdomain (what an object name must be). */
export function isDnsSubdomain(/** @type {string} */ s) {
  return s.length >= 1 && s.length <= 253 && s.split('.').every(isDnsLabel);
}

/** Backstage's rule for entity names. */
export function isBackstageName(/** @type {string} */ s) {
  return s.length >= 1 && s.length <= 63 && /^[A-Za-z0-9_.-]+$/.test(s) && isAsciiAlnum(s[0]) && isAsciiAlnum(s[s.length - 1]);
}

/** The Kubernetes name `playbill import` gives a Backstage name. */
export function kubeName(/** @type {string} */ backstage) {
  const name = asciiLower(backstage).replaceAll('_', '-');
  return isDnsSubdomain(name) ? name : name.replaceAll('.', '-');
}

/**
 * `[kind:][namespace/]name` split as written; null when it does not parse.
 * @returns {{ kind?: string, namespace?: string, name: string } | null}
 */
export function splitRef(/** @type {string} */ raw) {
  if (raw === '' || /[\x00-\x1f\x7f]/.test(raw) || raw.startsWith(' ') || raw.endsWith(' ')) return null;
  const colon = raw.indexOf(':');
  const slash = raw.indexOf('/');
  let kind;
  let rest = raw;
  if (colon >= 0 && (slash < 0 || slash > colon)) {
    kind = raw.slice(0, colon);
    rest = raw.slice(colon + 1);
  }
  let namespace;
  let name = rest;
  const s = rest.indexOf('/');
  if (s >= 0) {
    namespace = rest.slice(0, s);
    name = rest.slice(s + 1);
  }
  if (kind === '' || namespace === '' || name === '') return null;
  return { kind, namespace, name };
}

/** The canonical key of an entity or reference target: `kind:namespace/name`, lowercase. */
export const refKey = (/** @type {string} */ kind, /** @type {string} */ ns, /** @type {string} */ name) =>
  `${kind.toLowerCase()}:${ns.toLowerCase()}/${name.toLowerCase()}`;

/** The canonical key of a reference held in a namespace; null when it does not parse. */
function parseRef(/** @type {string} */ raw, /** @type {string|null} */ defaultKind, /** @type {string} */ holderNs) {
  const parts = splitRef(raw);
  if (!parts) return null;
  const kind = parts.kind ?? defaultKind;
  if (kind == null) return null;
  return refKey(kind, parts.namespace ?? holderNs, parts.name);
}

/** The key of a Kubernetes object: `Kind/namespace/name`. */
export function objectKey(/** @type {KubeObject} */ o) {
  return `${o.kind}/${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
}

const stringMap = (/** @type {any} */ v) =>
  Object.fromEntries(Object.entries(v && typeof v === 'object' ? v : {}).filter(([, x]) => typeof x === 'string'));

/** Whether `o` is one of Playbill's catalog objects the mapping reads. */
export function isCatalogObject(/** @type {KubeObject} */ o) {
  return o?.apiVersion === API_VERSION && BY_KIND.has(o.kind ?? '') && typeof o.metadata?.name === 'string' && o.metadata.name !== '';
}

/** The Backstage namespace and name of an object, from the annotations import left. */
export function backstageIdentity(/** @type {KubeObject} */ o) {
  const ann = stringMap(o.metadata?.annotations);
  const kubeNs = o.metadata?.namespace ?? 'default';
  const ns = ann[TABLE.annotations.namespace];
  const n = ann[TABLE.annotations.name];
  return {
    namespace: ns !== undefined && isDnsLabel(ns) ? ns : kubeNs,
    // Only while it still describes this object: a copied annotation must not rename another.
    name: n !== undefined && isBackstageName(n) && kubeName(n) === o.metadata?.name ? n : o.metadata?.name,
  };
}

/** The references an object holds, in the table's field order: {field, index?, value}. */
function rawRefs(/** @type {KubeObject} */ o) {
  const out = [];
  const spec = o.spec ?? {};
  for (const f of BY_KIND.get(o.kind ?? '')?.refFields ?? []) {
    const v = spec[f.field];
    if (f.list) {
      if (Array.isArray(v)) v.forEach((x, i) => typeof x === 'string' && out.push({ rule: f, index: i, value: x }));
    } else if (typeof v === 'string') {
      out.push({ rule: f, index: undefined, value: v });
    }
  }
  return out;
}

/** The identities of a set of objects, by the canonical key of their Kubernetes identity. */
export function identities(/** @type {Iterable<KubeObject>} */ objects) {
  /** @type {Map<string, {namespace: string, name: string}>} */
  const out = new Map();
  for (const o of objects) out.set(refKey(o.kind ?? '', o.metadata?.namespace ?? 'default', o.metadata?.name ?? ''), backstageIdentity(o));
  return out;
}

/** A reference rewritten to name its target as Backstage knows it; null when it can stay. */
function restoreRef(raw, holder, holderBackstageNs, ids) {
  const parts = splitRef(raw.value);
  if (!parts) return null;
  const target = parseRef(raw.value, raw.rule.defaultKind, holder.metadata?.namespace ?? 'default');
  const id = target && ids.get(target);
  if (!id) return null;
  const { namespace: ns, name } = id;
  const sameNs = (parts.namespace === undefined && ns === holderBackstageNs) || (parts.namespace !== undefined && asciiLower(parts.namespace) === asciiLower(ns));
  if (sameNs && asciiLower(name) === asciiLower(parts.name)) return null;
  let out = '';
  if (parts.kind !== undefined) out += `${parts.kind}:`;
  if (parts.namespace !== undefined || ns !== holderBackstageNs) out += `${ns}/`;
  return out + name;
}

/** The rewrites import recorded, `{path: [backstage, kubernetes]}`; {} unless well formed. */
function recordedRewrites(/** @type {string|undefined} */ text) {
  if (text === undefined) return {};
  try {
    const v = JSON.parse(text);
    if (!v || typeof v !== 'object' || Array.isArray(v)) return {};
    for (const x of Object.values(v)) {
      if (!Array.isArray(x) || x.length !== 2 || x.some((s) => typeof s !== 'string')) return {};
    }
    return v;
  } catch {
    return {};
  }
}

function keptMetadata(/** @type {string|undefined} */ text) {
  if (text === undefined) return {};
  try {
    const v = JSON.parse(text);
    return v && typeof v === 'object' && !Array.isArray(v) ? v : {};
  } catch {
    return {};
  }
}

const sortedObject = (/** @type {Record<string, string>} */ m) =>
  Object.fromEntries(Object.entries(m).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

/**
 * One object as a Backstage entity. `ids` are the identities of the whole catalog (references to
 * entities whose Backstage name differs from their Kubernetes name are written with the
 * Backstage name).
 * @param {KubeObject} o
 * @param {Map<string, {namespace: string, name: string}>} ids
 * @returns {BackstageEntity}
 */
export function toEntity(o, ids) {
  const { namespace, name } = backstageIdentity(o);
  const annotations = stringMap(o.metadata?.annotations);
  const rewrites = recordedRewrites(annotations[TABLE.annotations.refs]);
  const spec = structuredClone(o.spec ?? {});
  for (const raw of rawRefs(o)) {
    const path = raw.index === undefined ? `spec.${raw.rule.field}` : `spec.${raw.rule.field}[${raw.index}]`;
    const recorded = rewrites[path];
    const value = recorded && recorded[1] === raw.value ? recorded[0] : (restoreRef(raw, o, namespace, ids) ?? raw.value);
    if (value !== raw.value) {
      if (raw.index === undefined) spec[raw.rule.field] = value;
      else spec[raw.rule.field][raw.index] = value;
    }
  }
  const metadata = /** @type {Record<string, any>} */ ({ namespace, name });
  const moved = Object.fromEntries(TABLE.metadataInSpec.filter((k) => k in spec).map((k) => [k, spec[k]]));
  for (const k of TABLE.metadataInSpec) delete spec[k];
  if ('title' in moved) metadata.title = moved.title;
  if ('description' in moved) metadata.description = moved.description;
  const labels = stringMap(o.metadata?.labels);
  if (Object.keys(labels).length) metadata.labels = sortedObject(labels);
  const kept = Object.fromEntries(Object.entries(annotations).filter(([k]) => !DROPPED.has(k)));
  if (Object.keys(kept).length) metadata.annotations = sortedObject(kept);
  if ('tags' in moved) metadata.tags = moved.tags;
  if ('links' in moved) metadata.links = moved.links;
  const extra = keptMetadata(annotations[TABLE.annotations.metadata]);
  for (const [k, v] of Object.entries(extra)) if (!TABLE.metadataFields.includes(k)) metadata[k] = v;
  return { apiVersion: TABLE.backstageApiVersion, kind: /** @type {string} */ (o.kind), metadata, spec };
}

/** Every catalog object as an entity, in the order given (what `playbill export` prints, less relations). */
export function toEntities(/** @type {KubeObject[]} */ objects) {
  const catalog = objects.filter(isCatalogObject);
  const ids = identities(catalog);
  return catalog.map((o) => toEntity(o, ids));
}

/** The canonical reference of an entity, as Backstage's `stringifyEntityRef` (lowercased) writes it. */
export function entityRef(/** @type {BackstageEntity} */ e) {
  return refKey(e.kind, e.metadata.namespace ?? 'default', e.metadata.name);
}
