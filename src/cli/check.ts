import { readFileSync } from 'node:fs';
import { HistoryFormatError, checkHistory, explain, parseHistory, writeReport } from '../check/index.js';

/** `tsraft check HISTORY.json`: prints the verdict; exit 0 linearizable, 1 not, 2 unknown (3 for bad input). */
export function runCheck(file: string, opts: { timeout: string; html?: string | undefined }, out: (l: string) => void = (l) => console.log(l)): number {
  const timeoutMs = Number(opts.timeout) * 1000;
  if (!(timeoutMs > 0)) {
    out(`error: --timeout must be a positive number of seconds, got '${opts.timeout}'`);
    return 3;
  }
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    out(`error: ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : `not valid JSON (${(e as Error).message})`}`);
    return 3;
  }
  let history;
  try {
    history = parseHistory(json, file);
  } catch (e) {
    if (e instanceof HistoryFormatError) {
      out(`error: ${e.message}`);
      return 3;
    }
    throw e;
  }
  const r = checkHistory(history, { timeoutMs });
  if (r.verdict === 'ok') {
    out('linearizable');
    return 0;
  }
  if (r.verdict === 'unknown') {
    out(`unknown (the check did not finish in ${opts.timeout} s)`);
    return 2;
  }
  const report = writeReport(r, 'history', opts.html);
  out('not linearizable');
  out(explain(r));
  out(`report: ${report}`);
  return 1;
}
