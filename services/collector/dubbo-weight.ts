import type { InstanceSpec } from '../../schemas/registry-event.ts';
import { KIND_DEFAULT_WEIGHT, MAX_WEIGHT } from '../../schemas/weight-scale.ts';

/** The weight Dubbo's load balancers give a provider that registers none (`DEFAULT_WEIGHT`). */
export const DUBBO_DEFAULT_WEIGHT = KIND_DEFAULT_WEIGHT['zookeeper-dubbo']!;

/** A provider's Dubbo weight: its `weight` parameter when it is a whole number, Dubbo's default otherwise. */
export function dubboWeight(param: unknown): number {
  return typeof param === 'string' && /^\d+$/.test(param) ? Math.min(Number(param), MAX_WEIGHT) : DUBBO_DEFAULT_WEIGHT;
}

/**
 * The weights to publish for one service's providers. istio reads an endpoint without a weight as weight 1, so a
 * provider registered without one next to providers with `weight=100` would get a hundredth of their share where
 * Dubbo gives it an equal one: when the weights differ, each is published (the default included). When they are all
 * equal they are left out, the same shares for the usual fleet in fewer bytes, and byte-stable as providers come and
 * go. Mutates and returns the instances.
 */
export function publishDubboWeights(instances: InstanceSpec[]): InstanceSpec[] {
  const first = instances[0]?.weight;
  if (instances.every((i) => i.weight === first)) for (const i of instances) i.weight = 0;
  return instances;
}
