// A Backstage backend as an app would have it: backend-defaults, the real catalog plugin, and
// this module. Run with the working directory holding package.json and `--config FILE`.
import { createBackend } from '@backstage/backend-defaults';

const backend = createBackend();
backend.add(import('@backstage/plugin-catalog-backend'));
// The package by its name, as an app imports it (dist/, built by `npm run build`).
backend.add(import('@playbill/plugin-catalog-backend-module-playbill'));
await backend.start();
