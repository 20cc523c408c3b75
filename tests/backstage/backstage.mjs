// The Backstage side of the differential test: runs the real catalog code from
// @backstage/plugin-catalog-backend and @backstage/catalog-model over a set of
// entities and returns the relations each entity ends up with in Backstage's
// catalog. Nothing here re-implements Backstage's rules; it only mirrors the
// plumbing between the processing steps and the database, as read from the
// installed sources:
//
//  * DefaultCatalogProcessingOrchestrator.processSingleEntity runs, in order,
//    preProcessEntity of every processor, the entity policy (CatalogBuilder's
//    default: SchemaValid, DefaultNamespace, NoForeignRootFields, FieldFormat),
//    validateEntityKind (at least one processor must accept the entity), and
//    postProcessEntity. Anything that throws makes the whole result `ok: false`:
//    the engine then stores only the errors (no relation rows at all) and the
//    stitcher abandons an entity that was never processed, so the entity is
//    absent from the catalog. Of the default processors only
//    BuiltinKindsEntityProcessor emits relations for the builtin kinds.
//  * DefaultProcessingDatabase.updateProcessedEntity turns every emitted
//    relation into a row {source_entity_ref: stringifyEntityRef(source), type,
//    target_entity_ref: stringifyEntityRef(target)} (stringifyEntityRef
//    lowercases kind, namespace and name), and syncRelations de-duplicates the
//    rows of one originating entity (lodash uniqBy on the triplet).
//  * performStitching selects DISTINCT (type, target_entity_ref) FROM relations
//    WHERE source_entity_ref = <the entity's ref> ORDER BY type, target — so an
//    entity gets every row whose *source* it is, no matter which entity emitted
//    it. The order is the database's; we mirror SQLite's default (binary)
//    collation with a plain code-unit comparison.

import {
  EntityPolicies,
  SchemaValidEntityPolicy,
  DefaultNamespaceEntityPolicy,
  NoForeignRootFieldsEntityPolicy,
  FieldFormatEntityPolicy,
  makeValidator,
  stringifyEntityRef,
} from '@backstage/catalog-model';
import { BuiltinKindsEntityProcessor } from '@backstage/plugin-catalog-backend';

export const processor = new BuiltinKindsEntityProcessor();

// CatalogBuilder.buildEntityPolicy() without custom policies.
export const policy = EntityPolicies.allOf([
  new SchemaValidEntityPolicy(),
  new DefaultNamespaceEntityPolicy(),
  new NoForeignRootFieldsEntityPolicy(),
  new FieldFormatEntityPolicy(makeValidator()),
]);

const LOCATION = { type: 'url', target: 'https://example.invalid/catalog-info.yaml' };

