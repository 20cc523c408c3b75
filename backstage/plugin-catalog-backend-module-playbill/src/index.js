// @playbill/plugin-catalog-backend-module-playbill: a catalog module for Backstage's backend
// system that gives the catalog every Playbill entity of one or more clusters, within about a
// second of each change. Configuration: `catalog.providers.playbill.<id>` (docs/backstage.md).

import { coreServices, createBackendModule } from '@backstage/backend-plugin-api';
import { catalogProcessingExtensionPoint } from '@backstage/plugin-catalog-node';
import { connectionFromConfig } from './kube.js';
import { PlaybillEntityProvider } from './provider.js';

export { PlaybillEntityProvider } from './provider.js';
export { Mirror } from './mirror.js';
export { toEntities, toEntity } from './mapping.js';

/**
 * The providers `catalog.providers.playbill` configures, one per cluster id.
 * @param {import('@backstage/config').Config} config the root config
 * @param {import('./watcher.js').Logger} logger
 */
export function providersFromConfig(config, logger) {
  const block = config.getOptionalConfig('catalog.providers.playbill');
  if (!block) return [];
  return block.keys().map((id) => {
    const c = block.getConfig(id);
    const guard = c.getOptionalConfig('guard');
    return new PlaybillEntityProvider({
      id,
      connection: connectionFromConfig(c),
      logger: /** @type {any} */ (logger).child ? /** @type {any} */ (logger).child({ cluster: id }) : logger,
      coalesceMs: c.getOptionalNumber('coalesceMs'),
      watchTimeoutSeconds: c.getOptionalNumber('watchTimeoutSeconds'),
      maxRemovedFraction: guard?.getOptionalNumber('maxRemovedFraction'),
      confirmAfterMs: guard?.getOptionalNumber('confirmAfterMs'),
    });
  });
}

export const catalogModulePlaybill = createBackendModule({
  pluginId: 'catalog',
  moduleId: 'playbill',
  register(env) {
    env.registerInit({
      deps: {
        catalog: catalogProcessingExtensionPoint,
        config: coreServices.rootConfig,
        logger: coreServices.logger,
        lifecycle: coreServices.lifecycle,
      },
      async init({ catalog, config, logger, lifecycle }) {
        const providers = providersFromConfig(config, logger);
        if (!providers.length) logger.warn('catalog.providers.playbill configures no cluster; the Playbill provider does nothing');
        for (const p of providers) catalog.addEntityProvider(p);
        lifecycle.addShutdownHook(async () => {
          await Promise.all(providers.map((p) => p.stop()));
        });
      },
    });
  },
});

export default catalogModulePlaybill;
