import { readFileSync } from 'node:fs';
import { KvClient, KvClientError, type ReadConsistency, type TxnRequest, type TxnResponse, type WatchEvent } from '../client/index.js';
import { parseCompare, parseOp } from './txn-syntax.js';
import { positiveInt } from './lease.js';
import { UsageError } from '../util/args.js';
import { connectOptions, endpointsFrom, stdio, type ConnectFlags, type Io } from './output.js';

/** `--stale` or `--consistency MODE` as the client's read options; an unknown mode is a usage error. */
function readOpts(flags: { stale?: boolean; consistency?: string }): { consistency?: ReadConsistency } {
  const c = flags.consistency ?? (flags.stale === true ? 'stale' : undefined);
  if (c === undefined) return {};
  if (c !== 'linearizable' && c !== 'lease' && c !== 'stale') throw new UsageError(`--consistency must be linearizable, lease or stale, got '${c}'`);
  if (flags.stale === true && c !== 'stale') throw new UsageError(`--stale and --consistency ${c} contradict each other`);
  return { consistency: c };
}

/** One line of `tsraft kv watch`: REVISION, PUT or DELETE, the key and (PUT) the value, tab-separated; `--json`: the event as JSON. */
export function watchLine(e: WatchEvent, json: boolean): string {
  if (json) return JSON.stringify(e);
  return e.type === 'put' ? `${e.revision}\tPUT\t${e.key}\t${e.value}` : `${e.revision}\tDELETE\t${e.key}`;
}

/** The flags of `tsraft kv txn`. */
export interface TxnFlags {
  readonly if?: readonly string[] | undefined;
  readonly then?: readonly string[] | undefined;
  readonly else?: readonly string[] | undefined;
  /** The whole request as JSON; `-`: standard input. */
  readonly file?: string | undefined;
}

/** The request of `tsraft kv txn` from `--if/--then/--else`, or from `--file` (not both). */
export function txnRequestOf(f: TxnFlags, readStdin: () => string = () => readFileSync(0, 'utf8')): TxnRequest {
  const parts = (f.if?.length ?? 0) + (f.then?.length ?? 0) + (f.else?.length ?? 0);
  if (f.file !== undefined) {
    if (parts > 0) throw new UsageError('--file and --if/--then/--else exclude each other');
    let text: string;
    try {
      text = f.file === '-' ? readStdin() : readFileSync(f.file, 'utf8');
    } catch (e) {
      throw new UsageError(`--file ${f.file}: ${(e as Error).message}`);
    }
    try {
      return JSON.parse(text) as TxnRequest;
    } catch (e) {
      throw new UsageError(`--file ${f.file}: not JSON: ${(e as Error).message}`);
    }
  }
  if (parts === 0) throw new UsageError('nothing to do: give --if/--then/--else, or --file');
  return {
    compare: (f.if ?? []).map((t) => parseCompare(t)),
    success: (f.then ?? []).map((t) => parseOp(t, '--then')),
    failure: (f.else ?? []).map((t) => parseOp(t, '--else')),
  };
}

/** What `tsraft kv txn` prints: SUCCEEDED or FAILED with the revision, then one tab-separated line per operation. */
export function txnLines(r: TxnResponse): string[] {
  const lines = [`${r.succeeded ? 'SUCCEEDED' : 'FAILED'} revision ${r.revision}`];
  for (const x of r.results) {
    if (x.op === 'put') lines.push(`put\t${x.key}\trevision ${x.revision}`);
    else if (x.op === 'delete') lines.push(`del\t${x.key}\t${x.deleted ? 'deleted' : 'absent'}`);
    else lines.push(x.item === null ? `get\t${x.key}\t(absent)` : `get\t${x.key}\tmod ${x.item.modRevision}\t${x.item.value}`);
  }
  return lines;
}

/** `--from-revision R`: an integer >= 1. */
function fromRevision(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v)) || Number(v) < 1) throw new UsageError(`--from-revision must be an integer >= 1, got '${v}'`);
  return Number(v);
}

/**
 * `tsraft kv OP KEY [VALUE...]`: one operation; prints its result. Returns the exit code.
 * `watch` prints one line per change until `signal` aborts (SIGINT) or the watch fails.
 */
