// The entity provider for one cluster: seven KindWatchers feed a Mirror, and a short window
// after the first change of a burst the provider applies the mirror's next mutation.

import { KubeClient } from './kube.js';
import { KINDS, TABLE } from './mapping.js';
import { Mirror } from './mirror.js';
import { KindWatcher } from './watcher.js';

/**
 * @typedef {{
 *   coalesceMs?: number, maxRemovedFraction?: number, confirmAfterMs?: number,
 *   watchTimeoutSeconds?: number, backoffMinMs?: number, backoffMaxMs?: number
 * }} Tuning
 */

export class PlaybillEntityProvider {
  /**
   * @param {{ id: string, connection: import('./kube.js').Connection, logger: import('./watcher.js').Logger } & Tuning} opts
   */
  constructor(opts) {
    this.opts = { ...opts, coalesceMs: opts.coalesceMs ?? 150 };
    this.id = opts.id;
    this.location = `playbill:${opts.id}`;
    this.logger = opts.logger;
    this.mirror = new Mirror({ location: this.location });
    this.mirror.onChange = () => this.schedule();
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.timer = undefined;
    /** @type {Promise<void>} mutations are applied one at a time, in order */
    this.applying = Promise.resolve();
    /** @type {KindWatcher[]} */
    this.watchers = [];
    this.stopped = false;
  }

  getProviderName() {
    return `playbill:${this.id}`;
  }

  /** @param {import('@backstage/plugin-catalog-node').EntityProviderConnection} connection */
  async connect(connection) {
    this.connection = connection;
    this.client = new KubeClient(this.opts.connection);
    this.logger.info(`connecting to ${this.opts.connection.server} as location ${this.location}`);
    for (const { kind, plural } of KINDS) {
      const watcher = new KindWatcher({
        client: this.client,
        path: `/apis/${TABLE.group}/${TABLE.version}/${plural}`,
        kind,
        mirror: this.mirror,
        logger: this.logger,
        ...pick(this.opts, ['maxRemovedFraction', 'confirmAfterMs', 'watchTimeoutSeconds', 'backoffMinMs', 'backoffMaxMs']),
      });
      this.watchers.push(watcher);
      watcher.start();
    }
  }

  /** Applies the next mutation `coalesceMs` after the first change of a burst. */
  schedule() {
    if (this.timer || this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.applying = this.applying.then(() => this.flush());
    }, this.opts.coalesceMs);
  }

  async flush() {
    if (!this.connection || this.stopped) return;
    const mutation = this.mirror.next();
    if (!mutation) return;
    try {
      await this.connection.applyMutation(mutation);
      if (mutation.type === 'full') this.logger.info(`full mutation: ${mutation.entities.length} entities`);
      else this.logger.debug(`delta mutation: ${mutation.added.length} added or changed, ${mutation.removed.length} removed`);
    } catch (e) {
      // Backstage did not take it: give it everything again on the next flush.
      this.logger.error(`applying a ${mutation.type} mutation failed: ${e}; retrying with a full mutation`);
      this.mirror.fullPending = true;
      setTimeout(() => this.schedule(), 1000);
    }
  }

  /** Whether every kind's watch is connected. */
  healthy() {
    return this.watchers.length > 0 && this.watchers.every((w) => w.healthy === true);
  }

  async stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    await Promise.all(this.watchers.map((w) => w.stop()));
    this.client?.close();
  }
}

function pick(/** @type {Record<string, any>} */ o, /** @type {string[]} */ keys) {
  return Object.fromEntries(keys.filter((k) => o[k] !== undefined).map((k) => [k, o[k]]));
}
