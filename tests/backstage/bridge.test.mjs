// The Backstage bridge: `playbill import` (Backstage catalog-info YAML ->
// Playbill manifests) and `playbill export` (Playbill manifests -> Backstage
// entities, shaped like GET /api/catalog/entities). Checked against
// Backstage's own validators (validate.mjs) and relation processor
// (backstage.mjs), offline, on the fixtures under tests/bridge/:
//
//   backstage/  a varied, valid Backstage catalog (the round-trip set)
//   invalid/    documents import must refuse; `# expect: FIELD` marks each
//   skipped/    Location and Template documents import must skip
//
// Environment: PLAYBILL_BIN, the binary (default ../../target/debug/playbill
// from here, as in differential.test.mjs). A missing binary fails the tests
// that need it; nothing is skipped.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import YAML from 'yaml';
import { parseEntityRef } from '@backstage/catalog-model';
import { computeCatalog } from './backstage.mjs';
import { FIELDS } from './generate.mjs';
import { readCatalog, readCatalogFile, validateBackstage, yamlFiles } from './validate.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(here, '../..');
const BIN = path.resolve(here, process.env.PLAYBILL_BIN ?? '../../target/debug/playbill');
const FIXTURES = 'tests/bridge/backstage';
const PLACEHOLDERS = 'tests/bridge/placeholders';
const INVALID = 'tests/bridge/invalid';
const SKIPPED = 'tests/bridge/skipped';
const EXAMPLES = 'examples/catalog';
const GROUP = 'catalog.playbill.dev';
const API_VERSION = `${GROUP}/v1alpha1`;
const NAME_ANNOTATION = `${GROUP}/backstage-name`;
const NAMESPACE_ANNOTATION = `${GROUP}/backstage-namespace`;
const KINDS = Object.keys(FIELDS);
const IN_SPEC = ['title', 'description', 'tags', 'links'];

// ---------------------------------------------------------------- running playbill

function requireBin() {
  if (!existsSync(BIN)) {
    assert.fail(`playbill binary not found at ${BIN}: build it with \`cargo build --locked\` in the repository root, or set PLAYBILL_BIN`);
  }
}

