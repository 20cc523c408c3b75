// The configuration this module reads (Backstage's config schema for it).
export interface Config {
  catalog?: {
    providers?: {
      /** Playbill clusters, by id: each becomes the entity provider `playbill:<id>`. */
      playbill?: {
        [clusterId: string]: {
          /** A kubeconfig file; its current context unless `context` is set. */
          kubeconfig?: string;
          context?: string;
          /** The API server URL, with `token`/`tokenFile` and `caData`/`caFile`. */
          url?: string;
          /** @visibility secret */
          token?: string;
          tokenFile?: string;
          /** The cluster CA, base64-encoded PEM (as in a kubeconfig). */
          caData?: string;
          caFile?: string;
          skipTLSVerify?: boolean;
          /** Milliseconds between the first change of a burst and its mutation (default 150). */
          coalesceMs?: number;
          /** Seconds each watch lasts before it is renewed (default 300, ±20 %). */
          watchTimeoutSeconds?: number;
          guard?: {
            /** A list removing more than this fraction of a kind's objects needs a second list (default 0.5). */
            maxRemovedFraction?: number;
            /** Milliseconds before that second list (default 5000). */
            confirmAfterMs?: number;
          };
        };
      };
    };
  };
}
