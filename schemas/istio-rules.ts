/**
 * istiod's rules for the values registry data turns into (docs/protocol.md, "What istiod's validation rejects"), kept
 * once: the collector sanitises labels and maps protocols by them, the projector validates every ServiceEntry by them
 * before publishing (istiod never NACKs; an object that fails there is silently dropped), config validates by them.
 */

/** istio's protocol names, as istio spells them, keyed by lower case. */
export const ISTIO_PROTOCOLS = {
  http: 'HTTP',
  http2: 'HTTP2',
  https: 'HTTPS',
  grpc: 'GRPC',
  'grpc-web': 'GRPC-Web',
  tcp: 'TCP',
  tls: 'TLS',
  udp: 'UDP',
  mongo: 'Mongo',
  redis: 'Redis',
  mysql: 'MySQL',
} as const;
export type IstioProtocol = (typeof ISTIO_PROTOCOLS)[keyof typeof ISTIO_PROTOCOLS];
export const ISTIO_PROTOCOL_NAMES = Object.values(ISTIO_PROTOCOLS) as [IstioProtocol, ...IstioProtocol[]];

/** The istio spelling of a protocol name in any case, or undefined when istiod does not know it. */
export const istioProtocol = (name: string): IstioProtocol | undefined =>
  Object.hasOwn(ISTIO_PROTOCOLS, name.toLowerCase())
    ? (ISTIO_PROTOCOLS as Record<string, IstioProtocol>)[name.toLowerCase()]
    : undefined;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
// Kubernetes label syntax, which istiod enforces on endpoint labels.
const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_PREFIX = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/**
 * These checks run for every event on the projector's hot path, over strings that repeat endlessly (label keys and
 * values, hosts). A bounded memo of each check's verdict keeps the regexes off that path.
 */
function memo(check: (s: string) => boolean, max = 50_000): (s: string) => boolean {
  const seen = new Map<string, boolean>();
  return (s) => {
    let v = seen.get(s);
    if (v === undefined) {
      v = check(s);
      if (seen.size >= max) seen.clear();
      seen.set(s, v);
    }
    return v;
  };
}

export const isDnsName = memo((host: string): boolean => {
  if (host.length === 0 || host.length > 253 || host === '*') return false;
  return host.split('.').every((l) => l.length <= 63 && DNS_LABEL.test(l));
});

export const isPortName = memo((n) => DNS_LABEL.test(n) && n.length <= 63);

/** A Kubernetes label key: an optional DNS-subdomain prefix and '/', then a name of at most 63 characters. */
export const isLabelKey = memo((key) => {
  const slash = key.lastIndexOf('/');
  const name = slash < 0 ? key : key.slice(slash + 1);
  const prefix = slash < 0 ? undefined : key.slice(0, slash);
  if (prefix !== undefined && (prefix.length === 0 || prefix.length > 253 || !LABEL_PREFIX.test(prefix))) return false;
  return name.length > 0 && name.length <= 63 && LABEL_NAME.test(name);
});

export const isLabelValue = memo((v) => v.length <= 63 && LABEL_VALUE.test(v));
