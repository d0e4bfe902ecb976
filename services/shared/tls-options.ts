import fs from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import type { TlsClientConfig } from './config.ts';

/** TLS client options from config: files were checked readable when the config was loaded. */
export function tlsOptions(tls: TlsClientConfig): ConnectionOptions {
  return {
    ...(tls.caFile ? { ca: [fs.readFileSync(tls.caFile)] } : {}),
    ...(tls.certFile && tls.keyFile ? { cert: fs.readFileSync(tls.certFile), key: fs.readFileSync(tls.keyFile) } : {}),
    ...(tls.servername ? { servername: tls.servername } : {}),
    rejectUnauthorized: tls.rejectUnauthorized,
  };
}
