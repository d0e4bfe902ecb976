/**
 * istiod's `configSources` for a gateway fleet: one `xds://` entry per (address, shard), shard i on `grpcPort + i`.
 * istiod must list every shard of every address it reads, or the services of the missing shards never reach it; the
 * list is generated (`meshbridge istiod-config`, the Helm chart's NOTES, docker-compose's mesh.yaml) rather than
 * written by hand.
 */
export interface IstiodSourcesInput {
  /** Host names the gateways are reached at (a Service, or each compose replica). */
  hosts: readonly string[];
  grpcPort: number;
  shards: number;
  /** `k8s://` first: istiod keeps the cluster's own Istio config (VirtualServices, DestinationRules ...). */
  kubernetes?: boolean;
  /** PEM of the CA that signed the gateway's certificate (gateway.tls): each source gets tlsSettings SIMPLE. */
  caPem?: string;
}

export function shardPorts(grpcPort: number, shards: number): number[] {
  return Array.from({ length: Math.max(1, shards) }, (_, i) => grpcPort + i);
}

export function istiodSourceAddresses(input: IstiodSourcesInput): string[] {
  const ports = shardPorts(input.grpcPort, input.shards);
  return input.hosts.flatMap((h) => ports.map((p) => `xds://${h}:${p}`));
}

/** The `configSources:` block of istiod's mesh config, as YAML (indented by `indent` spaces). */
export function istiodSourcesYaml(input: IstiodSourcesInput, indent = 0): string {
  const pad = ' '.repeat(indent);
  const lines = [`${pad}configSources:`];
  if (input.kubernetes) lines.push(`${pad}  - address: k8s://`);
  for (const address of istiodSourceAddresses(input)) {
    lines.push(`${pad}  - address: ${address}`);
    if (input.caPem) {
      const host = address.slice('xds://'.length, address.lastIndexOf(':'));
      lines.push(`${pad}    tlsSettings:`, `${pad}      mode: SIMPLE`, `${pad}      sni: ${host}`);
      lines.push(`${pad}      subjectAltNames: [${host}]`, `${pad}      caCertificates: |`);
      for (const l of input.caPem.trimEnd().split('\n')) lines.push(`${pad}        ${l}`);
    }
  }
  return `${lines.join('\n')}\n`;
}
