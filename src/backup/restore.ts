/**
 * Seeding a brand-new one-node cluster's data directory from a state
 * machine snapshot (a backup file, or a survivor's replayed log), and
 * replaying a stopped node's data directory into a snapshot.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { ConfState, Entry } from '../core/types.js';
import { KvStateMachine } from '../kv/state-machine.js';
import { nodeIdOf, parseHostPort } from '../server/config.js';
import { FileStorage } from '../storage/file-storage.js';
import { LockedError, NodeFileSystem } from '../storage/fs.js';
import { applyEntry } from './envelope.js';
import { writeFileAtomic } from './format.js';

/** A restore refused or failed: the message says why and what to do. */
export class RestoreError extends Error {
  override name = 'RestoreError';
}

/** Where the new node lives and answers: the flags of `tsraft restore`. */
export interface NewNode {
  /** The new data directory; must not exist or be empty. */
  readonly dataDir: string;
  /** The node's name (`--id`). */
  readonly name: string;
  /** Its Raft address, HOST:PORT (`--listen`). */
  readonly listen: string;
  /** Its API address, HOST:PORT (`--api`). */
  readonly api: string;
  /** The NEW cluster's id: a restored cluster never shares an id with the one it came from. */
  readonly clusterId: string;
}

/** The state to seed: a state machine snapshot at a log position. */
export interface SeedState {
  readonly index: number;
  readonly term: number;
  readonly data: Uint8Array;
}

/** What {@link seedDataDir} wrote. */
export interface SeedResult {
  readonly id: number;
  readonly uid: string;
  /** The command line that starts the new node (as argv after `tsraft`). */
  readonly serveArgs: readonly string[];
}

/** The single-voter configuration of the new node, with its name and addresses in the context (as the server keeps them). */
export function singleNodeConf(n: NewNode, uid: string): ConfState {
  const id = nodeIdOf(n.name);
  return {
    voters: [id],
    outgoing: [],
    learners: [],
    context: { [String(id)]: JSON.stringify({ name: n.name, peer: n.listen, api: `http://${n.api}`, uid, autoPromote: false }) },
  };
}

/** Checks the flags of a new node; throws {@link RestoreError} naming the bad one. */
export function checkNewNode(n: NewNode): void {
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(n.name)) throw new RestoreError(`--id: a name of letters, digits, '.', '_' or '-' is required, got '${n.name}'`);
  if (n.clusterId.length === 0) throw new RestoreError('--cluster-id must not be empty: give the restored cluster a NEW id');
  if (n.dataDir.length === 0) throw new RestoreError('--data is required');
  try {
    parseHostPort(n.listen, '--listen');
    parseHostPort(n.api, '--api');
  } catch (e) {
    throw new RestoreError((e as Error).message);
  }
}

/** Refuses a data directory that exists and holds anything. */
async function requireEmptyDir(dir: string): Promise<void> {
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    if (code === 'ENOTDIR') throw new RestoreError(`--data ${dir} is a file, not a directory`);
    throw e;
  }
  if (names.length > 0) {
    throw new RestoreError(`--data ${dir} is not empty (it holds ${names.slice(0, 3).join(', ')}${names.length > 3 ? ', ...' : ''}); restore only into a new, empty directory, never over a node's data`);
  }
}

/**
 * Writes a brand-new node's data directory holding `state`: `DIR/raft` (a
 * FileStorage with one snapshot at `state.index`, whose configuration is
 * this node alone, and a hard state that commits it) and `DIR/meta.json`
 * (`clusterId`, `name`, a fresh `uid`, `id`). `tsraft serve` on it starts a
 * one-node cluster that elects itself and serves the snapshot's data; other
 * nodes join it with `--join`. Refuses a non-empty directory.
 */
export async function seedDataDir(n: NewNode, state: SeedState): Promise<SeedResult> {
  checkNewNode(n);
  await requireEmptyDir(n.dataDir);
  await fsp.mkdir(n.dataDir, { recursive: true });
  const uid = randomBytes(16).toString('hex');
  const id = nodeIdOf(n.name);
  try {
    const storage = await FileStorage.open(path.join(n.dataDir, 'raft'));
    try {
      await storage.write({
        snapshot: { meta: { index: state.index, term: state.term, conf: singleNodeConf(n, uid) }, data: state.data },
        hardState: { term: state.term, vote: null, commit: state.index },
        sync: true,
      });
    } finally {
      await storage.close();
    }
    // Last: a directory without meta.json is not mistaken for a finished restore.
    await writeFileAtomic(path.join(n.dataDir, 'meta.json'), new TextEncoder().encode(`${JSON.stringify({ clusterId: n.clusterId, name: n.name, uid, id })}\n`));
  } catch (e) {
    // The directory was empty or absent: leave nothing half-written behind.
    await fsp.rm(n.dataDir, { recursive: true, force: true }).catch(() => {});
    throw e;
  }
  const serveArgs = ['serve', '--id', n.name, '--data', n.dataDir, '--listen', n.listen, '--api', n.api, '--cluster-id', n.clusterId, '--peers', `${n.name}=${n.listen}`];
  return { id, uid, serveArgs };
}

