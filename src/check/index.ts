import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { renderHtml } from './html.js';
import type { CheckResult } from './linearizability.js';

export { parseHistory, describeOp, HistoryFormatError, type HistoryOp, type OpName } from './history.js';
export { checkHistory, explain, type CheckResult, type CheckOptions, type PartitionResult, type Verdict } from './linearizability.js';
export { renderHtml } from './html.js';

/** Writes the HTML report of a check; returns its path (under `dir`, default the system temp directory). */
export function writeReport(r: CheckResult, name = 'linearizability', dir = path.join(tmpdir(), 'tsraft-check')): string {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name.replace(/[^A-Za-z0-9._-]+/g, '_')}-${Date.now()}.html`);
  writeFileSync(file, renderHtml(r, `tsraft linearizability check: ${name}`));
  return file;
}
export { checkTxnHistory, fromKvOp, type TxnCheckResult, type TxnHistoryOp } from './txn.js';
