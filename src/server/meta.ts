import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import * as path from 'node:path';
import { ConfigError } from '../core/config.js';
import type { NodeId } from '../core/types.js';

/** Where a member can be reached, as this node's address book remembers it. */
export interface KnownPeer {
  readonly name: string;
  /** Its Raft transport address, HOST:PORT. */
  readonly peer: string;
  /** Its HTTP API base URL, once known. */
  readonly api?: string | undefined;
}

/**
 * What a data directory says about whose it is (`meta.json`). Written
 * atomically (temp file, fsync, rename, fsync of the directory).
 */
export interface Meta {
  readonly clusterId: string;
  readonly name: string;
  /** This data directory's incarnation: 128 random bits, hex. A node whose directory was emptied gets a new one. */
  readonly uid: string;
  /** This node's Raft id: `nodeIdOf(name)` for a bootstrap member, a fresh id for a node that joined. */
  readonly id: NodeId;
  /** The voters of the brand-new cluster this directory was created for; empty for a node that joined. */
  readonly bootstrap: readonly NodeId[];
  /** The address book: every member this node knows of, by id (decimal string). */
  readonly peers: Readonly<Record<string, KnownPeer>>;
  /** Trust on first use: the uid first seen for each peer id. */
  readonly trusted: Readonly<Record<string, string>>;
}

/** A fresh data-directory id. */
export function newUid(): string {
  return randomBytes(16).toString('hex');
}

export function metaPath(dataDir: string): string {
  return path.join(dataDir, 'meta.json');
}

/** Reads meta.json; null if the directory has none. Fields added since older versions may be missing. */
export function readMeta(dataDir: string): (Partial<Meta> & { clusterId: string; name: string }) | null {
  const file = metaPath(dataDir);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new ConfigError(`${file} is not valid JSON; this does not look like a tsraft data directory`);
  }
  const m = v as Partial<Meta>;
  if (typeof v !== 'object' || v === null || typeof m.clusterId !== 'string' || typeof m.name !== 'string') {
    throw new ConfigError(`${file} does not name a cluster and a node; this does not look like a tsraft data directory`);
  }
  return m as Partial<Meta> & { clusterId: string; name: string };
}

/** Writes meta.json durably: the new content is on disk, under its name, before this returns. */
export function writeMeta(dataDir: string, meta: Meta): void {
  const file = metaPath(dataDir);
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, `${JSON.stringify(meta, null, 1)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  // The rename itself must survive a crash.
  const dir = openSync(dataDir, 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}
