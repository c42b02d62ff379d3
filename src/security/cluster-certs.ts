import { copyFileSync, existsSync } from 'node:fs';
import * as path from 'node:path';
import { CA_CERT_FILE, NODE_CERT_FILE, createCa, hasCa, issueCertificate } from './certs.js';

/**
 * Where `tsraft cluster` keeps its development CA and its members'
 * certificates, inside the cluster's data directory:
 * `<data>/ca/` (ca.pem, ca.key), `<data>/certs/<name>/` (node.pem, node.key,
 * ca.pem; a node's `--tls-dir`, also usable for its HTTPS API), and a copy of
 * the CA certificate at `<data>/ca.pem` for clients (`--cacert`).
 */
export interface ClusterCertPaths {
  readonly caDir: string;
  /** The CA certificate clients trust. */
  readonly caFile: string;
  /** A member's TLS directory. */
  tlsDir(name: string): string;
}

/** The certificate paths of a local cluster whose data directory is `dataDir`. */
export function clusterCertPaths(dataDir: string): ClusterCertPaths {
  return {
    caDir: path.join(dataDir, 'ca'),
    caFile: path.join(dataDir, CA_CERT_FILE),
    tlsDir: (name) => path.join(dataDir, 'certs', name),
  };
}

/**
 * Creates the cluster's CA on first start and a certificate for every member
 * that has none yet; a restart reuses what exists. Returns the paths.
 */
export async function ensureClusterCerts(dataDir: string, names: readonly string[], hosts: readonly string[] = []): Promise<ClusterCertPaths> {
  const p = clusterCertPaths(dataDir);
  if (!hasCa(p.caDir)) await createCa(p.caDir, { commonName: `tsraft development CA ${path.basename(path.resolve(dataDir))} ${Date.now().toString(36)}` });
  for (const name of names) {
    if (!existsSync(path.join(p.tlsDir(name), NODE_CERT_FILE))) await issueCertificate({ caDir: p.caDir, name, outDir: p.tlsDir(name), hosts });
  }
  copyFileSync(path.join(p.caDir, CA_CERT_FILE), p.caFile);
  return p;
}
