// A small Kubernetes API client: list and watch over node:https, with the three ways of
// connecting the provider supports (in-cluster ServiceAccount, kubeconfig file, URL + token).
//
// Why not @kubernetes/client-node: the provider needs exactly two calls (a paged list and a
// watch stream) and full control of what happens on 410 Gone, bookmarks, timeouts and
// reconnects (src/watcher.js); node:https does both with no dependency, and the package stays
// small enough to export as a Red Hat Developer Hub dynamic plugin.

import https from 'node:https';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import YAML from 'yaml';

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** An HTTP status from the API server, with its Status object when it sent one. */
export class KubeError extends Error {
  /** @param {number} code @param {string} message @param {any} [status] */
  constructor(code, message, status) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

/**
 * How to reach one API server.
 * @typedef {{
 *   server: string, ca?: string | Buffer, cert?: string | Buffer, key?: string | Buffer,
 *   token?: string, tokenFile?: string, skipTLSVerify?: boolean
 * }} Connection
 */

const b64 = (/** @type {string} */ s) => Buffer.from(s, 'base64');

/**
 * The connection a kubeconfig file describes (its current context, or `context`).
 * Exec plugins and auth providers are not supported: use a token or a client certificate.
 * @returns {Connection}
 */
export function fromKubeconfig(/** @type {string} */ file, /** @type {string|undefined} */ context) {
  const kc = YAML.parse(readFileSync(file, 'utf8'));
  const name = context ?? kc['current-context'];
  const ctx = kc.contexts?.find((c) => c.name === name)?.context;
  if (!ctx) throw new Error(`kubeconfig ${file}: no context ${JSON.stringify(name)}`);
  const cluster = kc.clusters?.find((c) => c.name === ctx.cluster)?.cluster;
  if (!cluster?.server) throw new Error(`kubeconfig ${file}: context ${name} names no cluster with a server`);
  const user = kc.users?.find((u) => u.name === ctx.user)?.user ?? {};
  if (user.exec || user['auth-provider']) {
    throw new Error(`kubeconfig ${file}: user ${ctx.user} uses an exec plugin or auth provider, which the Playbill provider does not run; give it a token or a client certificate`);
  }
  const file_ = (/** @type {string|undefined} */ p) => (p ? readFileSync(p) : undefined);
  return {
    server: cluster.server,
    ca: cluster['certificate-authority-data'] ? b64(cluster['certificate-authority-data']) : file_(cluster['certificate-authority']),
    skipTLSVerify: cluster['insecure-skip-tls-verify'] === true,
    cert: user['client-certificate-data'] ? b64(user['client-certificate-data']) : file_(user['client-certificate']),
    key: user['client-key-data'] ? b64(user['client-key-data']) : file_(user['client-key']),
    token: user.token,
    tokenFile: user.tokenFile,
  };
}

/** The connection of a pod's ServiceAccount. @returns {Connection} */
export function inCluster(env = process.env) {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT ?? '443';
  if (!host) throw new Error('not running in a cluster: KUBERNETES_SERVICE_HOST is not set (configure kubeconfig or url)');
  return {
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    ca: readFileSync(`${SA_DIR}/ca.crt`),
    tokenFile: `${SA_DIR}/token`,
  };
}

/**
 * The connection one `catalog.providers.playbill.<id>` block describes: `kubeconfig` (+
 * `context`), or `url` (+ `token` / `tokenFile`, `caData` / `caFile`, `skipTLSVerify`), or
 * neither for the in-cluster ServiceAccount.
 * @param {{ getOptionalString(k: string): string|undefined, getOptionalBoolean(k: string): boolean|undefined }} config
 * @returns {Connection}
 */
export function connectionFromConfig(config) {
  const kubeconfig = config.getOptionalString('kubeconfig');
  const url = config.getOptionalString('url');
  if (kubeconfig && url) throw new Error('set either kubeconfig or url, not both');
  if (kubeconfig) return fromKubeconfig(kubeconfig, config.getOptionalString('context'));
  if (url) {
    const caData = config.getOptionalString('caData');
    const caFile = config.getOptionalString('caFile');
    return {
      server: url,
      ca: caData ? b64(caData) : caFile ? readFileSync(caFile) : undefined,
      token: config.getOptionalString('token'),
      tokenFile: config.getOptionalString('tokenFile'),
      skipTLSVerify: config.getOptionalBoolean('skipTLSVerify') ?? false,
    };
  }
  return inCluster();
}

export class KubeClient {
  /** @param {Connection} conn */
  constructor(conn) {
    this.conn = conn;
    this.base = new URL(conn.server.endsWith('/') ? conn.server : `${conn.server}/`);
    this.lib = this.base.protocol === 'http:' ? http : https;
    this.agent = new this.lib.Agent({
      keepAlive: true,
      ...(this.base.protocol === 'https:' ? { ca: conn.ca, cert: conn.cert, key: conn.key, rejectUnauthorized: !conn.skipTLSVerify } : {}),
    });
  }

