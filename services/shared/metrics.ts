import client from 'prom-client';

export { client as prom };

/** One registry per process, with Node's default metrics, prefixed `meshbridge_`. */
export function createMetricsRegistry(role: string): client.Registry {
  const registry = new client.Registry();
  registry.setDefaultLabels({ role });
  client.collectDefaultMetrics({ register: registry, prefix: 'meshbridge_' });
  return registry;
}