export async function kvCommand(op: string, args: string[], flags: { endpoints?: string; stale?: boolean; consistency?: string; absent?: boolean; fromRevision?: string; json?: boolean; lease?: string } & TxnFlags & ConnectFlags, io: Io = stdio, signal?: AbortSignal): Promise<number> {
  const client = new KvClient({ endpoints: endpointsFrom(flags.endpoints), ...connectOptions(flags) });
  const need = (n: number, usage: string): boolean => {
    if (args.length === n) return true;
    io.err(`usage: tsraft kv ${usage}`);
    return false;
  };
  try {
    switch (op) {
      case 'get': {
        if (!need(1, 'get KEY [--stale | --consistency linearizable|lease|stale]')) return 2;
        const item = await client.get(args[0]!, readOpts(flags));
        if (item === null) {
          io.err(`not found: ${args[0]}`);
          return 1;
        }
        io.out(item.value);
        return 0;
      }
      case 'put':
      case 'append': {
        if (!need(2, `${op} KEY VALUE${op === 'put' ? ' [--lease ID]' : ''}`)) return 2;
        if (op === 'append' && flags.lease !== undefined) throw new UsageError('--lease goes with put only (an append keeps the key\'s lease)');
        const lease = flags.lease === undefined ? undefined : positiveInt(flags.lease, '--lease');
        const r = op === 'put' ? await client.put(args[0]!, args[1]!, lease === undefined ? {} : { lease }) : await client.append(args[0]!, args[1]!);
        io.out(`OK revision ${r.revision}`);
        return 0;
      }
      case 'del':
      case 'delete': {
        if (!need(1, 'del KEY')) return 2;
        const r = await client.delete(args[0]!);
        if (!r.deleted) {
          io.err(`not found: ${args[0]}`);
          return 1;
        }
        io.out(`OK revision ${r.revision}`);
        return 0;
      }
      case 'cas': {
        const absent = flags.absent ?? false;
        if (!need(absent ? 2 : 3, 'cas KEY EXPECTED NEW   or   cas --absent KEY NEW')) return 2;
        const [key, expected, value] = absent ? [args[0]!, null, args[1]!] : [args[0]!, args[1]!, args[2]!];
        const r = await client.cas(key, expected, value);
        if (!r.swapped) {
          io.err(`FAILED: the current value is ${r.current === null || r.current === undefined ? 'absent' : JSON.stringify(r.current)}`);
          return 1;
        }
        io.out(`OK revision ${r.revision}`);
        return 0;
      }
      case 'list': {
        if (!need(1, 'list PREFIX')) return 2;
        for (const i of await client.list(args[0]!, readOpts(flags))) io.out(`${i.key}\t${i.value}`);
        return 0;
      }
      case 'watch': {
        if (!need(1, 'watch PREFIX [--from-revision R] [--json]')) return 2;
        for await (const e of client.watch(args[0]!, { ...(flags.fromRevision !== undefined && { fromRevision: fromRevision(flags.fromRevision) }), ...(signal !== undefined && { signal }) })) io.out(watchLine(e, flags.json === true));
        return 0;
      }
      case 'txn': {
        if (!need(0, "txn [--if 'value(KEY) = V']... [--then 'put KEY V' | 'del KEY' | 'get KEY']... [--else ...]...   or   txn --file FILE|-")) return 2;
        const r = await client.txn(txnRequestOf(flags));
        if (flags.json === true) io.out(JSON.stringify(r));
        else for (const l of txnLines(r)) io.out(l);
        // Like cas: 1 when the compares did not hold (the failure branch applied).
        return r.succeeded ? 0 : 1;
      }
      default:
        io.err(`tsraft kv: unknown operation '${op}'; expected get, put, append, del, cas, list, watch or txn`);
        return 2;
    }
  } catch (e) {
    if (e instanceof KvClientError) {
      io.err(`tsraft kv ${op}: ${e.message}`);
      return 1;
    }
    if (e instanceof UsageError) {
      io.err(`tsraft kv ${op}: ${e.message}`);
      return 2;
    }
    throw e;
  }
}
