import fs from 'node:fs';
import path from 'node:path';
import { consulBinary, ensureInstalled } from './install.ts';
import { ManagedProcess, readyOrStop } from './process.ts';
import { freePort, startWithPortRetry } from './ports.ts';
import { waitFor } from './wait.ts';

export interface ConsulServer {
  httpPort: number;
  /** http://127.0.0.1:PORT */
  address: string;
  datacenter: string;
  /** The ACL management token when started with ACLs, for tests' own registration calls. */
  managementToken: string | undefined;
  proc: ManagedProcess;
  /** Stops the agent and starts a new one on the same ports: a dev agent keeps nothing, as after a crash with lost state. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface ConsulOptions {
  datacenter?: string;
  /** Enables ACLs with default deny and this management token. */
  managementToken?: string;
  name?: string;
  /** limits.http_max_conns_per_client (Consul's default is 200). */
  maxConnsPerClient?: number;
}

/**
 * A Consul dev agent (server + client in one process, state in memory) on free loopback ports, built from the Go module
 * proxy by scripts/install.sh. Every port it would open is chosen here, so several agents (tests, datacenters) coexist.
 */
export function startConsul(runDir: string, opts: ConsulOptions = {}): Promise<ConsulServer> {
  ensureInstalled(['consul']);
  return startWithPortRetry('consul', () => launchConsul(runDir, opts));
}

async function launchConsul(runDir: string, opts: ConsulOptions): Promise<ConsulServer> {
  const name = opts.name ?? 'consul';
  const datacenter = opts.datacenter ?? 'dc1';
  const [http, server, serfLan, serfWan] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  const dir = path.join(runDir, name);
  fs.mkdirSync(dir, { recursive: true });
  const hcl = [
    `ports { http = ${http}\n server = ${server}\n serf_lan = ${serfLan}\n serf_wan = ${serfWan}\n dns = -1\n grpc = -1\n grpc_tls = -1 }`,
    opts.managementToken
      ? `acl { enabled = true\n default_policy = "deny"\n enable_token_persistence = false\n tokens { initial_management = "${opts.managementToken}"\n agent = "${opts.managementToken}" } }`
      : '',
    // The collector holds one blocking query per watched service; Consul refuses a client's 201st concurrent
    // connection by default (429). Operators raise this on the agent the collector talks to (docs/collectors.md).
    `limits { http_max_conns_per_client = ${opts.maxConnsPerClient ?? 1000} }`,
  ].join('\n');
  const cfgFile = path.join(dir, 'agent.hcl');
  fs.writeFileSync(cfgFile, hcl);
  let proc!: ManagedProcess;
  const address = `http://127.0.0.1:${http}`;
  const launch = async () => {
    proc = new ManagedProcess({
      name,
      command: consulBinary(),
      logDir: runDir,
      args: [
        'agent',
        '-dev',
        '-client=127.0.0.1',
        '-bind=127.0.0.1',
        `-datacenter=${datacenter}`,
        `-node=${name}-${http}`,
        `-config-file=${cfgFile}`,
        '-log-level=info',
      ],
    });
    result.proc = proc;
    // Ready when a leader is elected and the agent has registered itself in the catalog (it can serve catalog writes).
    await readyOrStop(proc, () =>
      waitFor(
        async () => {
          proc.assertRunning();
          const leader = await fetch(`${address}/v1/status/leader`)
            .then((r) => r.json())
            .catch(() => '');
          if (!leader) return false;
          const headers: Record<string, string> = opts.managementToken
            ? { 'x-consul-token': opts.managementToken }
            : {};
          const nodes = (await fetch(`${address}/v1/catalog/nodes`, { headers }).then((r) =>
            r.ok ? r.json() : [],
          )) as unknown[];
          return nodes.length > 0;
        },
        { what: `consul dev agent on :${http} (log ${proc.logFile})`, timeoutMs: 60_000, intervalMs: 100 },
      ),
    );
  };
  const result: ConsulServer = {
    httpPort: http,
    address,
    datacenter,
    managementToken: opts.managementToken,
    proc: undefined as unknown as ManagedProcess,
    async restart() {
      await proc.stop();
      await launch();
    },
    stop: () => proc.stop(),
  };
  await launch();
  return result;
}
