// What the end-to-end test and the benchmark run: their own Postgres, their own Kubernetes
// control plane (kube-apiserver + etcd, the repository's playbill-controlplane) and a real
// Backstage backend (backend-defaults + the catalog plugin + this module) in a child process.
// Everything lives in one temporary directory and is stopped by `stopAll()`.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROOT } from '../playbill.js';

const here = path.dirname(fileURLToPath(import.meta.url));
export const CONTROLPLANE = path.join(ROOT, '.playbill/bin/playbill-controlplane');
export const KUBECTL = path.join(ROOT, '.playbill/bin/kubectl');
export const HELM = path.join(ROOT, '.playbill/bin/helm');

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = /** @type {net.AddressInfo} */ (s.address());
      s.close(() => resolve(port));
    });
  });
}

/** Polls `fn` until it returns a truthy value; fails with `what` and the last value after `timeoutMs`. */
export async function waitFor(what, fn, { timeoutMs = 60_000, intervalMs = 100 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${last instanceof Error ? last.message : JSON.stringify(last)?.slice(0, 2000)}`);
    await sleep(intervalMs);
  }
}

const cleanups = [];
export async function stopAll() {
  while (cleanups.length) {
    try {
      await cleanups.pop()();
    } catch (e) {
      console.error(`cleanup: ${e}`);
    }
  }
}

export function tempDir(prefix) {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs a command as the postgres user when we are root (Postgres refuses to run as root). */
function asPostgres(cmd, args) {
  if (process.getuid?.() !== 0) return [cmd, args];
  return ['runuser', ['-u', 'postgres', '--', cmd, ...args]];
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  if (r.error) throw r.error;
  if (r.status !== 0) assert.fail(`${cmd} ${args.join(' ')} exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** A Postgres of our own in a temporary directory, on a free port; stopped by stopAll(). */
export async function startPostgres() {
  const dir = tempDir('playbill-pg-');
  const data = path.join(dir, 'data');
  const sock = path.join(dir, 'sock');
  mkdirSync(sock);
  if (process.getuid?.() === 0) {
    const uid = Number(run('id', ['-u', 'postgres']).trim());
    const gid = Number(run('id', ['-g', 'postgres']).trim());
    chownSync(dir, uid, gid);
    chownSync(sock, uid, gid);
  }
  const port = await freePort();
  run(...asPostgres('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8']));
  const log = path.join(dir, 'postgres.log');
  run(...asPostgres('pg_ctl', ['-D', data, '-l', log, '-w', '-o', `-p ${port} -k ${sock} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`, 'start']));
  cleanups.push(() => run(...asPostgres('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop'])));
  return { host: '127.0.0.1', port, user: 'postgres' };
}

