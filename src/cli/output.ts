/** What the client commands share: where they connect, and how they print. */
import { readFileSync } from 'node:fs';
import { readCaFile } from '../security/https-client.js';
import { localEndpoints } from './cluster.js';

/** The flags every command that takes --endpoints also takes: the CA for https:// and the token. */
export interface ConnectFlags {
  readonly cacert?: string | undefined;
  readonly tokenFile?: string | undefined;
}

/** A flag's file could not be read: the command says so and exits 2. */
export class FlagFileError extends Error {
  override name = 'FlagFileError';
}

/**
 * The client's CA (`--cacert`, else TSRAFT_CACERT: a file) and token
 * (`--token-file`, else TSRAFT_TOKEN: the token itself).
 */
export function connectOptions(f: ConnectFlags): { ca?: string; token?: string } {
  const caFile = f.cacert ?? process.env['TSRAFT_CACERT'];
  let token: string | undefined;
  if (f.tokenFile !== undefined) {
    try {
      token = readFileSync(f.tokenFile, 'utf8').trim();
    } catch (e) {
      throw new FlagFileError(`--token-file ${f.tokenFile}: ${(e as Error).message}`);
    }
    if (token.length === 0) throw new FlagFileError(`--token-file ${f.tokenFile}: the file is empty`);
  } else {
    const env = process.env['TSRAFT_TOKEN']?.trim();
    if (env !== undefined && env !== '') token = env;
  }
  let ca: string | undefined;
  if (caFile !== undefined && caFile !== '') {
    try {
      ca = readCaFile(caFile, f.cacert !== undefined ? '--cacert' : 'TSRAFT_CACERT');
    } catch (e) {
      throw new FlagFileError((e as Error).message);
    }
  }
  return { ...(ca !== undefined && { ca }), ...(token !== undefined && { token }) };
}

/** `--endpoints`, else TSRAFT_ENDPOINTS, else the default local cluster's. */
export function endpointsFrom(flag: string | undefined): string[] {
  const s = flag ?? process.env['TSRAFT_ENDPOINTS'];
  if (s === undefined || s.trim() === '') return localEndpoints();
  return s
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e.length > 0)
    .map((e) => (/^https?:\/\//.test(e) ? e : `http://${e}`));
}

/** Where a command writes: stdout and stderr, or a test's buffers. */
export type Io = { out: (l: string) => void; err: (l: string) => void };
export const stdio: Io = { out: (l) => console.log(l), err: (l) => console.error(l) };

/** Rows as aligned columns (the first row is the header). */
export function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd());
}
