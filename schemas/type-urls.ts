/** Type URLs of the MCP envelope (docs/protocol.md, "Resource encoding"). */
export const MCP_RESOURCE_TYPE = 'type.googleapis.com/istio.mcp.v1alpha1.Resource';
/** The body is always the v1alpha3 proto message, even when istiod asked for the v1 GVK. */
export const SERVICE_ENTRY_BODY_TYPE = 'type.googleapis.com/istio.networking.v1alpha3.ServiceEntry';

/** The first type istiod's config-source client asks for; only that client asks for it (docs/protocol.md). */
export const MESH_CONFIG_TYPE = 'core/v1alpha1/MeshConfig';

/** Which resource kind a requested collection (GVK) is, ignoring its version: istiod ≥1.24 asks v1, older v1alpha3. */
export type ServedKind = 'ServiceEntry';

export function servedKindOf(typeUrl: string): ServedKind | undefined {
  const m = /^networking\.istio\.io\/[^/]+\/(ServiceEntry)$/.exec(typeUrl);
  return m ? (m[1] as ServedKind) : undefined;
}
