/**
 * Taking a consistent backup of a live cluster, and serving it over HTTP
 * (`GET /v1/backup`).
 */
import { decodeMemberContext } from '../server/member-context.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { NodeStoppedError, NotLeaderError, ReadIndexError } from '../node/errors.js';
import type { ConfState, NodeId } from '../core/types.js';
import type { StateMachine } from '../node/replica.js';
import { encodeBackup, type Backup, type BackupMember } from './format.js';

/** What {@link takeBackup} needs of a Replica (a `Replica<KvResult>` fits). */
export interface BackupReplica {
  readonly node: { readIndex(): Promise<number> };
  waitApplied(index: number): Promise<void>;
  /** The index the state machine has applied. */
  readonly applied: number;
  /** The term of the entry at `applied`. */
  readonly lastAppliedTerm: number;
}

/** Inputs of {@link takeBackup}. */
export interface TakeBackupOptions {
  readonly replica: BackupReplica;
  /** The replica's state machine (a `KvStateMachine`). */
  readonly sm: Pick<StateMachine, 'snapshot'>;
  readonly clusterId: string;
  /** The members at the time, or a function that tells them when the snapshot is taken. */
  readonly members: readonly BackupMember[] | (() => readonly BackupMember[]);
  /** Default `Date.now`. */
  readonly now?: () => number;
}

/**
 * Takes a backup that holds every write acknowledged before the call: it
 * gets a linearizable read point from the leader (ReadIndex), waits until
 * this replica has applied it, then serializes the state machine in the
 * same synchronous stretch in which it reads the applied index and term, so
 * the snapshot is exactly the state at `index` (which may be past the read
 * point: later writes are included, never half of one).
 *
 * Rejects with the node's `NotLeaderError` / `ReadIndexError` when the
 * cluster cannot confirm a read point (no leader, no quorum).
 */
export async function takeBackup(opts: TakeBackupOptions): Promise<Backup & { readonly readIndex: number }> {
  const readIndex = await opts.replica.node.readIndex();
  await opts.replica.waitApplied(readIndex);
  // No await from here on: the apply loop cannot move between these reads.
  const index = opts.replica.applied;
  const term = opts.replica.lastAppliedTerm;
  const data = opts.sm.snapshot();
  const members = typeof opts.members === 'function' ? opts.members() : opts.members;
  return { clusterId: opts.clusterId, index, term, members, createdAt: (opts.now ?? Date.now)(), data, readIndex };
}

/** Bytes written per chunk, so a large backup respects the socket's backpressure. */
const CHUNK_BYTES = 1 << 20;

/**
 * Serves `GET /v1/backup`: takes a backup with `take` and streams the
 * encoded file (see format.ts) as `application/octet-stream`, with the
 * headers `tsraft-backup-index` and `tsraft-backup-term`. Answers 503 (JSON
 * error, `retry-after`) when no read point can be confirmed, 405 to other
 * methods. Returns once the response is finished.
 */
export async function handleBackupRequest(req: IncomingMessage, res: ServerResponse, take: () => Promise<Backup>): Promise<void> {
  if (req.method !== 'GET') {
    sendJson(res, 405, { error: 'method-not-allowed', message: `${req.method ?? '?'} /v1/backup: only GET is allowed` }, { allow: 'GET' });
    return;
  }
  let bytes: Uint8Array;
  let backup: Backup;
  try {
    backup = await take();
    bytes = encodeBackup(backup);
  } catch (e) {
    if (e instanceof NotLeaderError || e instanceof ReadIndexError || e instanceof NodeStoppedError) {
      sendJson(res, 503, { error: 'unavailable', message: `no consistent read point: ${e.message}` }, { 'retry-after': '1' });
      return;
    }
    sendJson(res, 500, { error: 'internal', message: `backup failed: ${(e as Error).message}` });
    return;
  }
  res.writeHead(200, {
    'content-type': 'application/octet-stream',
    'content-length': String(bytes.length),
    'content-disposition': `attachment; filename="tsraft-${backup.clusterId.replace(/[^A-Za-z0-9._-]/g, '_')}-${backup.index}.backup"`,
    'tsraft-backup-index': String(backup.index),
    'tsraft-backup-term': String(backup.term),
  });
  for (let off = 0; off < bytes.length; off += CHUNK_BYTES) {
    if (res.destroyed) return;
    if (!res.write(bytes.subarray(off, off + CHUNK_BYTES))) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          res.off('drain', done);
          res.off('close', done);
          resolve();
        };
        res.once('drain', done);
        res.once('close', done);
      });
    }
  }
  await new Promise<void>((resolve) => res.end(resolve));
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

/**
 * The member list of a configuration, for a backup's record: names and
 * addresses from the context the server keeps per member (JSON with `name`,
 * `peer`, `api`); a member without one is named by its id.
 */
export function membersOfConf(conf: ConfState): BackupMember[] {
  const one = (id: NodeId, role: 'voter' | 'learner'): BackupMember => {
    const ctx = decodeMemberContext(conf.context[String(id)]);
    return ctx === null ? { name: String(id), role } : { name: ctx.name, role, peerAddress: ctx.peer, apiUrl: ctx.api };
  };
  const voters = [...new Set([...conf.voters, ...conf.outgoing])];
  return [...voters.map((id) => one(id, 'voter')), ...conf.learners.filter((id) => !voters.includes(id)).map((id) => one(id, 'learner'))];
}
