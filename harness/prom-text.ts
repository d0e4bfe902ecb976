/** Reads one metric's value (sum over label sets matching `labels`) from Prometheus text. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    if (Object.entries(labels).every(([k, v]) => (m[2] ?? '').includes(`${k}="${v}"`))) sum += Number(m[3]);
  }
  return sum;
}

/** Sum of a Prometheus metric's samples (from a /metrics endpoint) whose labels include `labels`. */
export async function metricSum(port: number, name: string, labels: Record<string, string> = {}): Promise<number> {
  return metricValue(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text(), name, labels);
}
