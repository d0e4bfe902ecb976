import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface TestCerts {
  caCert: string;
  serverCert: string;
  serverKey: string;
  dir: string;
}

function openssl(args: string[], cwd: string): void {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args[0]} failed (exit ${r.status}): ${r.stderr || r.error?.message}`);
}

/**
 * A throw-away CA and a server certificate for 127.0.0.1 / localhost (SANs — istiod's Go TLS client checks SANs, not
 * the CN), made with the openssl CLI in `dir`. Fails loudly when openssl is missing.
 */
export function makeServerCerts(dir: string, hosts: { dns?: string[]; ips?: string[] } = {}): TestCerts {
  fs.mkdirSync(dir, { recursive: true });
  const san = [
    ...(hosts.dns ?? ['localhost']).map((d) => `DNS:${d}`),
    ...(hosts.ips ?? ['127.0.0.1']).map((i) => `IP:${i}`),
  ].join(',');
  fs.writeFileSync(
    path.join(dir, 'server.ext'),
    `subjectAltName=${san}\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\n`,
  );
  openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=meshbridge test CA',
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
  openssl(
    [
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      '/CN=meshbridge-gateway',
      '-keyout',
      'server.key',
      '-out',
      'server.csr',
    ],
    dir,
  );
  openssl(
    [
      'x509',
      '-req',
      '-in',
      'server.csr',
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      'server.ext',
      '-out',
      'server.crt',
    ],
    dir,
  );
  return {
    dir,
    caCert: path.join(dir, 'ca.crt'),
    serverCert: path.join(dir, 'server.crt'),
    serverKey: path.join(dir, 'server.key'),
  };
}

export interface ClientCert {
  cert: string;
  key: string;
}

/**
 * A client certificate signed by the CA of `certs` (for servers that require mutual TLS: Redis `tls-auth-clients`,
 * Kafka `ssl.client.auth`), written next to it as <name>.crt / <name>.key.
 */
export function makeClientCert(certs: TestCerts, name = 'client'): ClientCert {
  const { dir } = certs;
  fs.writeFileSync(
    path.join(dir, `${name}.ext`),
    'extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature,keyEncipherment\n',
  );
  openssl(
    ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.csr`],
    dir,
  );
  openssl(
    [
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      `${name}.ext`,
      '-out',
      `${name}.crt`,
    ],
    dir,
  );
  return { cert: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) };
}
