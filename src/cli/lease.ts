/** `tsraft lease grant TTL | keepalive ID | revoke ID | list`: leases (docs/API.md "Leases") from the command line. */
import { KvClient, KvClientError, type LeaseView } from '../client/index.js';
import { UsageError } from '../util/args.js';
import { run, type AdminFlags } from './member.js';
import { connectOptions, endpointsFrom, stdio, table, type Io } from './output.js';

function client(flags: AdminFlags): KvClient {
  return new KvClient({ endpoints: endpointsFrom(flags.endpoints), ...connectOptions(flags) });
}

/** A positive integer argument, or a usage error naming it. */
export function positiveInt(v: string, what: string): number {
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v)) || Number(v) < 1) throw new UsageError(`${what} must be a positive integer, got '${v}'`);
  return Number(v);
}

/** The table of `tsraft lease list`. */
export function leasesTable(leases: readonly LeaseView[]): string[] {
  if (leases.length === 0) return ['no lease'];
  return table([['ID', 'TTL', 'REMAINING', 'KEYS'], ...leases.map((l) => [String(l.id), String(l.ttl), String(l.remaining), String(l.keys.length)])]);
}

/** Runs a lease command; a bad argument is a usage error (exit 2). */
async function guarded(what: string, io: Io, f: () => Promise<number>): Promise<number> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`tsraft ${what}: ${e.message}`);
      return 2;
    }
    throw e;
  }
}

/** `tsraft lease grant TTL`: prints `lease ID granted with TTL Ns`. */
export function leaseGrant(ttl: string, flags: AdminFlags, io: Io = stdio): Promise<number> {
  return guarded('lease grant', io, () => {
    const n = positiveInt(ttl, 'TTL (seconds)');
    return run('lease grant', flags, io, () => client(flags).grantLease(n), (r) => [`lease ${r.id} granted with TTL ${r.ttl}s`]);
  });
}

/** `tsraft lease revoke ID`: the lease's keys are deleted. */
export function leaseRevoke(id: string, flags: AdminFlags, io: Io = stdio): Promise<number> {
  return guarded('lease revoke', io, () => {
    const n = positiveInt(id, 'lease ID');
    return run('lease revoke', flags, io, () => client(flags).revokeLease(n), (r) => [`lease ${r.id} revoked at revision ${r.revision}: ${r.deletedKeys} key${r.deletedKeys === 1 ? '' : 's'} deleted`]);
  });
}

/** `tsraft lease list`. */
export function leaseList(flags: AdminFlags, io: Io = stdio): Promise<number> {
  return run('lease list', flags, io, async () => ({ leases: await client(flags).listLeases() }), (r) => leasesTable(r.leases));
}

/**
 * `tsraft lease keepalive ID [--once]`: one keep-alive with `--once`;
 * otherwise one every third of the TTL until `signal` aborts (Ctrl-C), a line
 * per renewal; exit 1 when the lease is gone.
 */
export function leaseKeepAlive(id: string, flags: AdminFlags & { once?: boolean }, io: Io = stdio, signal?: AbortSignal): Promise<number> {
  return guarded('lease keepalive', io, async () => {
    const n = positiveInt(id, 'lease ID');
    const c = client(flags);
    const line = (r: { id: number; ttl: number }): string => (flags.json === true ? JSON.stringify(r) : `lease ${r.id} kept alive, TTL ${r.ttl}s`);
    try {
      const first = await c.keepAlive(n);
      io.out(line(first));
      if (flags.once === true) return 0;
      const aborted = (): boolean => signal?.aborted === true;
      while (!aborted()) {
        await new Promise<void>((r) => {
          const t = setTimeout(r, Math.max(100, (first.ttl * 1000) / 3));
          signal?.addEventListener('abort', () => {
            clearTimeout(t);
            r();
          }, { once: true });
        });
        if (aborted()) break;
        io.out(line(await c.keepAlive(n)));
      }
      return 0;
    } catch (e) {
      if (e instanceof KvClientError) {
        io.err(`tsraft lease keepalive: ${e.message}${e.status > 0 ? ` (HTTP ${e.status} ${e.code})` : ''}`);
        return 1;
      }
      throw e;
    }
  });
}
