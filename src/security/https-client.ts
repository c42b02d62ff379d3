/**
 * Calls to a tsraft API over HTTPS with the cluster's own CA: an undici
 * `Agent` trusting that CA, passed to `fetch` as its `dispatcher`.
 */
import { readFileSync } from 'node:fs';
import { Agent } from 'undici';

/** A CA certificate file could not be read. */
export class CaFileError extends Error {
  override name = 'CaFileError';
}

/** Reads a PEM CA certificate; `what` names the flag or setting it came from. */
export function readCaFile(file: string, what: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new CaFileError(`${what} ${file}: ${(e as Error).message}`);
  }
  if (!text.includes('-----BEGIN CERTIFICATE-----')) throw new CaFileError(`${what} ${file}: not a PEM certificate`);
  return text;
}

/**
 * Extra `fetch` options that trust `ca` (PEM) for https:// URLs (and the
 * system's CAs no longer); none without a CA. Make them once and reuse them: each holds a connection pool.
 */
export function caFetchOptions(ca: string | Buffer | undefined): Record<string, unknown> {
  if (ca === undefined) return {};
  return { dispatcher: new Agent({ connect: { ca } }) };
}
