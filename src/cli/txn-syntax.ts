/**
 * The syntax of `tsraft kv txn` (docs/API.md, "tsraft kv txn"):
 *
 *   --if 'value(KEY) OP VALUE'      OP: = != < >
 *   --if 'mod(KEY) OP N'            the key's modRevision (0: absent)
 *   --if 'create(KEY) OP N'         the key's createRevision (0: absent)
 *   --if 'exists(KEY)'  --if 'missing(KEY)'
 *   --then / --else 'put KEY VALUE' | 'del KEY' | 'get KEY'
 *
 * A KEY or VALUE that starts with `"` is a JSON string (for spaces, quotes,
 * parentheses or an empty value); otherwise a VALUE is the rest of the text.
 * Or the whole request as JSON (`--file F`, `-` for stdin).
 */
import type { TxnCompare, TxnCompareOp, TxnOp } from '../kv/txn.js';
import { UsageError } from '../util/args.js';

/** A KEY or VALUE: a JSON string if it starts with a quote, else the text as it is. */
function word(text: string, what: string): string {
  if (!text.startsWith('"')) return text;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new UsageError(`${what}: ${text} starts with " but is not a JSON string`);
  }
  if (typeof v !== 'string') throw new UsageError(`${what}: ${text} is not a JSON string`);
  return v;
}

/** Splits `"quoted key" rest` or `key rest` into the first word and the rest (after one space). */
function firstWord(text: string, what: string): [string, string | undefined] {
  if (text.startsWith('"')) {
    // The shortest prefix that is a whole JSON string.
    for (let i = 1; i < text.length; i++) {
      if (text[i] === '"' && text[i - 1] !== '\\') {
        const rest = text.slice(i + 1);
        if (rest !== '' && !rest.startsWith(' ')) throw new UsageError(`${what}: expected a space after the quoted key in '${text}'`);
        return [word(text.slice(0, i + 1), what), rest === '' ? undefined : rest.slice(1)];
      }
    }
    throw new UsageError(`${what}: unterminated quoted key in '${text}'`);
  }
  const sp = text.indexOf(' ');
  return sp < 0 ? [text, undefined] : [text.slice(0, sp), text.slice(sp + 1)];
}

/** The operator stands alone (a space after it), so `>=` or `==` is an error, not `>` or `=` and a value starting with `=`. */
const COMPARE = /^(value|mod|create)\((.+)\)\s*(!=|=|<|>) (.*)$/s;
const EXISTS = /^(exists|missing)\((.+)\)$/s;

/** One `--if`: see the module comment. */
export function parseCompare(text: string, at = '--if'): TxnCompare {
  const what = `${at} '${text}'`;
  const e = EXISTS.exec(text.trim());
  if (e !== null) return { key: word(e[2]!, what), target: 'exists', op: '=', value: e[1] === 'exists' };
  const m = COMPARE.exec(text.trimStart());
  if (m === null) throw new UsageError(`${what}: expected value(KEY) OP VALUE, mod(KEY) OP N, create(KEY) OP N, exists(KEY) or missing(KEY), with OP one of = != < >`);
  const key = word(m[2]!, what);
  const op = m[3] as TxnCompareOp;
  if (m[1] === 'value') return { key, target: 'value', op, value: word(m[4]!, what) };
  const n = m[4]!.trim();
  if (!/^\d+$/.test(n) || !Number.isSafeInteger(Number(n))) throw new UsageError(`${what}: the revision must be an integer >= 0, got '${n}'`);
  return { key, target: m[1] === 'mod' ? 'modRevision' : 'createRevision', op, value: Number(n) };
}

/** One `--then` or `--else`: `put KEY VALUE`, `del KEY` or `get KEY`. */
export function parseOp(text: string, at: string): TxnOp {
  const what = `${at} '${text}'`;
  const sp = text.indexOf(' ');
  const verb = sp < 0 ? text : text.slice(0, sp);
  if (sp < 0 || text.slice(sp + 1) === '') throw new UsageError(`${what}: expected put KEY VALUE, del KEY or get KEY`);
  const [key, rest] = firstWord(text.slice(sp + 1), what);
  switch (verb) {
    case 'put':
      if (rest === undefined) throw new UsageError(`${what}: put needs a KEY and a VALUE (use "" for an empty value)`);
      return { op: 'put', key, value: word(rest, what) };
    case 'del':
    case 'delete':
    case 'get':
      if (rest !== undefined) throw new UsageError(`${what}: ${verb} takes only a KEY (quote a key with spaces as a JSON string)`);
      return { op: verb === 'get' ? 'get' : 'delete', key };
    default:
      throw new UsageError(`${what}: unknown operation '${verb}'; expected put, del or get`);
  }
}
