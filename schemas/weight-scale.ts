/**
 * How instance weights are stated in events (InstanceSpec.weight), per registry kind: part of the contract between
 * the collectors, which publish them, and the projector, which merges hosts fed by several sources.
 *
 * Each kind publishes on its own registry's scale, and 0 means "not stated" (the source's instances all have the same
 * weight). What an instance that states none gets from its registry — its default share — on that scale:
 */
export const KIND_DEFAULT_WEIGHT: Readonly<Record<string, number>> = {
  // Dubbo's load balancers' DEFAULT_WEIGHT.
  'zookeeper-dubbo': 100,
  // Nacos weights are doubles (default 1.0), published ×100 so 0.5 vs 1.0 keeps its ratio as an integer.
  nacos: 100,
  // Consul's Weights.Passing default.
  consul: 1,
  // Eureka has no weights: every instance is published at 1.
  eureka: 1,
};

/** The largest weight an event carries (istio's is a uint32; kept within int32 for every reader). */
export const MAX_WEIGHT = 2 ** 31 - 1;
