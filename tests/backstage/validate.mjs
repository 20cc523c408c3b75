// Is an entity one that Backstage's catalog accepts? Runs Backstage's own
// validation code from @backstage/catalog-model and
// @backstage/plugin-catalog-backend in the order
// DefaultCatalogProcessingOrchestrator.processSingleEntity runs it (read from
// the installed sources, plugin-catalog-backend 4.0.0):
//
//  1. envelope   validateEntityEnvelope (entityEnvelopeSchemaValidator)
//  2. preProcess every processor's preProcessEntity; of the default ones only
//                BuiltinKindsEntityProcessor changes an entity (it sorts lists)
//  3. policy     the CatalogBuilder's default policy: SchemaValid,
//                DefaultNamespace, NoForeignRootFields, FieldFormat(makeValidator())
//  4. schema     validateEntity (entitySchemaValidator)
//  5. kind       validateEntityKind: BuiltinKindsEntityProcessor tries its kind
//                validators (componentEntityV1alpha1Validator, ...); one must
//                accept the entity and none may throw. We also require that
//                the validator of the entity's own kind is the one that accepts.
//  6. postProcess BuiltinKindsEntityProcessor.postProcessEntity, which parses
//                every reference (parseEntityRef) and throws on one it cannot.
//
// The reading side mirrors parseEntityYaml from @backstage/plugin-catalog-node:
// yaml.parseAllDocuments, null documents skipped, anything but a plain object
// an error.

import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import {
  entityEnvelopeSchemaValidator,
  entitySchemaValidator,
  apiEntityV1alpha1Validator,
  componentEntityV1alpha1Validator,
  domainEntityV1alpha1Validator,
  groupEntityV1alpha1Validator,
  resourceEntityV1alpha1Validator,
  systemEntityV1alpha1Validator,
  userEntityV1alpha1Validator,
} from '@backstage/catalog-model';
// The same processor and default policy chain the differential test runs.
import { policy, processor } from './backstage.mjs';

const validateEnvelope = entityEnvelopeSchemaValidator();
const validateEntity = entitySchemaValidator();
const LOCATION = { type: 'url', target: 'https://example.invalid/catalog-info.yaml' };

/** The kind validator of each of the seven catalog kinds. */
export const KIND_VALIDATORS = {
  Component: componentEntityV1alpha1Validator,
  API: apiEntityV1alpha1Validator,
  Resource: resourceEntityV1alpha1Validator,
  System: systemEntityV1alpha1Validator,
  Domain: domainEntityV1alpha1Validator,
  Group: groupEntityV1alpha1Validator,
  User: userEntityV1alpha1Validator,
};

/** An error with the messages of its causes, on one line. */
export function describeError(error) {
  const parts = [];
  for (let e = error; e; e = e.cause) parts.push(e.message ?? String(e));
  return parts.join(': caused by: ');
}

/**
 * Validates one entity as Backstage's catalog does. Returns
 * `{ ok: true, entity }` (the entity as the catalog stores it) or
 * `{ ok: false, stage, message }`.
 */
export async function validateBackstage(input) {
  let entity = structuredClone(input);
  let stage = 'envelope';
  try {
    validateEnvelope(entity);
    stage = 'preProcess';
    entity = await processor.preProcessEntity(entity, LOCATION, () => {});
    stage = 'policy';
    entity = await policy.enforce(entity);
    if (!entity) throw new Error('the policy returned no entity');
    stage = 'schema';
    validateEntity(entity);
    stage = 'kind';
    if (!(await processor.validateEntityKind(entity))) {
      throw new Error(`no kind validator recognised kind ${JSON.stringify(entity.kind)} (apiVersion ${entity.apiVersion})`);
    }
    const own = KIND_VALIDATORS[entity.kind];
    if (!own || !(await own.check(entity))) {
      throw new Error(`${entity.kind} is not one of the seven catalog kinds`);
    }
    stage = 'postProcess';
    await processor.postProcessEntity(entity, LOCATION, (result) => {
      if (result.type === 'error') throw result.error;
    });
    return { ok: true, entity };
  } catch (error) {
    return { ok: false, stage, message: describeError(error) };
  }
}

/** The YAML files under `p` (or `p` itself), walked in sorted order. */
export function yamlFiles(p) {
  if (!statSync(p).isDirectory()) return [p];
  return readdirSync(p)
    .sort()
    .flatMap((name) => {
      const full = path.join(p, name);
      if (statSync(full).isDirectory()) return yamlFiles(full);
      return /\.ya?ml$/.test(name) ? [full] : [];
    });
}

/**
 * The documents of a Backstage catalog file, as parseEntityYaml reads them:
 * `[{ file, index, entity, source, markers }]`, `index` counting every
 * document of the stream from 0. `markers` are the `# key: value` comment
 * lines of the document (`expect`, `backstage`, `output`), for the tests.
 */
export function readCatalogFile(file) {
  const text = readFileSync(file, 'utf8');
  const docs = YAML.parseAllDocuments(text, { merge: false });
  const out = [];
  docs.forEach((doc, index) => {
    if (doc.errors?.length) throw new Error(`${file}: document ${index}: ${doc.errors[0]}`);
    const entity = doc.toJSON();
    if (entity === null) return;
    const source = text.slice(doc.range[0], doc.range[2]);
    const start = index === 0 ? 0 : doc.range[0];
    const head = text.slice(start, doc.range[2]);
    const markers = {};
    for (const m of head.matchAll(/^#\s*(expect|backstage|output):\s*(.+?)\s*$/gm)) markers[m[1]] = m[2];
    // A comment before the document's `---` belongs to the previous document
    // for the parser; take the markers written right after `---` as well.
    if (doc.commentBefore) {
      for (const m of doc.commentBefore.matchAll(/^\s*(expect|backstage|output):\s*(.+?)\s*$/gm)) markers[m[1]] = m[2];
    }
    out.push({ file, index, entity, source, markers });
  });
  return out;
}

/** Every document of every YAML file under each path. */
export function readCatalog(...paths) {
  return paths.flatMap((p) => yamlFiles(p)).flatMap((f) => readCatalogFile(f));
}
