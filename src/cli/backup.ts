/** `tsraft backup` and `tsraft restore`. */
import { stat } from 'node:fs/promises';
import { KvStateMachine } from '../kv/state-machine.js';
import { BackupFormatError, decodeBackup, readBackupFile, writeFileAtomic, type Backup } from '../backup/format.js';
import { RestoreError, checkNewNode, replaySurvivor, seedDataDir, type NewNode, type SeedResult } from '../backup/restore.js';
import { StorageRecoveryError } from '../storage/file-storage.js';
import { WalCorruptionError } from '../storage/wal/record.js';
import { connectOptions, endpointsFrom, type ConnectFlags } from './output.js';
import { caFetchOptions } from '../security/https-client.js';

type Io = { out: (l: string) => void; err: (l: string) => void };
const stdio: Io = { out: (l) => console.log(l), err: (l) => console.error(l) };

/** The name of the flag that forces a new cluster from a survivor: long and loud on purpose. */
export const FORCE_FLAG = '--unsafe-force-new-cluster';

function keysIn(b: Pick<Backup, 'data' | 'index' | 'term'>): number {
  const sm = new KvStateMachine();
  sm.restore(b.data, { index: b.index, term: b.term });
  return sm.size;
}

/**
 * `tsraft backup --endpoints URL FILE`: fetches `GET /v1/backup` from the
 * first endpoint that answers, verifies it, writes FILE atomically. Returns
 * the exit code.
 */
export async function backupCommand(file: string, flags: { endpoints?: string; timeoutMs?: number } & ConnectFlags, io: Io = stdio): Promise<number> {
  const errors: string[] = [];
  const conn = connectOptions(flags);
  const fetchOptions = caFetchOptions(conn.ca);
  const headers: Record<string, string> = conn.token === undefined ? {} : { authorization: `Bearer ${conn.token}` };
  for (const endpoint of endpointsFrom(flags.endpoints)) {
    const url = `${endpoint.replace(/\/+$/, '')}/v1/backup`;
    let bytes: Uint8Array;
    let res: Response;
    try {
      res = await fetch(url, { headers, signal: AbortSignal.timeout(flags.timeoutMs ?? 120_000), ...fetchOptions } as RequestInit);
      bytes = new Uint8Array(await res.arrayBuffer());
    } catch (e) {
      errors.push(`${url}: ${(e as Error).message}`);
      continue;
    }
    if (!res.ok) {
      const text = new TextDecoder().decode(bytes).slice(0, 300);
      errors.push(`${url}: HTTP ${res.status}${res.status === 404 ? ' (this server has no backup endpoint: is it an older tsraft?)' : ''} ${text}`);
      continue;
    }
    let backup: Backup;
    try {
      backup = decodeBackup(bytes, url);
    } catch (e) {
      if (!(e instanceof BackupFormatError)) throw e;
      errors.push(e.message);
      continue;
    }
    const hdr = res.headers.get('tsraft-backup-index');
    if (hdr !== null && Number(hdr) !== backup.index) {
      errors.push(`${url}: the response says index ${hdr} but the file holds index ${backup.index}`);
      continue;
    }
    try {
      await writeFileAtomic(file, bytes);
    } catch (e) {
      io.err(`tsraft backup: cannot write ${file}: ${(e as Error).message}`);
      return 1;
    }
    io.out(`backup of cluster ${backup.clusterId} from ${endpoint}: index (revision) ${backup.index}, term ${backup.term}, ${keysIn(backup)} keys, ${bytes.length} bytes written to ${file}`);
    return 0;
  }
  io.err('tsraft backup: no endpoint gave a backup:');
  for (const e of errors) io.err(`  ${e}`);
  return 1;
}

/** Flags of `tsraft restore`. */
export interface RestoreFlags {
  data?: string;
  id?: string;
  listen?: string;
  api?: string;
  clusterId?: string;
  fromData?: string;
  unsafeForceNewCluster?: boolean;
  /** The new node's peer TLS directory, for the printed `tsraft serve` command. */
  tlsDir?: string;
}

