// @peculiar/x509 resolves its providers through tsyringe, which needs the Reflect metadata polyfill
// loaded before it: this import must stay first.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { randomBytes, webcrypto } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import * as path from 'node:path';

/**
 * The cluster's certificate authority and its members' certificates.
 *
 * A cluster CA signs one certificate per member. The certificate's subject
 * common name is the member's name ("n1"): that is the identity a peer proves
 * on a TLS connection, and the transport checks it against the name the hello
 * claims. Certificates carry both `serverAuth` and `clientAuth`, since every
 * member both dials and accepts, and name `localhost`, `127.0.0.1`, `::1` and
 * any hosts given so the same certificate can serve the HTTPS API.
 *
 * Keys are ECDSA P-256 (small, fast handshakes), written PKCS#8 PEM with mode
 * 0600. Files of a CA directory: `ca.pem`, `ca.key`. Files of a node's TLS
 * directory: `node.pem`, `node.key` and a copy of `ca.pem`.
 */

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

export const CA_CERT_FILE = 'ca.pem';
export const CA_KEY_FILE = 'ca.key';
export const NODE_CERT_FILE = 'node.pem';
export const NODE_KEY_FILE = 'node.key';

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;

/** A certificate file or directory that is missing, unreadable or not what it should be. */
export class CertificateError extends Error {
  override name = 'CertificateError';
}

/** What a TLS directory holds, ready for `tls.createServer` / `tls.connect`. */
export interface TlsMaterial {
  /** The cluster CA certificate (PEM): the only issuer trusted for peers. */
  readonly ca: Buffer;
  /** This node's certificate (PEM). */
  readonly cert: Buffer;
  /** This node's private key (PEM). */
  readonly key: Buffer;
  /** The member name the certificate proves (its subject common name). */
  readonly name: string;
}

/** Options of {@link createCa}. */
export interface CaOptions {
  /** Subject common name. Default "tsraft cluster CA". */
  readonly commonName?: string;
  /** Validity in days. Default 3650. */
  readonly validDays?: number;
}

/** Options of {@link issueCertificate}. */
export interface IssueOptions {
  /** A CA directory made by {@link createCa}. */
  readonly caDir: string;
  /** The member name; becomes the certificate's common name. */
  readonly name: string;
  /** Where to write `node.pem`, `node.key` and `ca.pem`. Created if missing. */
  readonly outDir: string;
  /** Extra host names or IP addresses the certificate is valid for (for the HTTPS API). */
  readonly hosts?: readonly string[];
  /** Validity in days. Default 825. */
  readonly validDays?: number;
}

/** A member name as `tsraft serve --id` accepts it. */
const MEMBER_NAME = /^[A-Za-z0-9._-]{1,64}$/;

function serial(): string {
  // Positive (top bit clear) and never zero.
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x7f) | 0x01;
  return b.toString('hex');
}

function writePrivate(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, text, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}

function writePublic(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, text, { mode: 0o644 });
  renameSync(tmp, file);
}

async function keyPem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

