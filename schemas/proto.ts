import path from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'proto');

/**
 * One protobufjs root for every .proto in schemas/proto (google/protobuf well-known types are built in). keepCase:
 * objects use the proto field names (type_url, response_nonce), as on the wire docs, not camelCase.
 */
export const root = new protobuf.Root().loadSync(
  ['xds.proto', 'mcp.proto', 'networking.proto', 'envoy-eds.proto'].map((f) => path.join(dir, f)),
  { keepCase: true },
);
root.resolveAll();

export const DiscoveryRequest = root.lookupType('envoy.service.discovery.v3.DiscoveryRequest');
export const DiscoveryResponse = root.lookupType('envoy.service.discovery.v3.DiscoveryResponse');
export const DeltaDiscoveryRequest = root.lookupType('envoy.service.discovery.v3.DeltaDiscoveryRequest');
export const DeltaDiscoveryResponse = root.lookupType('envoy.service.discovery.v3.DeltaDiscoveryResponse');
export const McpResource = root.lookupType('istio.mcp.v1alpha1.Resource');
export const ServiceEntry = root.lookupType('istio.networking.v1alpha3.ServiceEntry');
export const WorkloadEntry = root.lookupType('istio.networking.v1alpha3.WorkloadEntry');
export const EnvoyCluster = root.lookupType('envoy.config.probe.Cluster');
export const EnvoyClusterLoadAssignment = root.lookupType('envoy.config.probe.ClusterLoadAssignment');
export const EnvoyListener = root.lookupType('envoy.config.probe.Listener');
export const EnvoyTcpProxy = root.lookupType('envoy.config.probe.TcpProxy');

export { protobuf };