/** What a stopped node's data directory held, replayed into a KV state machine. */
export interface SurvivorReplay extends SeedState {
  /** The raft directory read. */
  readonly raftDir: string;
  /** The cluster and name its meta.json names, if it has one. */
  readonly clusterId: string | null;
  readonly name: string | null;
  readonly snapshotIndex: number;
  /** The commit index the survivor had recorded (a lower bound of what was committed). */
  readonly commitIndex: number;
  /** Log entries replayed after the snapshot. */
  readonly replayed: number;
  /** Of those, how many lie beyond `commitIndex`: possibly never committed by the lost majority. */
  readonly beyondCommit: number;
  /** Keys in the replayed state. */
  readonly keys: number;
}

/** Finds the Raft storage directory of a node's data directory (or a raft directory given directly). */
async function raftDirOf(dataDir: string): Promise<string> {
  const isDir = async (p: string): Promise<boolean> => (await fsp.stat(p).catch(() => null))?.isDirectory() ?? false;
  if (await isDir(path.join(dataDir, 'raft', 'wal'))) return path.join(dataDir, 'raft');
  if (await isDir(path.join(dataDir, 'wal'))) return dataDir;
  throw new RestoreError(`--from-data ${dataDir}: no tsraft data there (expected ${path.join(dataDir, 'raft', 'wal')})`);
}

async function readMeta(dataDir: string): Promise<{ clusterId: string | null; name: string | null }> {
  try {
    const m = JSON.parse(await fsp.readFile(path.join(dataDir, 'meta.json'), 'utf8')) as { clusterId?: unknown; name?: unknown };
    return { clusterId: typeof m.clusterId === 'string' ? m.clusterId : null, name: typeof m.name === 'string' ? m.name : null };
  } catch {
    return { clusterId: null, name: null };
  }
}

/**
 * Replays a STOPPED node's data directory: its snapshot and every entry of
 * its log, committed or not, into a {@link KvStateMachine}, as its Replica
 * would have applied them. The survivor's files are never modified: its
 * lock is taken (refused, with a message, if a live process holds it) just
 * long enough to copy the raft directory aside; recovery (which may repair
 * a torn tail) runs on the copy.
 */
export async function replaySurvivor(dataDir: string): Promise<SurvivorReplay> {
  const raftDir = await raftDirOf(dataDir);
  const meta = await readMeta(dataDir);
  const copy = await fsp.mkdtemp(path.join(tmpdir(), 'tsraft-survivor-'));
  try {
    let lock;
    try {
      lock = await new NodeFileSystem().lock(raftDir);
    } catch (e) {
      if (e instanceof LockedError) throw new RestoreError(`--from-data ${dataDir}: ${e.message} Stop that node first: a survivor's data is read only while no process uses it.`);
      throw e;
    }
    try {
      await fsp.cp(raftDir, path.join(copy, 'raft'), { recursive: true, filter: (src) => path.basename(src) !== 'LOCK' });
    } finally {
      await lock.release();
    }
    const storage = await FileStorage.open(path.join(copy, 'raft'));
    let state;
    try {
      state = await storage.load();
    } finally {
      await storage.close();
    }
    const sm = new KvStateMachine();
    const snap = state.snapshot;
    if (snap !== null) sm.restore(snap.data, snap.meta);
    let index = snap?.meta.index ?? 0;
    let term = snap?.meta.term ?? 0;
    let beyondCommit = 0;
    for (const e of state.entries as readonly Entry[]) {
      applyEntry(sm, e);
      index = e.index;
      term = e.term;
      if (e.index > state.hardState.commit) beyondCommit++;
    }
    return {
      raftDir,
      clusterId: meta.clusterId,
      name: meta.name,
      index,
      term,
      data: sm.snapshot(),
      snapshotIndex: snap?.meta.index ?? 0,
      commitIndex: state.hardState.commit,
      replayed: state.entries.length,
      beyondCommit,
      keys: sm.size,
    };
  } finally {
    await fsp.rm(copy, { recursive: true, force: true });
  }
}
