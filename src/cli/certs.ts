/** `tsraft certs ca | node`: a cluster CA and member certificates for peer TLS (docs/SECURITY.md). */
import * as path from 'node:path';
import { CertificateError, createCa, issueCertificate } from '../security/certs.js';
import { stdio, type Io } from './output.js';

/** `tsraft certs ca --out DIR`: a new CA (ca.pem, ca.key) in DIR. */
export async function certsCa(flags: { out?: string }, io: Io = stdio): Promise<number> {
  if (flags.out === undefined || flags.out === '') {
    io.err('tsraft certs ca: --out DIR is required (where to write ca.pem and ca.key)');
    return 2;
  }
  try {
    const r = await createCa(flags.out);
    io.out(`wrote the CA certificate ${r.certFile} and its key ${r.keyFile} (mode 0600: keep it secret, ideally offline)`);
    io.out(`make a node's certificate with: tsraft certs node NAME --ca ${flags.out} --out DIR`);
    return 0;
  } catch (e) {
    return failed('tsraft certs ca', e, io);
  }
}

/** `tsraft certs node NAME --ca DIR --out DIR [--host H ...]`: a member certificate signed by the CA in --ca. */
export async function certsNode(name: string, flags: { ca?: string; out?: string; host?: string[] }, io: Io = stdio): Promise<number> {
  const missing = (['ca', 'out'] as const).filter((k) => flags[k] === undefined || flags[k] === '');
  if (missing.length > 0) {
    io.err(`tsraft certs node: missing ${missing.map((k) => `--${k} DIR`).join(', ')}`);
    io.err('usage: tsraft certs node NAME --ca CA_DIR --out DIR [--host HOST ...]');
    return 2;
  }
  try {
    const r = await issueCertificate({ caDir: flags.ca!, name, outDir: flags.out!, hosts: flags.host ?? [] });
    io.out(`wrote ${name}'s certificate ${r.certFile}, key ${r.keyFile} (mode 0600) and the CA certificate ${r.caFile}`);
    io.out(`use it with: tsraft serve --id ${name} ... --tls-dir ${path.dirname(r.certFile)}`);
    return 0;
  } catch (e) {
    return failed('tsraft certs node', e, io);
  }
}

function failed(cmd: string, e: unknown, io: Io): number {
  if (e instanceof CertificateError) {
    io.err(`${cmd}: ${e.message}`);
    return 1;
  }
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'EACCES' || code === 'ENOENT' || code === 'ENOTDIR' || code === 'EEXIST' || code === 'EROFS') {
    io.err(`${cmd}: ${(e as Error).message}`);
    return 1;
  }
  throw e;
}
