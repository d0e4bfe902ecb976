import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface TestCerts {
  caCert: string;
  serverCert: string;
  serverKey: string;
  dir: string;
}

/** Runs the openssl CLI in `cwd`; throws with its stderr on a non-zero exit. */
export function openssl(args: string[], cwd: string): void {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args[0]} failed (exit ${r.status}): ${r.stderr || r.error?.message}`);
}

const SERVER_USAGE = 'extendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\n';
const CLIENT_USAGE = 'extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature,keyEncipherment\n';

/** A self-signed CA valid for two days, written to `dir` as ca.crt / ca.key. */
export function makeCa(dir: string, commonName: string): void {
  fs.mkdirSync(dir, { recursive: true });
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
      `/CN=${commonName}`,
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
}

/**
 * A key and a certificate signed by the CA in `dir` (see makeCa), written as <name>.key / <name>.crt, with the
 * X.509 extensions given as openssl extfile lines.
 */
export function signCert(dir: string, name: string, subject: string, extensions: string): void {
  fs.writeFileSync(path.join(dir, `${name}.ext`), extensions);
  openssl(
    ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', subject, '-keyout', `${name}.key`, '-out', `${name}.csr`],
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
}

/** extfile lines of a serving certificate for these subject alternative names ("DNS:x", "IP:y"). */
export function serverExtensions(subjectAltNames: string[]): string {
  return `subjectAltName=${subjectAltNames.join(',')}\n${SERVER_USAGE}`;
}

/** extfile lines of a client certificate. */
export const clientExtensions = CLIENT_USAGE;

/**
 * A throw-away CA and a server certificate for 127.0.0.1 / localhost (SANs — istiod's Go TLS client checks SANs, not
 * the CN), made with the openssl CLI in `dir`. Fails loudly when openssl is missing.
 */
export function makeServerCerts(dir: string, hosts: { dns?: string[]; ips?: string[] } = {}): TestCerts {
  makeCa(dir, 'meshbridge test CA');
  const san = [
    ...(hosts.dns ?? ['localhost']).map((d) => `DNS:${d}`),
    ...(hosts.ips ?? ['127.0.0.1']).map((i) => `IP:${i}`),
  ];
  signCert(dir, 'server', '/CN=meshbridge-gateway', serverExtensions(san));
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
  signCert(certs.dir, name, `/CN=${name}`, clientExtensions);
  return { cert: path.join(certs.dir, `${name}.crt`), key: path.join(certs.dir, `${name}.key`) };
}