  /** Headers for one request; a token file is read every time (projected tokens rotate). */
  headers() {
    const token = this.conn.tokenFile ? readFileSync(this.conn.tokenFile, 'utf8').trim() : this.conn.token;
    return { Accept: 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) };
  }

  /**
   * Starts a GET; resolves with the response once its headers are in, rejects on a connection
   * error or a status other than 200 (a KubeError, with the Status the server sent).
   * @returns {Promise<{ res: import('node:http').IncomingMessage, req: import('node:http').ClientRequest }>}
   */
  open(/** @type {string} */ path, { signal, idleTimeoutMs } = /** @type {{signal?: AbortSignal, idleTimeoutMs?: number}} */ ({})) {
    const url = new URL(path.replace(/^\//, ''), this.base);
    return new Promise((resolve, reject) => {
      const req = this.lib.get(url, { agent: this.agent, headers: this.headers(), signal }, (res) => {
        if (res.statusCode === 200) {
          resolve({ res, req });
          return;
        }
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (body += c));
        res.on('end', () => {
          let status;
          try {
            status = JSON.parse(body);
          } catch {
            // not a Status object
          }
          reject(new KubeError(res.statusCode ?? 0, `GET ${url.pathname}${url.search}: ${res.statusCode} ${status?.message ?? body.slice(0, 200)}`, status));
        });
        res.on('error', reject);
      });
      if (idleTimeoutMs) req.setTimeout(idleTimeoutMs, () => req.destroy(new Error(`GET ${url.pathname}: no data for ${idleTimeoutMs} ms`)));
      req.on('error', reject);
    });
  }

  /** GET a JSON document. */
  async get(/** @type {string} */ path, /** @type {{signal?: AbortSignal}} */ opts = {}) {
    const { res } = await this.open(path, { ...opts, idleTimeoutMs: 60_000 });
    const chunks = [];
    for await (const c of res) chunks.push(c);
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  }

  /**
   * Every object of a collection, read in pages of `limit`, and the collection's
   * resourceVersion to watch from.
   * @returns {Promise<{ items: any[], resourceVersion: string }>}
   */
  async list(/** @type {string} */ path, { limit = 500, signal } = /** @type {{limit?: number, signal?: AbortSignal}} */ ({})) {
    const items = [];
    let cont;
    for (;;) {
      const q = new URLSearchParams({ limit: String(limit), ...(cont ? { continue: cont } : {}) });
      const page = await this.get(`${path}?${q}`, { signal });
      if (!Array.isArray(page.items)) throw new Error(`GET ${path}: the answer has no items list`);
      items.push(...page.items);
      cont = page.metadata?.continue;
      if (!cont) return { items, resourceVersion: page.metadata?.resourceVersion ?? '' };
    }
  }

  /**
   * Watches a collection from `resourceVersion`, calling `onEvent` for every event (ADDED,
   * MODIFIED, DELETED, BOOKMARK, ERROR) until the server ends the stream (`timeoutSeconds`),
   * the connection fails (rejects), or `signal` aborts.
   */
  async watch(/** @type {string} */ path, /** @type {string} */ resourceVersion, /** @type {(e: any) => void} */ onEvent, { timeoutSeconds = 300, signal } = /** @type {{timeoutSeconds?: number, signal?: AbortSignal}} */ ({})) {
    const q = new URLSearchParams({ watch: '1', resourceVersion, allowWatchBookmarks: 'true', timeoutSeconds: String(timeoutSeconds) });
    // Bookmarks arrive about once a minute; a silent connection for longer than the timeout is dead.
    const { res } = await this.open(`${path}?${q}`, { signal, idleTimeoutMs: (timeoutSeconds + 30) * 1000 });
    res.setEncoding('utf8');
    let buf = '';
    for await (const chunk of res) {
      buf += chunk;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.trim()) onEvent(JSON.parse(line));
      }
    }
    if (buf.trim()) onEvent(JSON.parse(buf));
  }

  close() {
    this.agent.destroy();
  }
}
