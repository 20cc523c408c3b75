// Differential test: for seeded random catalogs, the relations `playbill resolve`
// computes for every entity must equal the relations Backstage's catalog gives
// it (computed by Backstage's own BuiltinKindsEntityProcessor, see backstage.mjs).
//
// Environment:
//   PLAYBILL_BIN   the playbill binary (default ../../target/debug/playbill from here)
//   SEEDS          how many random catalogs (default 200)
//   SEED_START     first seed (default 1)
//   SEED           run only this one seed (reproduce a failure)
//   INVALID_SEEDS  how many catalogs in the targeted unparseable-reference check (default 40)

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { generateCatalog, toPlaybill } from './generate.mjs';
import { computeCatalog, compareRelations, processEntity, rowsOfValidRefs, REF_FIELDS } from './backstage.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const BIN = path.resolve(here, process.env.PLAYBILL_BIN ?? '../../target/debug/playbill');
const env = (k, d) => (process.env[k] !== undefined && process.env[k] !== '' ? Number(process.env[k]) : d);
const SEED_START = env('SEED_START', 1);
const SEEDS = process.env.SEED ? [env('SEED')] : Array.from({ length: env('SEEDS', 200) }, (_, i) => SEED_START + i);
const INVALID_SEEDS = process.env.SEED ? [env('SEED')] : Array.from({ length: env('INVALID_SEEDS', 40) }, (_, i) => 100000 + SEED_START + i);

// ---------------------------------------------------------------- playbill side

function manifests(entities) {
  return entities.map((e) => YAML.stringify(toPlaybill(e), { lineWidth: 0 })).join('---\n');
}