/** Binary (code unit) comparison, as SQLite's default BINARY collation. */
export function cmp(a, b) {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function compareRelations(a, b) {
  return cmp(a.type, b.type) || cmp(a.targetRef, b.targetRef);
}

/** Only the post-processing step: the relations the processor emits, or a throw. */
export async function emitRelations(entity) {
  const relations = [];
  await processor.postProcessEntity(structuredClone(entity), LOCATION, (result) => {
    if (result.type === 'relation') relations.push(result.relation);
  });
  return relations;
}

/**
 * Processes one entity like the orchestrator does. Returns
 * `{ ok: true, ref, rows }` or `{ ok: false, ref, stage, error }`.
 */
export async function processEntity(input) {
  let entity = structuredClone(input);
  const ref = stringifyEntityRef(entity);
  let stage = 'preProcess';
  try {
    entity = await processor.preProcessEntity(entity, LOCATION, () => {});
    stage = 'policy';
    entity = await policy.enforce(entity);
    if (!entity) throw new Error('policy did not return an entity');
    stage = 'validateEntityKind';
    if (!(await processor.validateEntityKind(entity))) {
      throw new Error(`no processor recognized the entity ${ref}`);
    }
    stage = 'postProcess';
    const relations = [];
    await processor.postProcessEntity(entity, LOCATION, (result) => {
      if (result.type === 'relation') relations.push(result.relation);
      else if (result.type === 'error') throw result.error;
    });
    return { ok: true, ref, rows: toRows(relations) };
  } catch (error) {
    return { ok: false, ref, stage, error };
  }
}

/** DefaultProcessingDatabase.updateProcessedEntity + syncRelations' uniqBy. */
export function toRows(relations) {
  const seen = new Set();
  const rows = [];
  for (const { source, type, target } of relations) {
    const row = {
      source: stringifyEntityRef(source),
      type,
      target: stringifyEntityRef(target),
    };
    const key = `${row.source}\0${row.type}\0${row.target}`;
    if (!seen.has(key)) {
      seen.add(key);
      rows.push(row);
    }
  }
  return rows;
}

/**
 * Runs a whole catalog. `options.keepValidRefsOf(entity, result)` may return
 * rows to use for an entity Backstage rejects (used by the targeted check);
 * by default a rejected entity contributes no rows and is not in the catalog.
 *
 * Returns {
 *   entities: Map<ref, { relations: [{type, targetRef}], origins: Map<"type target", Set<originRef>> }>,
 *   rejected: Map<ref, { stage, error }>,
 * }
 */
export async function computeCatalog(entities, options = {}) {
  const table = []; // { origin, source, type, target }
  const stitched = new Set();
  const rejected = new Map();
  for (const entity of entities) {
    const result = await processEntity(entity);
    let rows;
    if (result.ok) {
      rows = result.rows;
      stitched.add(result.ref);
    } else {
      rejected.set(result.ref, { stage: result.stage, error: result.error });
      rows = options.keepValidRefsOf ? await options.keepValidRefsOf(entity, result) : null;
      if (!rows) continue;
    }
    for (const row of rows) table.push({ origin: result.ref, ...row });
  }

  // performStitching: SELECT DISTINCT type, target WHERE source = ref ORDER BY type, target.
  const bySource = new Map();
  for (const row of table) {
    let rels = bySource.get(row.source);
    if (!rels) bySource.set(row.source, (rels = new Map()));
    const key = `${row.type} ${row.target}`;
    if (!rels.has(key)) rels.set(key, { type: row.type, targetRef: row.target, origins: new Set() });
    rels.get(key).origins.add(row.origin);
  }
  const out = new Map();
  const refs = options.keepValidRefsOf ? [...stitched, ...rejected.keys()] : [...stitched];
  for (const ref of refs) {
    const rels = [...(bySource.get(ref)?.values() ?? [])].sort(compareRelations);
    out.set(ref, {
      relations: rels.map(({ type, targetRef }) => ({ type, targetRef })),
      origins: new Map(rels.map((r) => [`${r.type} ${r.targetRef}`, r.origins])),
    });
  }
  return { entities: out, rejected };
}

/** The reference fields of the builtin kinds (the ones the processor reads). */
export const REF_FIELDS = [
  'owner', 'system', 'subcomponentOf', 'providesApis', 'consumesApis', 'dependsOn',
  'dependencyOf', 'domain', 'subdomainOf', 'parent', 'children', 'members', 'memberOf',
];

/**
 * For the targeted check of unparseable references: Playbill keeps the
 * relations of an entity's valid references when some other reference of the
 * entity does not parse, where Backstage rejects the entity whole. This asks
 * Backstage's own processor, one reference at a time, which references it can
 * parse, and returns the rows of the entity with only those.
 */
export async function rowsOfValidRefs(entity) {
  const kept = structuredClone(entity);
  for (const field of REF_FIELDS) {
    const value = entity.spec?.[field];
    if (value === undefined) continue;
    const values = [value].flat();
    const good = [];
    for (const v of values) {
      const probe = {
        apiVersion: entity.apiVersion,
        kind: entity.kind,
        metadata: { ...entity.metadata },
        spec: { [field]: Array.isArray(value) ? [v] : v },
      };
      try {
        await emitRelations(probe);
        good.push(v);
      } catch {
        // unparseable for Backstage: dropped
      }
    }
    if (Array.isArray(value)) kept.spec[field] = good;
    else if (good.length) kept.spec[field] = good[0];
    else delete kept.spec[field];
  }
  return toRows(await emitRelations(kept));
}