/** Our own control plane; `kill()` stops it hard and `start()` brings it back on the same port and data. */
export async function startControlPlane() {
  if (!existsSync(CONTROLPLANE)) assert.fail(`${CONTROLPLANE} not found: run scripts/cluster.sh build in the repository root`);
  const dir = tempDir('playbill-cp-');
  const kubeconfig = path.join(dir, 'kubeconfig');
  const cp = {
    kubeconfig,
    /** @type {import('node:child_process').ChildProcess | undefined} */
    proc: undefined,
    async start() {
      const log = openSync(path.join(dir, 'controlplane.log'), 'a');
      cp.proc = spawn(CONTROLPLANE, ['--state-dir', path.join(dir, 'state'), '--kubeconfig', kubeconfig], { stdio: ['ignore', log, log] });
      const exited = new Promise((r) => cp.proc?.once('exit', r));
      cp.exited = exited;
      await waitFor('the control plane to serve', () => existsSync(kubeconfig) && kubectl(['get', '--raw', '/readyz'], { check: false }).status === 0, { timeoutMs: 120_000, intervalMs: 250 });
    },
    async kill() {
      cp.proc?.kill('SIGKILL');
      await cp.exited;
      cp.proc = undefined;
    },
  };
  cleanups.push(async () => {
    if (cp.proc) {
      cp.proc.kill('SIGTERM');
      await Promise.race([cp.exited, sleep(20_000)]);
      cp.proc?.kill('SIGKILL');
    }
  });
  await cp.start();
  /** kubectl against this control plane. */
  function kubectl(args, { input, check = true } = {}) {
    const r = spawnSync(KUBECTL, ['--kubeconfig', kubeconfig, ...args], { encoding: 'utf8', input, maxBuffer: 512 * 1024 * 1024 });
    if (check && r.status !== 0) assert.fail(`kubectl ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
    return r;
  }
  cp.kubectl = kubectl;
  kubectl(['apply', '--server-side', '-f', path.join(ROOT, 'crds/catalog.playbill.dev.yaml')]);
  kubectl(['wait', '--for=condition=Established', 'crd', '--all', '--timeout=60s']);
  return cp;
}

/**
 * A ServiceAccount for the Backstage backend with exactly the chart's optional RBAC
 * (`backstageProvider.rbac.create=true`), and the provider config that connects as it:
 * `url` + `token` + `caData`.
 */
export function providerServiceAccount(cp, { namespace = 'backstage', name = 'backstage' } = {}) {
  cp.kubectl(['create', 'namespace', namespace]);
  cp.kubectl(['-n', namespace, 'create', 'serviceaccount', name]);
  const rendered = run(HELM, ['template', 'playbill', path.join(ROOT, 'charts/playbill'), '-n', 'playbill',
    '--set', 'backstageProvider.rbac.create=true', '--set', `backstageProvider.rbac.serviceAccount.name=${name}`,
    '--set', `backstageProvider.rbac.serviceAccount.namespace=${namespace}`,
    '--show-only', 'templates/backstage-provider-rbac.yaml']);
  cp.kubectl(['apply', '-f', '-'], { input: rendered });
  const token = cp.kubectl(['-n', namespace, 'create', 'token', name, '--duration=2h']).stdout.trim();
  const kc = cp.kubectl(['config', 'view', '--raw', '-o', 'json']).stdout;
  const cluster = JSON.parse(kc).clusters[0].cluster;
  return { url: cluster.server, token, caData: cluster['certificate-authority-data'] };
}

/**
 * A Backstage backend (backend-defaults, the catalog plugin, this module) in a child process,
 * with `catalog.providers.playbill.<clusterId>` set to `provider` (e.g. {kubeconfig} or
 * {url, token, caData}).
 */
export async function startBackstage({ postgres, provider, clusterId = 'test', stitchPollMs = undefined }) {
  const dir = tempDir('playbill-backstage-');
  const port = await freePort();
  // createBackend() wants a package.json in its working directory.
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'playbill-e2e-backend', version: '0.0.0', private: true }));
  const config = `
backend:
  baseUrl: http://127.0.0.1:${port}
  listen: { host: 127.0.0.1, port: ${port} }
  database:
    client: pg
    connection: { host: ${postgres.host}, port: ${postgres.port}, user: ${postgres.user} }
  auth:
    dangerouslyDisableDefaultAuthPolicy: true
catalog:
${stitchPollMs === undefined ? '' : `  stitchingStrategy:\n    pollingInterval: { milliseconds: ${stitchPollMs} }\n`}  providers:
    playbill:
      ${clusterId}: ${JSON.stringify({ ...provider, guard: { confirmAfterMs: 2000 } })}
`;
  writeFileSync(path.join(dir, 'app-config.yaml'), config);
  const logFile = path.join(dir, 'backend.log');
  const log = openSync(logFile, 'a');
  const proc = spawn(process.execPath, [path.join(here, 'backend.js'), '--config', path.join(dir, 'app-config.yaml')], {
    cwd: dir,
    stdio: ['ignore', log, log],
    env: { ...process.env, NODE_ENV: 'development', FORCE_COLOR: '0', NO_COLOR: '1', LOG_LEVEL: process.env.LOG_LEVEL ?? 'info' },
  });
  const exited = new Promise((r) => proc.once('exit', r));
  cleanups.push(async () => {
    proc.kill('SIGTERM');
    await Promise.race([exited, sleep(10_000)]);
    proc.kill('SIGKILL');
  });
  const base = `http://127.0.0.1:${port}/api/catalog`;
  const started = Date.now();
  await waitFor('the Backstage backend to answer', async () => {
    if (proc.exitCode !== null) assert.fail(`the backend exited ${proc.exitCode}:\n${readFileSync(logFile, 'utf8').slice(-4000)}`);
    return (await fetch(`${base}/entities?limit=1`)).ok;
  }, { timeoutMs: 120_000, intervalMs: 250 });
  return { base, dir, logFile, startedAt: started, log: () => readFileSync(logFile, 'utf8'), proc };
}

/** Every entity Backstage's catalog API lists (paged by cursor). */
export async function backstageEntities(base) {
  const out = [];
  let cursor;
  for (;;) {
    const q = new URLSearchParams({ limit: '1000', ...(cursor ? { cursor } : {}) });
    const res = await fetch(`${base}/entities/by-query?${q}`);
    if (!res.ok) throw new Error(`GET /entities/by-query: ${res.status} ${await res.text()}`);
    const page = await res.json();
    out.push(...page.items);
    cursor = page.pageInfo?.nextCursor;
    if (!cursor) return out;
  }
}

/** The number of entities Backstage holds (one cheap query). */
export async function backstageCount(base) {
  const res = await fetch(`${base}/entities/by-query?limit=1`);
  if (!res.ok) throw new Error(`GET /entities/by-query: ${res.status}`);
  return (await res.json()).totalItems;
}