function shellQuote(a: string): string {
  return /^[A-Za-z0-9._:/=,@+-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}

function newNodeFrom(f: RestoreFlags, io: Io): NewNode | null {
  const missing = (['data', 'id', 'listen', 'api', 'clusterId'] as const).filter((k) => f[k] === undefined || f[k] === '');
  if (missing.length > 0) {
    io.err(`tsraft restore: missing ${missing.map((k) => (k === 'clusterId' ? '--cluster-id' : `--${k}`)).join(', ')}`);
    io.err('usage: tsraft restore FILE --data DIR --id NAME --listen HOST:PORT --api HOST:PORT --cluster-id NEW_ID');
    return null;
  }
  return { dataDir: f.data!, name: f.id!, listen: f.listen!, api: f.api!, clusterId: f.clusterId! };
}

function printNext(n: NewNode, r: SeedResult, io: Io, tlsDir: string | undefined): void {
  io.out(`wrote ${n.dataDir} for node ${n.name} (id ${r.id}, uid ${r.uid}) of the new cluster ${n.clusterId}. Start it with:`);
  io.out(`  tsraft ${[...r.serveArgs, '--tls-dir', tlsDir ?? 'TLS_DIR'].map(shellQuote).join(' ')}`);
  if (tlsDir === undefined) io.out(`  (TLS_DIR: its peer certificate, made with  tsraft certs node ${shellQuote(n.name)} --ca CA_DIR --out TLS_DIR)`);
  io.out(`then grow it one node at a time: tsraft serve --id NAME2 --data DIR2 --listen H:P --api H:P --cluster-id ${shellQuote(n.clusterId)} --join http://${n.api} --tls-dir DIR2_TLS`);
}

/**
 * `tsraft restore FILE ...` (from a backup) or `tsraft restore --from-data
 * DIR --unsafe-force-new-cluster ...` (from a stopped survivor): writes a
 * new one-node cluster's data directory. Returns the exit code.
 */
export async function restoreCommand(file: string | undefined, f: RestoreFlags, io: Io = stdio): Promise<number> {
  if (file !== undefined && f.fromData !== undefined) {
    io.err('tsraft restore: give either a backup FILE or --from-data DIR, not both');
    return 2;
  }
  if (file === undefined && f.fromData === undefined) {
    io.err('tsraft restore: a backup FILE (from `tsraft backup`) or --from-data SURVIVOR_DIR is required');
    return 2;
  }
  if (f.fromData !== undefined && f.unsafeForceNewCluster !== true) {
    io.err(`tsraft restore: --from-data starts a new cluster from ONE node's data, which is unsafe, so it requires ${FORCE_FLAG}.`);
    io.err('  Use it only when a majority of the cluster is lost for good. The new cluster holds exactly what that node had:');
    io.err('  - acknowledged writes it never received are LOST;');
    io.err('  - entries in its log that the old cluster may never have committed (and may have reported as failed) APPEAR.');
    io.err('  If the old cluster still has a majority, do not do this: replace the lost nodes instead. If you have a recent');
    io.err('  backup, `tsraft restore FILE` is the safe alternative (it loses the writes after the backup, and only those).');
    return 2;
  }
  const n = newNodeFrom(f, io);
  if (n === null) return 2;
  try {
    checkNewNode(n);
    if (file !== undefined) {
      const backup = await readBackupFile(file);
      if (backup.clusterId === n.clusterId) {
        io.err(`tsraft restore: --cluster-id ${n.clusterId} is the id of the cluster the backup came from; give the restored cluster a NEW id, so that its nodes and the old cluster's can never talk to each other`);
        return 2;
      }
      const r = await seedDataDir(n, backup);
      io.out(`restored ${file}: cluster ${backup.clusterId} at index (revision) ${backup.index}, term ${backup.term}, ${keysIn(backup)} keys, ${(await stat(file)).size} bytes`);
      printNext(n, r, io, f.tlsDir);
      return 0;
    }
    const s = await replaySurvivor(f.fromData!);
    if (s.clusterId !== null && s.clusterId === n.clusterId) {
      io.err(`tsraft restore: --cluster-id ${n.clusterId} is the survivor's cluster id; give the new cluster a NEW id, so that the old cluster's nodes can never talk to it`);
      return 2;
    }
    io.out(`WARNING: forcing a new cluster from the data of ${s.name ?? 'one node'} (${s.raftDir}) of cluster ${s.clusterId ?? '(unknown)'}.`);
    io.out(`  It replayed its snapshot (index ${s.snapshotIndex}) and EVERY entry of its log: ${s.replayed} entries, up to index ${s.index} (term ${s.term}).`);
    io.out(`  It knew entries up to ${s.commitIndex} to be committed; ${s.beyondCommit} entries after that are included although the lost majority may never have committed them.`);
    io.out('  Acknowledged writes this node never received are lost.');
    const r = await seedDataDir(n, s);
    io.out(`new cluster state: index (revision) ${s.index}, ${s.keys} keys`);
    printNext(n, r, io, f.tlsDir);
    return 0;
  } catch (e) {
    if (e instanceof RestoreError || e instanceof BackupFormatError || e instanceof StorageRecoveryError || e instanceof WalCorruptionError) {
      io.err(`tsraft restore: ${e.message}`);
      return 1;
    }
    throw e;
  }
}