function readFile(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new CertificateError(`${what} ${file} cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** True when `dir` already holds a CA (both files). */
export function hasCa(dir: string): boolean {
  return existsSync(path.join(dir, CA_CERT_FILE)) && existsSync(path.join(dir, CA_KEY_FILE));
}

/**
 * Creates a CA in `dir` (`ca.pem`, `ca.key`). Refuses to overwrite an existing
 * one: a new CA would make every certificate it signed untrusted.
 */
export async function createCa(dir: string, opts: CaOptions = {}): Promise<{ readonly certFile: string; readonly keyFile: string }> {
  const certFile = path.join(dir, CA_CERT_FILE);
  const keyFile = path.join(dir, CA_KEY_FILE);
  if (existsSync(certFile) || existsSync(keyFile)) throw new CertificateError(`${dir} already holds a CA (${CA_CERT_FILE} or ${CA_KEY_FILE}); refusing to replace it`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    // A unique default name, so certificates of two clusters' CAs never look alike.
    name: `CN=${escapeDn(opts.commonName ?? `tsraft cluster CA ${randomBytes(4).toString('hex')}`)}`,
    notBefore: new Date(now - 5 * 60_000),
    notAfter: new Date(now + (opts.validDays ?? 3650) * DAY_MS),
    keys,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  writePrivate(keyFile, await keyPem(keys.privateKey));
  writePublic(certFile, cert.toString('pem') + '\n');
  return { certFile, keyFile };
}

/** Loads a CA directory for signing. */
async function loadCa(caDir: string): Promise<{ cert: x509.X509Certificate; key: CryptoKey; pem: string }> {
  const pem = readFile(path.join(caDir, CA_CERT_FILE), 'the CA certificate').toString('utf8');
  const keyText = readFile(path.join(caDir, CA_KEY_FILE), 'the CA key').toString('utf8');
  let cert: x509.X509Certificate;
  let key: CryptoKey;
  try {
    cert = new x509.X509Certificate(pem);
    key = await webcrypto.subtle.importKey('pkcs8', x509.PemConverter.decodeFirst(keyText), ALG, false, ['sign']);
  } catch (e) {
    throw new CertificateError(`${caDir} does not hold a usable CA (an ECDSA P-256 ${CA_CERT_FILE} and PKCS#8 ${CA_KEY_FILE}): ${(e as Error).message}`);
  }
  return { cert, key, pem };
}

/**
 * Issues a member certificate signed by the CA in `caDir` and writes
 * `node.pem`, `node.key` and `ca.pem` to `outDir` (replacing older ones:
 * that is how a certificate is renewed).
 */
export async function issueCertificate(opts: IssueOptions): Promise<{ readonly certFile: string; readonly keyFile: string; readonly caFile: string }> {
  if (!MEMBER_NAME.test(opts.name)) throw new CertificateError(`a member name of 1 to 64 characters among A-Z a-z 0-9 . _ - is required, got '${opts.name}'`);
  const ca = await loadCa(opts.caDir);
  const hosts = ['localhost', '127.0.0.1', '::1', ...(opts.hosts ?? [])];
  const altNames = [...new Set(hosts)].map((h) => (isIP(h) !== 0 ? { type: 'ip' as const, value: h } : { type: 'dns' as const, value: h }));
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${escapeDn(opts.name)}`,
    issuer: ca.cert.subject,
    notBefore: new Date(now - 5 * 60_000),
    notAfter: new Date(now + (opts.validDays ?? 825) * DAY_MS),
    signingKey: ca.key,
    publicKey: keys.publicKey,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension(altNames),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert),
    ],
  });
  mkdirSync(opts.outDir, { recursive: true, mode: 0o700 });
  const certFile = path.join(opts.outDir, NODE_CERT_FILE);
  const keyFile = path.join(opts.outDir, NODE_KEY_FILE);
  const caFile = path.join(opts.outDir, CA_CERT_FILE);
  writePrivate(keyFile, await keyPem(keys.privateKey));
  writePublic(certFile, cert.toString('pem') + '\n');
  writePublic(caFile, ca.pem.endsWith('\n') ? ca.pem : ca.pem + '\n');
  return { certFile, keyFile, caFile };
}

/** The subject common name of a PEM certificate. */
export function commonNameOf(pem: string | Buffer): string | undefined {
  const cert = new x509.X509Certificate(typeof pem === 'string' ? pem : pem.toString('utf8'));
  return cert.subjectName.getField('CN')[0];
}

/**
 * Reads a node's TLS directory (`node.pem`, `node.key`, `ca.pem`), checking
 * that the certificate is signed by that CA and names a member.
 */
export async function readTlsDir(dir: string): Promise<TlsMaterial> {
  const ca = readFile(path.join(dir, CA_CERT_FILE), 'the cluster CA certificate');
  const cert = readFile(path.join(dir, NODE_CERT_FILE), "the node's certificate");
  const key = readFile(path.join(dir, NODE_KEY_FILE), "the node's key");
  let name: string | undefined;
  try {
    const c = new x509.X509Certificate(cert.toString('utf8'));
    // ca.pem may hold several CAs while the CA is rotated (docs/SECURITY.md): the certificate must be issued by one of them.
    const cas = x509.PemConverter.decode(ca.toString('utf8')).map((der) => new x509.X509Certificate(der));
    if (cas.length === 0) throw new CertificateError(`${path.join(dir, CA_CERT_FILE)} holds no certificate`);
    let issued = false;
    for (const issuer of cas) if (c.issuer === issuer.subject && (await c.verify({ publicKey: issuer.publicKey, signatureOnly: true }))) issued = true;
    if (!issued) throw new CertificateError(`${path.join(dir, NODE_CERT_FILE)} is issued by '${c.issuer}', not by the CA in ${path.join(dir, CA_CERT_FILE)} ('${cas.map((x) => x.subject).join("', '")}')`);
    name = c.subjectName.getField('CN')[0];
  } catch (e) {
    if (e instanceof CertificateError) throw e;
    throw new CertificateError(`${dir}: not a PEM certificate: ${(e as Error).message}`);
  }
  if (name === undefined || !MEMBER_NAME.test(name)) throw new CertificateError(`${path.join(dir, NODE_CERT_FILE)} does not name a member in its common name (got ${JSON.stringify(name)})`);
  return { ca, cert, key, name };
}

/** Escapes the characters RFC 4514 reserves in a DN attribute value. */
function escapeDn(v: string): string {
  return v.replace(/[,+"\\<>;=]/g, (c) => `\\${c}`).replace(/^[ #]|[ ]$/g, (c) => `\\${c}`);
}
