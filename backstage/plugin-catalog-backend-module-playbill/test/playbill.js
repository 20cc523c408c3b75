// Running the playbill binary from tests. PLAYBILL_BIN names it; the default is the debug build
// of the repository this package lives in. A missing binary fails the tests that need it.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const BIN = path.resolve(ROOT, process.env.PLAYBILL_BIN ?? 'target/debug/playbill');

/** Runs playbill from the repository root and requires exit code 0; returns stdout. */
export function playbill(args, { input, env } = {}) {
  if (!existsSync(BIN)) assert.fail(`playbill binary not found at ${BIN}: run \`cargo build --locked\` in the repository root, or set PLAYBILL_BIN`);
  const res = spawnSync(BIN, args, { cwd: ROOT, input, encoding: 'utf8', maxBuffer: 512 * 1024 * 1024, env: { ...process.env, ...env } });
  if (res.error) throw res.error;
  if (res.status !== 0) assert.fail(`\`playbill ${args.join(' ')}\` exited ${res.status}:\n${res.stderr}`);
  return res.stdout;
}

/** The documents of a YAML stream (nulls left out). */
export function yamlDocs(text) {
  return YAML.parseAllDocuments(text).map((d) => d.toJSON()).filter((d) => d !== null);
}
