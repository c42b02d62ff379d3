/** What the client commands share: where they connect, and how they print. */
import { localEndpoints } from './cluster.js';

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