function runPlaybill(entities) {
  const res = spawnSync(BIN, ['resolve', '-'], {
    input: manifests(entities),
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  if (res.error) throw res.error;
  if (res.status !== 0) {
    throw new Error(`playbill resolve exited ${res.status}:\n${res.stderr}`);
  }
  try {
    return JSON.parse(res.stdout);
  } catch (e) {
    throw new Error(`playbill resolve printed no JSON (${e.message}):\n${res.stdout.slice(0, 2000)}`);
  }
}

const fmt = (r) => `${r.type} ${r.targetRef}`;

/** Problems with one entity's Playbill relations against Backstage's, or null. */
function diffEntity(ref, expected, pbStatus) {
  if (!pbStatus) return { ref, why: 'missing from playbill resolve output', expected, actual: null };
  const actual = pbStatus.relations ?? [];
  if (!Array.isArray(actual)) return { ref, why: 'relations is not a list', expected, actual };
  const exp = new Set(expected.map(fmt));
  const act = actual.map(fmt);
  const actSet = new Set(act);
  const missing = [...exp].filter((x) => !actSet.has(x));
  const extra = [...actSet].filter((x) => !exp.has(x));
  const dups = act.filter((x, i) => act.indexOf(x) !== i);
  const sorted = [...actual].sort(compareRelations).map(fmt);
  const unsorted = act.some((x, i) => x !== sorted[i]);
  if (!missing.length && !extra.length && !dups.length && !unsorted) return null;
  const why = [
    missing.length && `missing ${missing.length}`,
    extra.length && `extra ${extra.length}`,
    dups.length && `duplicates ${dups.join(', ')}`,
    unsorted && 'not sorted by (type, targetRef)',
  ].filter(Boolean).join('; ');
  return { ref, why, expected, actual, missing, extra };
}

// ---------------------------------------------------------------- comparison

/**
 * Compares both sides for one catalog. `expectedFor` computes Backstage's
 * result (Map ref -> {relations, origins}). Returns the list of problems.
 */
async function compare(entities, expectedFor) {
  const bs = await expectedFor(entities);
  const pb = runPlaybill(entities);
  const problems = [];
  for (const [ref, { relations }] of bs.entities) {
    const p = diffEntity(ref, relations, pb[ref]);
    if (p) problems.push(p);
  }
  for (const ref of Object.keys(pb)) {
    if (!bs.entities.has(ref)) problems.push({ ref, why: 'in playbill output but not an entity of the catalog', expected: null, actual: pb[ref].relations ?? [] });
  }
  return { problems, bs, pb };
}

const refOf = (e) => `${e.kind}:${e.metadata.namespace ?? 'default'}/${e.metadata.name}`.toLowerCase();

/** Shrinks the catalog to a small one on which `ref` still mismatches. */
async function shrink(entities, ref, bs, expectedFor) {
  const stillFails = async (subset) => {
    try {
      const { problems } = await compare(subset, expectedFor);
      return problems.some((p) => p.ref === ref);
    } catch {
      return false;
    }
  };
  const name = ref.slice(ref.indexOf('/') + 1);
  const origins = new Set([...(bs.entities.get(ref)?.origins.values() ?? [])].flatMap((s) => [...s]));
  const mentions = (e) =>
    REF_FIELDS.some((f) => [e.spec?.[f] ?? []].flat().some((v) => typeof v === 'string' && v.toLowerCase().includes(name)));
  let current = entities.filter((e) => refOf(e) === ref || origins.has(refOf(e)) || mentions(e));
  if (!(await stillFails(current))) current = entities;
  for (let changed = true, budget = 200; changed && budget > 0; ) {
    changed = false;
    for (const e of [...current]) {
      if (refOf(e) === ref || budget-- <= 0) continue;
      const without = current.filter((x) => x !== e);
      if (await stillFails(without)) {
        current = without;
        changed = true;
      }
    }
  }
  return current;
}

async function report(seed, entities, problems, bs, expectedFor, label) {
  const lines = [`${label} seed ${seed}: ${problems.length} entit${problems.length === 1 ? 'y differs' : 'ies differ'} (reproduce: SEED=${seed} npm test)`];
  for (const [i, p] of problems.entries()) {
    lines.push('', `entity ${p.ref}: ${p.why}`);
    if (p.missing?.length) lines.push(`  only in Backstage: ${p.missing.join(', ')}`);
    if (p.extra?.length) lines.push(`  only in Playbill:  ${p.extra.join(', ')}`);
    lines.push(`  Backstage: ${JSON.stringify((p.expected ?? []).map(fmt))}`);
    lines.push(`  Playbill:  ${JSON.stringify(p.actual && p.actual.map(fmt))}`);
    if (i < 3) {
      const minimal = await shrink(entities, p.ref, bs, expectedFor);
      lines.push(`  minimal catalog (${minimal.length} of ${entities.length} entities), playbill manifests:`);
      lines.push(manifests(minimal).replace(/^/gm, '    '));
    }
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------- tests

const playbillReady = existsSync(BIN)
  ? null
  : `playbill binary not found at ${BIN} (build it with \`cargo build\` in the repo root, or set PLAYBILL_BIN)`;

test('Backstage oracle: facts the comparison relies on', async () => {
  const group = (name, spec) => ({ apiVersion: 'backstage.io/v1alpha1', kind: 'Group', metadata: { name, namespace: 'payments' }, spec: { type: 'team', children: [], ...spec } });
  // Targets are stringified all lowercase, whatever case the reference was written in.
  const c = {
    apiVersion: 'backstage.io/v1alpha1',
    kind: 'Component',
    metadata: { name: 'checkout', namespace: 'payments' },
    spec: { type: 'service', lifecycle: 'production', owner: 'User:JDoe', dependsOn: ['Resource:Shop/DB'] },
  };
  const r = await processEntity(c);
  assert.equal(r.ok, true);
  assert.deepEqual(r.rows.map((x) => `${x.source} ${x.type} ${x.target}`).sort(), [
    'component:payments/checkout dependsOn resource:shop/db',
    'component:payments/checkout ownedBy user:payments/jdoe',
    'resource:shop/db dependencyOf component:payments/checkout',
    'user:payments/jdoe ownerOf component:payments/checkout',
  ]);
  // A reference that does not parse (dependsOn without a kind) rejects the entity whole.
  const bad = await processEntity({ ...c, spec: { ...c.spec, dependsOn: ['db'] } });
  assert.equal(bad.ok, false);
  assert.equal(bad.stage, 'postProcess');
  // A fact stated on both sides gives one pair of rows.
  const cat = await computeCatalog([group('a', { children: ['B'] }), group('b', { parent: 'group:payments/A' })]);
  assert.deepEqual(cat.entities.get('group:payments/a').relations, [{ type: 'parentOf', targetRef: 'group:payments/b' }]);
  assert.deepEqual(cat.entities.get('group:payments/b').relations, [{ type: 'childOf', targetRef: 'group:payments/a' }]);
  // The generator only writes entities Backstage accepts.
  for (const seed of SEEDS.slice(0, 20)) {
    const { rejected } = await computeCatalog(generateCatalog(seed));
    assert.equal(rejected.size, 0, `seed ${seed}: Backstage rejected ${[...rejected.keys()]}`);
  }
});

test('playbill resolve is available', () => {
  if (playbillReady) assert.fail(playbillReady);
  const g = { apiVersion: 'backstage.io/v1alpha1', kind: 'Group', metadata: { name: 'team-a', namespace: 'default' }, spec: { type: 'team', children: [] } };
  const out = runPlaybill([g]);
  assert.ok(out['group:default/team-a'], `\`playbill resolve -\` printed no entry for group:default/team-a: ${JSON.stringify(out)}`);
});

test('relations equal Backstage on random catalogs', { skip: playbillReady ?? false }, async (t) => {
  const expectedFor = (entities) => computeCatalog(entities);
  for (const seed of SEEDS) {
    await t.test(`seed ${seed}`, async () => {
      const entities = generateCatalog(seed);
      const { problems, bs } = await compare(entities, expectedFor);
      assert.equal(bs.rejected.size, 0, `generator bug: Backstage rejected ${[...bs.rejected.keys()]}`);
      if (problems.length) assert.fail(await report(seed, entities, problems, bs, expectedFor, 'random catalog'));
    });
  }
});

// Backstage rejects an entity whole when one of its references does not parse
// (no relation rows from it, and it is not in the catalog); Playbill keeps the
// entity, marks it not Ready, and still computes the relations of its other,
// valid references. So here the expected relations of such an entity (and the
// reverse rows it gives others) are Backstage's for the same entity with the
// unparseable references removed — each reference judged by Backstage's own
// processor.
test('unparseable references: relations of the valid ones equal Backstage', { skip: playbillReady ?? false }, async (t) => {
  const expectedFor = (entities) => computeCatalog(entities, { keepValidRefsOf: (entity) => rowsOfValidRefs(entity) });
  for (const seed of INVALID_SEEDS) {
    await t.test(`seed ${seed}`, async () => {
      const entities = generateCatalog(seed, { maxEntities: 30, invalidRefs: 0.3 });
      const { problems, bs, pb } = await compare(entities, expectedFor);
      for (const [ref, { stage, error }] of bs.rejected) {
        assert.equal(stage, 'postProcess', `generator bug: ${ref} rejected at ${stage}: ${error.message}`);
        const ready = pb[ref]?.conditions?.find((c) => c.type === 'Ready');
        if (ready?.status === 'True') {
          problems.push({ ref, why: `Ready=True although Backstage cannot parse a reference (${error.cause?.message ?? error.message})`, expected: bs.entities.get(ref).relations, actual: pb[ref].relations ?? [] });
        }
      }
      if (problems.length) assert.fail(await report(seed, entities, problems, bs, expectedFor, 'unparseable-reference catalog'));
    });
  }
});
