/** Reads what a real istiod holds: its /debug/configz (all configs, JSON). */
export interface IstiodConfig {
  kind: string;
  apiVersion?: string;
  metadata: {
    name: string;
    namespace: string;
    resourceVersion?: string;
    creationTimestamp?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec: any;
}

export async function serviceEntries(debug: (p: string) => Promise<unknown>): Promise<IstiodConfig[]> {
  const all = (await debug('/debug/configz')) as IstiodConfig[] | null;
  return (all ?? []).filter((c) => c.kind === 'ServiceEntry');
}
