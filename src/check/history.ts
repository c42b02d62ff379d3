/** The operations a key-value history may hold. */
export type OpName = 'get' | 'put' | 'append' | 'delete' | 'cas';

/**
 * One client operation as a client saw it. Times are in any monotonic unit.
 * - `status: 'ok'`: it completed between `call` and `return`, with `output`;
 * - `'fail'`: it certainly did not take effect (it is ignored);
 * - `'unknown'`: it may have taken effect at any time after `call`, or never
 *   (a timeout, a crashed client); `return` may be null or absent.
 * `output` is the value a get read (null: key missing), whether a cas swapped
 * (a `false` still tells the value was not `expected`), or whether a delete
 * found the key (optional).
 */
export interface HistoryOp {
  readonly clientId: string | number;
  readonly op: OpName;
  readonly key: string;
  readonly value?: string | undefined;
  readonly expected?: string | null | undefined;
  readonly output?: string | boolean | null | undefined;
  readonly call: number;
  readonly return?: number | null | undefined;
  readonly status: 'ok' | 'fail' | 'unknown';
}

/** A history file that does not have the required shape. */
export class HistoryFormatError extends Error {
  override name = 'HistoryFormatError';
}

const OPS: readonly OpName[] = ['get', 'put', 'append', 'delete', 'cas'];

/**
 * Checks that a parsed JSON value is a history; throws
 * {@link HistoryFormatError} naming the entry and the field at fault.
 */
export function parseHistory(json: unknown, source = 'history'): HistoryOp[] {
  if (!Array.isArray(json)) throw new HistoryFormatError(`${source}: expected a JSON array of operations, got ${json === null ? 'null' : typeof json}`);
  return json.map((raw: unknown, i): HistoryOp => {
    const at = `${source}: entry ${i}`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new HistoryFormatError(`${at}: expected an object`);
    const o = raw as Record<string, unknown>;
    const field = (name: string, ok: boolean, want: string): void => {
      if (!ok) throw new HistoryFormatError(`${at}: field "${name}" must be ${want}, got ${JSON.stringify(o[name]) ?? 'nothing'}`);
    };
    field('clientId', typeof o['clientId'] === 'string' || typeof o['clientId'] === 'number', 'a string or a number');
    field('op', OPS.includes(o['op'] as OpName), OPS.join('|'));
    field('key', typeof o['key'] === 'string', 'a string');
    field('status', o['status'] === 'ok' || o['status'] === 'fail' || o['status'] === 'unknown', 'ok|fail|unknown');
    field('call', typeof o['call'] === 'number' && Number.isFinite(o['call']), 'a finite number');
    const status = o['status'] as HistoryOp['status'];
    const ret = o['return'];
    if (status === 'unknown') field('return', ret === undefined || ret === null || (typeof ret === 'number' && Number.isFinite(ret)), 'a number, null or absent');
    else field('return', typeof ret === 'number' && Number.isFinite(ret) && ret >= (o['call'] as number), `a finite number not before "call" (${String(o['call'])})`);
    const op = o['op'] as OpName;
    if (op === 'put' || op === 'append' || op === 'cas') field('value', typeof o['value'] === 'string', 'a string');
    if (op === 'cas') field('expected', o['expected'] === null || typeof o['expected'] === 'string', 'a string or null');
    if (status === 'ok') {
      if (op === 'get') field('output', o['output'] === null || typeof o['output'] === 'string', 'the value read (a string) or null for a missing key');
      if (op === 'cas') field('output', typeof o['output'] === 'boolean', 'true (swapped) or false');
      if (op === 'delete') field('output', o['output'] === undefined || typeof o['output'] === 'boolean', 'true, false or absent');
    }
    return {
      clientId: o['clientId'] as string | number,
      op,
      key: o['key'] as string,
      value: o['value'] as string | undefined,
      expected: o['expected'] as string | null | undefined,
      output: o['output'] as string | boolean | null | undefined,
      call: o['call'] as number,
      return: (ret ?? null) as number | null,
      status,
    };
  });
}

/** Renders an operation the way the HTML report and messages show it. */
export function describeOp(op: HistoryOp): string {
  const q = (v: unknown): string => (v === null ? 'null' : JSON.stringify(v));
  switch (op.op) {
    case 'get':
      return op.status === 'ok' ? `get(${q(op.key)}) → ${q(op.output)}` : `get(${q(op.key)})`;
    case 'put':
      return `put(${q(op.key)}, ${q(op.value)})`;
    case 'append':
      return `append(${q(op.key)}, ${q(op.value)})`;
    case 'delete':
      return `delete(${q(op.key)})${op.output === undefined ? '' : ` → ${q(op.output)}`}`;
    case 'cas':
      return `cas(${q(op.key)}, ${q(op.expected)}, ${q(op.value)})${op.status === 'ok' ? ` → ${q(op.output)}` : ''}`;
  }
}