/** Runs playbill from the repository root; paths in `args` are relative to it. */
function playbill(args, input) {
  requireBin();
  const res = spawnSync(BIN, args, { cwd: ROOT, input, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  if (res.error) throw res.error;
  return { status: res.status, stdout: res.stdout, stderr: res.stderr, cmd: `playbill ${args.join(' ')}` };
}

/** Runs playbill and requires exit code 0. */
function ok(args, input) {
  const r = playbill(args, input);
  if (r.status !== 0) assert.fail(`\`${r.cmd}\` exited ${r.status}; stderr:\n${r.stderr}\nstdout (start):\n${r.stdout.slice(0, 2000)}`);
  return r;
}

function exportJson(args) {
  const r = ok(['export', ...args, '-o', 'json']);
  let out;
  try {
    out = JSON.parse(r.stdout);
  } catch (e) {
    assert.fail(`\`${r.cmd}\` did not print JSON (${e.message}):\n${r.stdout.slice(0, 2000)}`);
  }
  assert.ok(Array.isArray(out), `\`${r.cmd}\` must print one JSON array of entities, printed ${typeof out}`);
  return out;
}

/** The documents of a multi-document YAML stream, null documents left out. */
function yamlDocs(text, what, options = {}) {
  return YAML.parseAllDocuments(text, options)
    .map((doc, i) => {
      if (doc.errors?.length) assert.fail(`${what}: document ${i} is not valid YAML: ${doc.errors[0]}`);
      return doc.toJSON();
    })
    .filter((d) => d !== null);
}

let tmpDir;
function tmpFile(name, content) {
  tmpDir ??= mkdtempSync(path.join(os.tmpdir(), 'playbill-bridge-'));
  const file = path.join(tmpDir, name);
  writeFileSync(file, content);
  return file;
}
process.on('exit', () => tmpDir && rmSync(tmpDir, { recursive: true, force: true }));

/** `playbill import ARGS` (must exit 0) -> { text, docs, file } with the manifests also written to a file. */
function importOk(args, tmpName) {
  const r = ok(['import', ...args]);
  return { text: r.stdout, stderr: r.stderr, docs: yamlDocs(r.stdout, `\`${r.cmd}\` stdout`), file: tmpFile(tmpName, r.stdout) };
}

// ---------------------------------------------------------------- comparing

const j = (v) => JSON.stringify(v);
const isObject = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Every difference between `exp` and `act`, as "path: ..." lines. */
function diff(exp, act, at = '', out = []) {
  if (isObject(exp) && isObject(act)) {
    for (const k of new Set([...Object.keys(exp), ...Object.keys(act)])) {
      const p = `${at}.${k}`;
      if (!(k in act)) out.push(`${p}: missing (expected ${j(exp[k])})`);
      else if (!(k in exp)) out.push(`${p}: unexpected ${j(act[k])}`);
      else diff(exp[k], act[k], p, out);
    }
  } else if (Array.isArray(exp) && Array.isArray(act) && exp.length === act.length) {
    exp.forEach((x, i) => diff(x, act[i], `${at}[${i}]`, out));
  } else if (!Object.is(exp, act) && j(exp) !== j(act)) {
    out.push(`${at || '.'}: expected ${j(exp)}, got ${j(act)}`);
  } else if (typeof exp !== typeof act) {
    out.push(`${at}: expected ${typeof exp} ${j(exp)}, got ${typeof act} ${j(act)}`);
  }
  return out;
}

const refOf = (e) => `${e.kind}:${e.metadata?.namespace ?? 'default'}/${e.metadata?.name}`.toLowerCase();
/** Loose key used only to pair an exported entity whose name was not restored with its original. */
const looseKey = (e) => refOf(e).replace(/[_.]/g, '-');
const where = (o) => `${path.relative(ROOT, o.file)} document ${o.index}`;

/** What export must print for an original Backstage entity (relations aside). */
function expectedEntity(original) {
  const e = structuredClone(original);
  e.metadata.namespace ??= 'default';
  return { apiVersion: e.apiVersion, kind: e.kind, metadata: e.metadata, spec: e.spec };
}

/**
 * Compares export's output with the original documents: one exported entity
 * per original, each equal to it (uid/etag ignored), with the relations
 * Backstage's processor computes for the originals, and each accepted by
 * Backstage's validators. Returns a list of problems (strings).
 */
async function compareExport(originals, exported, { relations = true } = {}) {
  const problems = [];
  const backstage = await computeCatalog(originals.map((o) => o.entity));
  if (backstage.rejected.size) problems.push(`fixture bug: Backstage rejects ${[...backstage.rejected.keys()].join(', ')}`);

  const byRef = new Map(originals.map((o) => [refOf(o.entity), o]));
  const byLoose = new Map(originals.map((o) => [looseKey(o.entity), o]));
  const seen = new Set();
  exported.forEach((x, i) => {
    if (!isObject(x) || !isObject(x.metadata)) {
      problems.push(`exported[${i}] is not an entity: ${j(x).slice(0, 200)}`);
      return;
    }
    const label = `exported[${i}] ${refOf(x)}`;
    let o = byRef.get(refOf(x));
    const lines = [];
    if (!o) {
      o = byLoose.get(looseKey(x));
      if (!o) {
        problems.push(`${label}: matches no original entity`);
        return;
      }
      lines.push(`name/namespace not restored: expected ${refOf(o.entity)}`);
    }
    if (seen.has(o)) problems.push(`${label}: exported twice`);
    seen.add(o);

    if (x.metadata.namespace === undefined) lines.push('.metadata.namespace: missing (must always be present)');
    const extraRoot = Object.keys(x).filter((k) => !['apiVersion', 'kind', 'metadata', 'spec', 'relations'].includes(k));
    if (extraRoot.length) lines.push(`unexpected root fields ${j(extraRoot)}`);
    for (const k of ['uid', 'etag']) if (k in x.metadata) lines.push(`.metadata.${k}: present in an offline export (${j(x.metadata[k])})`);
    const bridge = Object.keys(x.metadata.annotations ?? {}).filter((k) => k.startsWith(`${GROUP}/`));
    if (bridge.length) lines.push(`Playbill annotations left in metadata.annotations: ${j(bridge)}`);

    const { uid, etag, ...metadata } = x.metadata;
    const actual = { apiVersion: x.apiVersion, kind: x.kind, metadata, spec: x.spec };
    lines.push(...diff(expectedEntity(o.entity), actual));

    if (relations) {
      const want = backstage.entities.get(refOf(o.entity))?.relations ?? [];
      if (!Array.isArray(x.relations)) {
        lines.push(`.relations: expected a list, got ${j(x.relations)}`);
      } else {
        const fmt = (r) => `${r.type} ${r.targetRef}`;
        const w = want.map(fmt);
        const g = x.relations.map(fmt);
        const onlyB = w.filter((r) => !g.includes(r));
        const onlyP = g.filter((r) => !w.includes(r));
        const badShape = x.relations.filter((r) => !isObject(r) || Object.keys(r).sort().join() !== 'targetRef,type');
        if (onlyB.length) lines.push(`.relations: missing (Backstage has them): ${onlyB.join(', ')}`);
        if (onlyP.length) lines.push(`.relations: extra (Backstage does not have them): ${onlyP.join(', ')}`);
        if (!onlyB.length && !onlyP.length && j(w) !== j(g)) lines.push(`.relations: same set, wrong order or duplicates:\n      expected ${j(w)}\n      got      ${j(g)}`);
        if (badShape.length) lines.push(`.relations: items must be exactly {type, targetRef}: ${j(badShape[0])}`);
      }
    } else if ('relations' in x) {
      lines.push(`.relations: present although --no-relations was given`);
    }
    if (lines.length) problems.push(`${label} (original: ${where(o)}):\n    ${lines.join('\n    ')}`);
  });
  for (const o of originals) if (!seen.has(o)) problems.push(`${refOf(o.entity)} (${where(o)}): missing from the export`);

  // Every exported entity is one Backstage accepts. `relations` is the read
  // API's field; an entity file carries none (NoForeignRootFields refuses it).
  for (const [i, x] of exported.entries()) {
    if (!isObject(x)) continue;
    const { relations: _, ...entity } = x;
    const v = await validateBackstage(entity);
    if (!v.ok) problems.push(`exported[${i}] ${refOf(x)}: Backstage refuses it at ${v.stage}: ${v.message}`);
  }
  return problems;
}

function failOn(problems, title) {
  if (problems.length) assert.fail(`${title}: ${problems.length} problem(s)\n\n${problems.join('\n\n')}`);
}

// ---------------------------------------------------------------- the imported manifests

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const isNamespace = (m) => m?.apiVersion === 'v1' && m?.kind === 'Namespace' && DNS_LABEL.test(m?.metadata?.name ?? '');
/** The catalog objects of import's output, without the Namespaces it may print first. */
const entitiesOf = (docs) => docs.filter((m) => !isNamespace(m));
const isDnsSubdomain = (s) => typeof s === 'string' && s.length <= 253 && s.split('.').every((l) => l.length <= 63 && DNS_LABEL.test(l));

/** The reference values of an entity: [{ field, value, defaultKind }]. */
function refsOf(entity) {
  const out = [];
  for (const [field, list, defaultKind] of FIELDS[entity.kind] ?? []) {
    const v = entity.spec?.[field];
    if (v === undefined) continue;
    if (list) (Array.isArray(v) ? v : []).forEach((x, i) => out.push({ field: `spec.${field}[${i}]`, value: x, defaultKind }));
    else out.push({ field: `spec.${field}`, value: v, defaultKind });
  }
  return out;
}

function parseRef(value, defaultKind, defaultNamespace) {
  const r = parseEntityRef(value, { defaultKind: defaultKind ?? undefined, defaultNamespace });
  return `${r.kind}:${r.namespace}/${r.name}`.toLowerCase();
}

/**
 * Checks the manifests `playbill import` printed for `originals`: Kubernetes can
 * hold them, each original has exactly one, metadata that Kubernetes cannot
 * hold moved into spec, the original name is kept in the annotation when it
 * changed, and every reference to an entity of the catalog names that
 * entity's manifest. `nsMap` maps Backstage namespaces (e.g. default -> mapped).
 */
function checkManifests(originals, docs, nsMap = {}) {
  const problems = [];
  const ns = (n) => nsMap[n ?? 'default'] ?? n ?? 'default';
  const manifestOf = new Map(); // original -> manifest
  const origOf = new Map(); // original Backstage ref -> original
  for (const o of originals) origOf.set(refOf(o.entity), o);
  const unmapNs = Object.fromEntries(Object.entries(nsMap).map(([a, b]) => [b, a]));
  // Import may print the Namespaces the entities need, first, so that `kubectl apply -f -` works
  // on a fresh cluster. Anything else that is not a catalog object is a problem.
  const namespaces = docs.filter(isNamespace).map((m) => m.metadata?.name);
  const firstEntity = docs.findIndex((m) => !isNamespace(m));
  if (docs.some((m, i) => isNamespace(m) && firstEntity >= 0 && i > firstEntity)) problems.push('a Namespace comes after a catalog object: kubectl apply -f - would create objects before their namespace');
  for (const n of namespaces.filter((n, i) => namespaces.indexOf(n) !== i)) problems.push(`Namespace ${n} printed twice`);
  if (namespaces.length) {
    const used = new Set(docs.filter((m) => !isNamespace(m)).map((m) => m?.metadata?.namespace));
    for (const n of namespaces) if (!used.has(n)) problems.push(`Namespace ${j(n)} printed but no entity is in it`);
    for (const n of used) if (n !== 'default' && !namespaces.includes(n)) problems.push(`entities in namespace ${j(n)} but no Namespace printed for it (the others are)`);
  }
  docs.forEach((m, i) => {
    if (isNamespace(m)) return;
    const label = `manifest ${i} (${m?.kind} ${m?.metadata?.namespace}/${m?.metadata?.name})`;
    if (!isObject(m) || !isObject(m.metadata)) return problems.push(`${label}: not an object with metadata`);
    if (m.apiVersion !== API_VERSION) problems.push(`${label}: apiVersion ${j(m.apiVersion)}, expected ${API_VERSION}`);
    if (!KINDS.includes(m.kind)) problems.push(`${label}: kind ${j(m.kind)} is not a catalog kind`);
    if (!isDnsSubdomain(m.metadata.name)) problems.push(`${label}: metadata.name ${j(m.metadata.name)} is not a valid Kubernetes name`);
    if (!DNS_LABEL.test(m.metadata.namespace ?? '')) problems.push(`${label}: metadata.namespace ${j(m.metadata.namespace)} is missing or not a DNS label`);
    for (const k of Object.keys(m.metadata)) {
      if (!['name', 'namespace', 'labels', 'annotations'].includes(k)) problems.push(`${label}: metadata.${k} cannot be in a manifest for kubectl apply`);
    }
    const ann = m.metadata.annotations ?? {};
    const bsName = ann[NAME_ANNOTATION] ?? m.metadata.name;
    const bsNs = ann[NAMESPACE_ANNOTATION] ?? unmapNs[m.metadata.namespace] ?? m.metadata.namespace;
    const o = origOf.get(`${m.kind}:${bsNs}/${bsName}`.toLowerCase());
    if (!o) return problems.push(`${label}: matches no original (Backstage name ${j(bsName)}, namespace ${j(bsNs)}); annotations ${j(ann)}`);
    if (manifestOf.has(o)) problems.push(`${label}: a second manifest for ${refOf(o.entity)}`);
    manifestOf.set(o, m);
    const e = o.entity;
    if (m.metadata.namespace !== ns(e.metadata.namespace)) problems.push(`${label}: namespace ${j(m.metadata.namespace)}, expected ${j(ns(e.metadata.namespace))}`);
    if (m.metadata.name !== e.metadata.name && ann[NAME_ANNOTATION] !== e.metadata.name) {
      problems.push(`${label}: name changed from ${j(e.metadata.name)} but annotation ${NAME_ANNOTATION} is ${j(ann[NAME_ANNOTATION])}`);
    }
    for (const k of IN_SPEC) {
      if (e.metadata[k] !== undefined) {
        const d = diff(e.metadata[k], m.spec?.[k], `spec.${k}`);
        if (d.length) problems.push(`${label}: spec.${k} must be the original's metadata.${k}: ${d.join('; ')}`);
      }
    }
    const dl = diff(e.metadata.labels, m.metadata.labels, 'metadata.labels');
    if (dl.length) problems.push(`${label}: ${dl.join('; ')}`);
    for (const [k, v] of Object.entries(e.metadata.annotations ?? {})) {
      if (ann[k] !== v) problems.push(`${label}: metadata.annotations[${j(k)}] is ${j(ann[k])}, expected ${j(v)}`);
    }
  });
  for (const o of originals) if (!manifestOf.has(o)) problems.push(`${refOf(o.entity)} (${where(o)}): no manifest printed for it`);

  // References to entities of the catalog must name their manifests.
  const manifestRef = (m) => `${m.kind}:${m.metadata.namespace}/${m.metadata.name}`.toLowerCase();
  for (const [o, m] of manifestOf) {
    const before = refsOf(o.entity);
    const after = refsOf(m);
    if (before.length !== after.length) {
      problems.push(`${refOf(o.entity)}: ${before.length} references before import, ${after.length} after: ${j(before.map((r) => r.value))} -> ${j(after.map((r) => r.value))}`);
      continue;
    }
    before.forEach((b, i) => {
      const a = after[i];
      const target = origOf.get(parseRef(b.value, b.defaultKind, o.entity.metadata.namespace ?? 'default'));
      if (!target || !manifestOf.has(target)) return; // dangling: only the round trip can judge it
      let got;
      try {
        got = parseRef(a.value, a.defaultKind, m.metadata.namespace);
      } catch (e) {
        got = `unparseable (${e.message})`;
      }
      const want = manifestRef(manifestOf.get(target));
      if (got !== want) problems.push(`${refOf(o.entity)} ${b.field}: ${j(b.value)} became ${j(a.value)}, which names ${got}, not the imported ${want}`);
    });
  }
  return { problems, manifestOf };
}

/**
 * Strings import printed as plain (unquoted) scalars that kubectl would not read
 * as strings. kubectl (sigs.k8s.io/yaml, a go-yaml v2 fork) reads YAML 1.1
 * booleans (`yes`, `on`, `off`, `y`, `NO`, ...), 1.1 numbers (`0777`, `1_000`)
 * and `0o17` octals; `kubectl label --local -f` shows it. Checked here with the
 * yaml package's YAML 1.1 schema plus go-yaml's `0o` and `0b` integers, keys
 * included (a spec key `on` becomes "true"). Timestamps are left out: kubectl
 * keeps them as strings.
 */
function kubectlScalarProblems(text) {
  const problems = [];
  const goYamlExtra = /^[-+]?(0o[0-7_]+|0b[01_]+)$/;
  const readsAs = (raw) => {
    if (goYamlExtra.test(raw)) return 'an integer';
    let v;
    try {
      v = YAML.parse(raw, { version: '1.1' });
    } catch {
      return null;
    }
    if (typeof v === 'string' || v instanceof Date) return null;
    return j(v);
  };
  YAML.parseAllDocuments(text).forEach((doc, i) => {
    const label = `manifest ${i} (${doc.get?.('kind')} ${doc.getIn?.(['metadata', 'namespace'])}/${doc.getIn?.(['metadata', 'name'])})`;
    const walk = (node, at) => {
      if (YAML.isMap(node)) {
        for (const pair of node.items) {
          const key = YAML.isScalar(pair.key) ? String(pair.key.value) : '?';
          walk(pair.key, `${at}.${key} (the key)`);
          walk(pair.value, `${at}.${key}`);
        }
      } else if (YAML.isSeq(node)) {
        node.items.forEach((x, k) => walk(x, `${at}[${k}]`));
      } else if (YAML.isScalar(node) && node.type === 'PLAIN' && typeof node.value === 'string') {
        const raw = text.slice(node.range[0], node.range[1]);
        const as = readsAs(raw);
        if (as) problems.push(`${label} ${at}: the string ${j(node.value)} is printed unquoted; kubectl reads it as ${as}`);
      }
    };
    walk(doc.contents, '');
  });
  return problems;
}

/**
 * How `playbill resolve` numbers the documents of a file in its messages (0 or
 * 1 for the first): import's messages must count the same way.
 */
let firstDocumentNumber;
function documentBase() {
  if (firstDocumentNumber !== undefined) return firstDocumentNumber;
  const group = `apiVersion: ${API_VERSION}\nkind: Group\nmetadata: {name: g, namespace: x}\nspec: {type: team, children: []}\n`;
  const bad = `apiVersion: ${API_VERSION}\nkind: Component\nmetadata: {name: c, namespace: x}\nspec: {type: service, lifecycle: production}\n`;
  const file = tmpFile('numbering.yaml', `${group}---\n${bad}`);
  const r = playbill(['resolve', file]);
  const m = /document (\d+)/.exec(r.stderr);
  if (!m) assert.fail(`cannot tell how playbill resolve numbers documents: \`${r.cmd}\` exited ${r.status}, stderr:\n${r.stderr}`);
  firstDocumentNumber = Number(m[1]) - 1; // the bad document is the second one
  return firstDocumentNumber;
}

// ---------------------------------------------------------------- tests

const fixtures = () => readCatalog(path.join(ROOT, FIXTURES));

test('the bridge fixtures are valid Backstage entities', async () => {
  const docs = fixtures();
  const problems = [];
  const kinds = new Set();
  for (const d of docs) {
    kinds.add(d.entity.kind);
    const v = await validateBackstage(d.entity);
    if (!v.ok) problems.push(`${where(d)} ${refOf(d.entity)}: Backstage refuses it at ${v.stage}: ${v.message}`);
  }
  for (const k of KINDS) if (!kinds.has(k)) problems.push(`no ${k} in ${FIXTURES}`);
  const refs = docs.map((d) => refOf(d.entity));
  for (const r of refs.filter((r, i) => refs.indexOf(r) !== i)) problems.push(`${r} appears twice`);
  failOn(problems, 'fixtures');
});

test('the invalid and skipped fixtures are what they claim to be', async () => {
  const problems = [];
  for (const d of readCatalog(path.join(ROOT, INVALID))) {
    const v = await validateBackstage(d.entity);
    const shouldPass = !d.markers.expect || d.markers.backstage === 'valid';
    if (shouldPass && !v.ok) problems.push(`${where(d)}: Backstage refuses it (${v.stage}: ${v.message}) but it is not marked invalid`);
    if (!shouldPass && v.ok) problems.push(`${where(d)}: marked \`# expect: ${d.markers.expect}\` but Backstage accepts it`);
  }
  const skipped = readCatalog(path.join(ROOT, SKIPPED));
  for (const kind of ['Location', 'Template']) if (!skipped.some((d) => d.entity.kind === kind)) problems.push(`no ${kind} in ${SKIPPED}`);
  failOn(problems, 'fixtures');
});

test('import: the manifests are valid for Kubernetes and keep every reference pointing at its entity', async () => {
  const originals = fixtures();
  const imp = importOk([FIXTURES], 'import.yaml');
  const { problems } = checkManifests(originals, imp.docs);
  problems.push(...kubectlScalarProblems(imp.text));
  failOn(problems, `playbill import ${FIXTURES}`);
});

/** The Kubernetes name import gives a Backstage name (for dangling targets, which have no manifest). */
function kubeNameOf(name) {
  let n = name.toLowerCase().replace(/_/g, '-');
  if (!isDnsSubdomain(n)) n = n.replace(/\./g, '-');
  return n;
}

/**
 * `playbill resolve` on the imported manifests must mean what Backstage means:
 * each entity's unresolved references are exactly its dangling ones in
 * Backstage, and its relations, with every target mapped back to the Backstage
 * entity whose manifest it names, are Backstage's. (A dangling Backstage target
 * has no manifest; it is compared by the name import gives it: normalised, unless
 * that would name another entity.)
 */
function checkResolve(originals, docs, file) {
  const { manifestOf } = checkManifests(originals, docs);
  const r = ok(['resolve', file]);
  const statuses = JSON.parse(r.stdout);
  const exists = new Set(originals.map((o) => refOf(o.entity)));
  const manifestRef = (m) => `${m.kind}:${m.metadata.namespace}/${m.metadata.name}`.toLowerCase();
  const backstageOf = new Map([...manifestOf].map(([o, m]) => [manifestRef(m), refOf(o.entity)]));
  const danglingAsImported = (t) => {
    const [, kind, ns, name] = /^([^:]*):([^/]*)\/(.*)$/.exec(t);
    if (!/^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/.test(name)) return t;
    const normalised = `${kind}:${ns}/${kubeNameOf(name)}`;
    // Normalised onto another entity's name it would resolve; import keeps it as written instead.
    return backstageOf.has(normalised) ? t : normalised;
  };
  return computeCatalog(originals.map((o) => o.entity)).then((backstage) => {
    const problems = [];
    for (const [o, m] of manifestOf) {
      const ref = manifestRef(m);
      const status = statuses[ref];
      if (!status) {
        problems.push(`${ref}: no status from playbill resolve`);
        continue;
      }
      const dangling = refsOf(o.entity)
        .filter((x) => !exists.has(parseRef(x.value, x.defaultKind, o.entity.metadata.namespace ?? 'default')))
        .map((x) => `${x.field}=${x.value}`);
      const unresolved = (status.unresolvedRefs ?? []).map((u) => `${u.field}=${u.targetRef} (${u.reason})`);
      if (dangling.length !== unresolved.length) {
        problems.push(`${ref} (${where(o)}): Backstage's dangling references ${j(dangling)}, Playbill's unresolved ${j(unresolved)}`);
      }
      const want = (backstage.entities.get(refOf(o.entity))?.relations ?? [])
        .map((x) => `${x.type} ${exists.has(x.targetRef) ? x.targetRef : danglingAsImported(x.targetRef)}`);
      const got = (status.relations ?? []).map((x) => `${x.type} ${backstageOf.get(x.targetRef) ?? x.targetRef}`);
      const onlyB = want.filter((x) => !got.includes(x));
      const onlyP = got.filter((x) => !want.includes(x));
      if (onlyB.length || onlyP.length) {
        problems.push(`${ref} (${where(o)}): relations in the cluster differ from Backstage's` +
          (onlyB.length ? `\n    only in Backstage: ${onlyB.join(', ')}` : '') +
          (onlyP.length ? `\n    only in Playbill (targets mapped back to Backstage names): ${onlyP.join(', ')}` : ''));
      }
    }
    return problems;
  });
}

test('import: the imported catalog resolves to Backstage\'s relations, with only the dangling references unresolved', async () => {
  const originals = fixtures();
  const imp = importOk([FIXTURES], 'import-resolve.yaml');
  failOn(await checkResolve(originals, imp.docs, imp.file), 'playbill resolve of the imported catalog');
});

test('import -: reads stdin like a file', () => {
  const file = `${FIXTURES}/shop/catalog-info.yaml`;
  const fromFile = ok(['import', file]).stdout;
  const fromStdin = ok(['import', '-'], readFileSync(path.join(ROOT, file), 'utf8')).stdout;
  assert.deepEqual(yamlDocs(fromStdin, 'import -'), yamlDocs(fromFile, `import ${file}`));
});

test('round trip: import, then export -f -o json, gives back the originals with Backstage\'s relations', async () => {
  const originals = fixtures();
  const imp = importOk([FIXTURES], 'roundtrip.yaml');
  const exported = exportJson(['-f', imp.file]);
  failOn(await compareExport(originals, exported), `playbill import ${FIXTURES} > ${imp.file}; playbill export -f ${imp.file} -o json`);
});

test('round trip: export -o yaml prints the same entities as -o json', () => {
  const imp = importOk([FIXTURES], 'roundtrip-yaml.yaml');
  const json = exportJson(['-f', imp.file]);
  const text = ok(['export', '-f', imp.file, '-o', 'yaml']).stdout;
  const docs = yamlDocs(text, 'export -o yaml');
  const entities = docs.length === 1 && Array.isArray(docs[0]) ? docs[0] : docs;
  assert.deepEqual(entities, json, 'export -o yaml and -o json differ');
});

test('round trip: export --no-relations gives entities a Backstage url Location can ingest', async () => {
  const originals = fixtures();
  const imp = importOk([FIXTURES], 'roundtrip-norel.yaml');
  const exported = exportJson(['-f', imp.file, '--no-relations']);
  failOn(await compareExport(originals, exported, { relations: false }), 'playbill export --no-relations');
  // As files: every document, as it is (no relations to strip), passes Backstage's validation.
  const text = ok(['export', '-f', imp.file, '--no-relations', '-o', 'yaml']).stdout;
  const docs = yamlDocs(text, 'export --no-relations -o yaml');
  const entities = docs.length === 1 && Array.isArray(docs[0]) ? docs[0] : docs;
  const problems = [];
  for (const [i, e] of entities.entries()) {
    const v = await validateBackstage(e);
    if (!v.ok) problems.push(`document ${i} ${refOf(e)}: ${v.stage}: ${v.message}`);
  }
  failOn(problems, 'export --no-relations -o yaml, as a catalog file');
});

test('examples/catalog exported: valid Backstage entities with Backstage\'s relations', async () => {
  const exported = exportJson(['-f', EXAMPLES]);
  const problems = [];
  assert.ok(exported.length > 0, `export -f ${EXAMPLES} printed no entities`);
  const manifests = yamlFiles(path.join(ROOT, EXAMPLES))
    .flatMap((f) => yamlDocs(readFileSync(f, 'utf8'), f))
    .filter((m) => m.apiVersion === API_VERSION);
  const names = (list) => list.map(refOf).sort();
  if (j(names(exported)) !== j(names(manifests))) {
    problems.push(`export lists ${j(names(exported))}\n  the manifests hold ${j(names(manifests))}`);
  }
  const entities = exported.map(({ relations, ...e }) => e);
  const backstage = await computeCatalog(entities);
  for (const [i, x] of exported.entries()) {
    const { relations, ...entity } = x;
    const v = await validateBackstage(entity);
    if (!v.ok) problems.push(`exported[${i}] ${refOf(x)}: Backstage refuses it at ${v.stage}: ${v.message}`);
    const want = backstage.entities.get(refOf(x))?.relations ?? [];
    const d = diff(want.map((r) => `${r.type} ${r.targetRef}`), (relations ?? []).map((r) => `${r.type} ${r.targetRef}`));
    if (d.length) problems.push(`exported[${i}] ${refOf(x)}: relations differ from Backstage's:\n    ${d.join('\n    ')}`);
    for (const k of ['uid', 'etag']) if (k in (x.metadata ?? {})) problems.push(`exported[${i}] ${refOf(x)}: metadata.${k} in an offline export`);
  }
  failOn(problems, `playbill export -f ${EXAMPLES} -o json`);
});

test('--namespace: Backstage\'s default namespace moves to NS on import and comes back on export', async () => {
  const originals = fixtures();
  const NS = 'mapped';
  const imp = importOk(['--namespace', NS, FIXTURES], 'mapped.yaml');
  const { problems } = checkManifests(originals, imp.docs, { default: NS });
  if (entitiesOf(imp.docs).some((m) => m?.metadata?.namespace === 'default')) problems.push(`a manifest is still in namespace default`);
  failOn(problems, `playbill import --namespace ${NS} ${FIXTURES}`);

  const exported = exportJson(['-f', imp.file]);
  // The fixtures use each name once per kind, so kind + name finds the original whatever the namespace.
  const byKindName = (e) => `${e.kind}:${e.metadata?.name}`.toLowerCase().replace(/[_.]/g, '-');
  const origNs = new Map(originals.map((o) => [byKindName(o.entity), o.entity.metadata.namespace ?? 'default']));
  const nsProblems = [];
  for (const x of exported) {
    const want = origNs.get(byKindName(x));
    if (want !== undefined && x.metadata?.namespace !== want) nsProblems.push(`${x.kind} ${x.metadata?.name}: namespace ${j(x.metadata?.namespace)}, originally ${j(want)}`);
  }
  failOn(nsProblems, 'namespaces after export');
  failOn(await compareExport(originals, exported), `playbill import --namespace ${NS} | playbill export`);
});

/** The Backstage ref of an imported manifest, from its annotations. */
function backstageRefOfManifest(m) {
  const ann = m.metadata?.annotations ?? {};
  return `${m.kind}:${ann[NAMESPACE_ANNOTATION] ?? m.metadata?.namespace ?? 'default'}/${ann[NAME_ANNOTATION] ?? m.metadata?.name}`.toLowerCase();
}

for (const file of yamlFiles(path.join(ROOT, INVALID))) {
  const rel = path.relative(ROOT, file);
  test(`import refuses the invalid documents of ${rel}`, async () => {
    const docs = readCatalogFile(file);
    const r = playbill(['import', rel]);
    const problems = [];
    if (r.status !== 1) problems.push(`exit code ${r.status}, expected 1`);
    const lines = r.stderr.split('\n');
    const base = documentBase();
    const printed = entitiesOf(yamlDocs(r.stdout, `\`${r.cmd}\` stdout`));
    const printedRefs = printed.map(backstageRefOfManifest);
    for (const d of docs) {
      const { expect, output } = d.markers;
      const ref = refOf(d.entity);
      if (expect) {
        const fields = expect.split(/\s+or\s+/);
        const n = d.index + base;
        const hit = lines.find((l) => l.includes(rel) && new RegExp(`\\bdocument ${n}\\b`).test(l) && fields.some((f) => l.includes(f)));
        if (!hit) {
          const elsewhere = lines.find((l) => l.includes(rel) && fields.some((f) => l.includes(f)));
          problems.push(`stderr has no line naming ${rel}, document ${n} (counted from ${base}, as playbill resolve counts) and ${fields.join(' or ')}` +
            (elsewhere ? `; it has: ${elsewhere.trim()}` : ''));
        }
        if (printedRefs.includes(ref)) problems.push(`document ${d.index} (${ref}) is invalid but was printed`);
      } else if (output !== 'optional' && !printedRefs.includes(ref)) {
        problems.push(`document ${d.index} (${ref}) is valid but was not printed`);
      }
    }
    // The valid documents are printed whole: they come back unchanged through export.
    const valid = docs.filter((d) => !d.markers.expect && printedRefs.includes(refOf(d.entity)));
    if (valid.length && !problems.length) {
      const ownPrinted = printed.filter((m) => valid.some((d) => refOf(d.entity) === backstageRefOfManifest(m)));
      const tmp = tmpFile(`valid-${path.basename(file)}`, ownPrinted.map((m) => YAML.stringify(m)).join('---\n'));
      problems.push(...(await compareExport(valid, exportJson(['-f', tmp]))));
    }
    failOn(problems, `\`${r.cmd}\`\nstderr:\n${r.stderr}\n`);
  });
}

test('import skips Location and Template documents with a note, and converts the rest', () => {
  const rel = `${SKIPPED}/location-and-template.yaml`;
  const r = playbill(['import', rel]);
  const problems = [];
  if (r.status !== 0) problems.push(`exit code ${r.status}, expected 0`);
  for (const kind of ['Location', 'Template']) if (!r.stderr.includes(kind)) problems.push(`stderr does not mention the skipped ${kind}`);
  const printed = entitiesOf(yamlDocs(r.stdout, `\`${r.cmd}\` stdout`));
  const kinds = printed.map((m) => m?.kind);
  if (j(kinds) !== j(['Component'])) problems.push(`printed kinds ${j(kinds)}, expected only the Component`);
  if (printed[0]?.metadata?.name !== 'skipped-neighbour') problems.push(`printed ${j(printed[0]?.metadata)}, expected skipped-neighbour`);

  const only = `${SKIPPED}/location-only.yaml`;
  const r2 = playbill(['import', only]);
  if (r2.status !== 0) problems.push(`${only}: exit code ${r2.status}, expected 0`);
  if (!r2.stderr.includes('Location')) problems.push(`${only}: stderr does not mention the skipped Location`);
  const printed2 = entitiesOf(yamlDocs(r2.stdout, `\`${r2.cmd}\` stdout`));
  if (printed2.length) problems.push(`${only}: printed ${printed2.length} document(s), expected none: ${j(printed2)}`);
  failOn(problems, `\`${r.cmd}\` stderr:\n${r.stderr}\n\`${r2.cmd}\` stderr:\n${r2.stderr}\n`);
});

// ---------------------------------------------------------------- edge cases, written inline

/** Writes `text` as a catalog file and reads it back as the fixtures are read. */
function inlineCatalog(name, text) {
  const file = tmpFile(name, text);
  return { file, originals: readCatalogFile(file) };
}

test('import never turns a dangling reference into a reference to another entity', async () => {
  // In Backstage, `foo_bar` and `foo-bar` are different names: the owner below dangles, and the
  // Group foo-bar owns nothing. Normalising the reference to foo-bar would make the Group own
  // the Component in the cluster. Import may refuse the reference, or keep its meaning.
  const { file, originals } = inlineCatalog('retarget.yaml', `apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: foo-bar, namespace: org}
spec: {type: team, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: c1, namespace: org}
spec: {type: service, lifecycle: production, owner: foo_bar}
`);
  for (const o of originals) assert.ok((await validateBackstage(o.entity)).ok, 'fixture bug');
  const r = playbill(['import', file]);
  if (r.status !== 0) {
    assert.equal(r.status, 1, `exit code ${r.status}; stderr:\n${r.stderr}`);
    assert.match(r.stderr, /document \d+: spec\.owner/, `refused, but stderr does not name spec.owner:\n${r.stderr}`);
    return;
  }
  const docs = yamlDocs(r.stdout, 'import stdout');
  const out = tmpFile('retarget-out.yaml', r.stdout);
  const problems = await checkResolve(originals, docs, out);
  problems.push(...(await compareExport(originals, exportJson(['-f', out]))));
  failOn(problems, `\`playbill import\` of\n${readFileSync(file, 'utf8')}\nprinted\n${r.stdout}\nwhich means something else in the cluster`);
});

test('import output survives kubectl even for names and references YAML 1.1 reads as booleans', async () => {
  // Valid Backstage names. kubectl reads a plain `yes` as true: `name: yes` does not even decode.
  const { file, originals } = inlineCatalog('yaml11.yaml', `apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: "yes", namespace: org}
spec: {type: team, parent: "on", children: []}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: "on", namespace: org}
spec: {type: team, children: ["yes", "NO"]}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: "y", namespace: org}
spec: {memberOf: ["yes"]}
`);
  for (const o of originals) assert.ok((await validateBackstage(o.entity)).ok, 'fixture bug');
  const r = ok(['import', file]);
  const problems = kubectlScalarProblems(r.stdout);
  const out = tmpFile('yaml11-out.yaml', r.stdout);
  problems.push(...(await compareExport(originals, exportJson(['-f', out]))));
  failOn(problems, `\`${r.cmd}\` printed\n${r.stdout}`);
});

// Backstage's own placeholder resolution (PlaceholderProcessor and the $text, $json and $yaml
// resolvers its CatalogBuilder installs), reading the fixture's files through file: URLs.
// The resolvers are not exported from the package's root, so they are loaded from its dist.
function backstagePlaceholders() {
  const require = createRequire(import.meta.url);
  const dist = path.dirname(require.resolve('@backstage/plugin-catalog-backend'));
  const p = require(path.join(dist, 'processors/PlaceholderProcessor.cjs.js'));
  return new p.PlaceholderProcessor({
    resolvers: { text: p.textPlaceholderResolver, json: p.jsonPlaceholderResolver, yaml: p.yamlPlaceholderResolver },
    reader: { readUrl: async (url) => ({ buffer: async () => readFileSync(fileURLToPath(url)) }) },
    integrations: { resolveUrl: ({ url, base }) => new URL(url, base).toString() },
  });
}

test('import resolves $text, $json and $yaml placeholders as Backstage\'s PlaceholderProcessor does', async () => {
  const processor = backstagePlaceholders();
  const file = path.join(ROOT, PLACEHOLDERS, 'catalog-info.yaml');
  const location = { type: 'url', target: pathToFileURL(file).toString() };
  const originals = [];
  for (const o of readCatalogFile(file)) {
    originals.push({ ...o, entity: await processor.preProcessEntity(o.entity, location, () => {}) });
  }
  assert.ok(originals.some((o) => typeof o.entity.spec?.definition === 'string' && o.entity.spec.definition.startsWith('openapi:')),
    'fixture bug: no API definition came from a $text placeholder');
  const imp = importOk([PLACEHOLDERS], 'placeholders.yaml');
  assert.match(imp.stderr, /apis\/openapi\.yaml: skipped: a placeholder reads this file as data/);
  const exported = exportJson(['-f', imp.file]);
  failOn(await compareExport(originals, exported), `playbill import ${PLACEHOLDERS}; playbill export -f ${imp.file} -o json`);
});
