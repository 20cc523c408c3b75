// List-then-watch of one kind, kept alive through what watches do:
//
// - the server ends the stream (timeoutSeconds): watch again from the last resourceVersion;
// - 410 Gone (an expired resourceVersion, as a status or as an ERROR event): list again, and
//   the mirror gives Backstage a full mutation;
// - connection errors and API server restarts: retry with exponential backoff (0.5 s doubling
//   to 30 s, with jitter), from the last resourceVersion when the server still has it;
// - a list that would remove more than `maxRemovedFraction` of the objects held for the kind is
//   only believed when a second list, `confirmAfterMs` later, still says so (an API server that
//   answers an empty list while it recovers must not empty Backstage's catalog).
//
// Failed lists never change what the mirror holds, so Backstage keeps the last good catalog
// while the cluster is unreachable.

/** @typedef {{ info(m: string, f?: object): void, warn(m: string, f?: object): void, error(m: string, f?: object): void, debug(m: string, f?: object): void }} Logger */

const sleep = (/** @type {number} */ ms, /** @type {AbortSignal} */ signal) =>
  new Promise((resolve) => {
    if (signal.aborted) return resolve(undefined);
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => { clearTimeout(t); resolve(undefined); }, { once: true });
  });

const isGone = (/** @type {any} */ e) => e?.code === 410 || e?.status?.code === 410;

export class KindWatcher {
  /**
   * @param {{
   *   client: import('./kube.js').KubeClient, path: string, kind: string,
   *   mirror: import('./mirror.js').Mirror, logger: Logger,
   *   maxRemovedFraction?: number, confirmAfterMs?: number, watchTimeoutSeconds?: number,
   *   backoffMinMs?: number, backoffMaxMs?: number, onHealth?: (kind: string, healthy: boolean) => void
   * }} opts
   */
  constructor(opts) {
    this.opts = { maxRemovedFraction: 0.5, confirmAfterMs: 5000, watchTimeoutSeconds: 300, backoffMinMs: 500, backoffMaxMs: 30_000, ...opts };
    this.abort = new AbortController();
    this.failures = 0;
    this.healthy = undefined;
  }

  start() {
    this.done = this.run().catch((e) => this.opts.logger.error(`${this.opts.kind}: watcher stopped: ${e}`));
    return this.done;
  }

  async stop() {
    this.abort.abort();
    await this.done;
  }

  setHealth(/** @type {boolean} */ healthy, /** @type {string} */ why) {
    if (this.healthy === healthy) return;
    const { kind, logger } = this.opts;
    if (healthy) logger.info(`${kind}: connected${this.healthy === false ? ' again' : ''}: ${why}`);
    else logger.warn(`${kind}: connection lost: ${why}; Backstage keeps the last catalog it was given`);
    this.healthy = healthy;
    this.opts.onHealth?.(kind, healthy);
  }

  backoffMs() {
    const { backoffMinMs, backoffMaxMs } = this.opts;
    const base = Math.min(backoffMaxMs, backoffMinMs * 2 ** Math.min(this.failures, 16));
    return base / 2 + Math.random() * (base / 2);
  }

  /** A list the mirror accepts, confirmed by a second one when it would remove a lot. */
  async listAccepted() {
    const { client, path, kind, mirror, logger, maxRemovedFraction, confirmAfterMs } = this.opts;
    const signal = this.abort.signal;
    let list = await client.list(path, { signal });
    const held = mirror.count(kind);
    const removed = mirror.removedBy(kind, list.items);
    if (mirror.isListed(kind) && held > 0 && removed / held > maxRemovedFraction) {
      logger.warn(`${kind}: a list would remove ${removed} of ${held} objects; believing it only if a second list in ${confirmAfterMs} ms agrees`);
      await sleep(confirmAfterMs, signal);
      if (signal.aborted) return undefined;
      list = await client.list(path, { signal });
      const again = mirror.removedBy(kind, list.items);
      logger.warn(`${kind}: the second list removes ${again} of ${held}; applying it`);
    }
    return list;
  }

  async run() {
    const { client, path, kind, mirror, logger, watchTimeoutSeconds } = this.opts;
    const signal = this.abort.signal;
    /** @type {string | undefined} */
    let rv;
    while (!signal.aborted) {
      try {
        if (rv === undefined) {
          const list = await this.listAccepted();
          if (!list) return;
          mirror.replaceKind(kind, list.items);
          rv = list.resourceVersion;
          logger.info(`${kind}: listed ${list.items.length} objects at resourceVersion ${rv}`);
        }
        this.setHealth(true, `watching from resourceVersion ${rv}`);
        this.failures = 0;
        // A timeout a little different per watch so the seven kinds do not reconnect together.
        const timeoutSeconds = Math.round(watchTimeoutSeconds * (0.8 + Math.random() * 0.4));
        let gone = false;
        await client.watch(path, rv, (event) => {
          switch (event.type) {
            case 'ADDED':
            case 'MODIFIED':
              mirror.upsert(event.object);
              rv = event.object?.metadata?.resourceVersion ?? rv;
              break;
            case 'DELETED':
              mirror.remove(event.object);
              rv = event.object?.metadata?.resourceVersion ?? rv;
              break;
            case 'BOOKMARK':
              rv = event.object?.metadata?.resourceVersion ?? rv;
              break;
            case 'ERROR':
              if (isGone(event.object)) gone = true;
              else throw new Error(`watch error: ${event.object?.message ?? JSON.stringify(event.object)}`);
              break;
            default:
              logger.debug(`${kind}: unknown watch event ${event.type}`);
          }
        }, { timeoutSeconds, signal });
        if (gone) {
          logger.info(`${kind}: resourceVersion ${rv} expired (410 Gone); listing again`);
          rv = undefined;
        }
      } catch (e) {
        if (signal.aborted) return;
        if (isGone(e)) {
          logger.info(`${kind}: resourceVersion ${rv} expired (410 Gone); listing again`);
          rv = undefined;
          continue;
        }
        this.failures++;
        const wait = this.backoffMs();
        this.setHealth(false, String(/** @type {any} */ (e)?.message ?? e));
        logger.debug(`${kind}: retrying in ${Math.round(wait)} ms (attempt ${this.failures}): ${e}`);
        if (this.failures % 10 === 0) logger.warn(`${kind}: still unreachable after ${this.failures} attempts: ${e}`);
        await sleep(wait, signal);
      }
    }
  }
}
