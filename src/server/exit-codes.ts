/**
 * The exit codes of `tsraft serve`, documented in docs/OPERATIONS.md ("Exit
 * codes"). A supervisor tells from the code alone whether restarting can help:
 * a storage failure needs disk space or a new disk first, a damaged data
 * directory needs recovery, a refused identity needs `tsraft member remove`.
 * The numbers follow BSD sysexits.h where one fits.
 */
import { RaftInvariantError } from '../core/errors.js';
import { ConfigError } from '../core/config.js';
import { LockedError } from '../storage/fs.js';
import { StorageRecoveryError } from '../storage/file-storage.js';
import { WalCorruptionError } from '../storage/wal/record.js';
import { PeerIdentityError } from './errors.js';

/** The exit codes of `tsraft serve`. */
export const ExitCode = {
  /** Stopped on SIGTERM or SIGINT after a clean shutdown. */
  ok: 0,
  /** An error not covered below (a bug): see the log line before the exit. */
  internal: 1,
  /** Bad command line (commander's usage errors). */
  usage: 2,
  /** The data directory is damaged (a corrupt WAL record or snapshot, missing segments): it refuses to start. */
  dataDamaged: 65,
  /** A listening port is taken by another process. */
  addressInUse: 69,
  /** A Raft invariant broke (RaftInvariantError): the node stopped rather than carry on with state it cannot trust. */
  invariant: 70,
  /** The storage failed: a write, fsync or rename returned an error (ENOSPC, EIO, EROFS, ...). A failed fsync is never retried. */
  storageIo: 74,
  /** The data directory is locked by another live tsraft process. */
  locked: 75,
  /** The cluster refused this node's identity (its data directory is not the one the cluster added under its name). */
  identityRefused: 77,
  /** Startup configuration error (a bad flag or config file, a data directory of another node or cluster). */
  config: 78,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** What each code means, as `tsraft cluster` and the fatal log line say it. */
export const EXIT_MEANING: Readonly<Record<number, string>> = {
  [ExitCode.ok]: 'clean stop',
  [ExitCode.internal]: 'internal error',
  [ExitCode.usage]: 'bad command line',
  [ExitCode.dataDamaged]: 'data directory damaged',
  [ExitCode.addressInUse]: 'address in use',
  [ExitCode.invariant]: 'invariant broken',
  [ExitCode.storageIo]: 'storage I/O failure',
  [ExitCode.locked]: 'data directory locked',
  [ExitCode.identityRefused]: 'identity refused by the cluster',
  [ExitCode.config]: 'configuration error',
};

/** The meaning of an exit code, or "unknown exit code". */
export function exitMeaning(code: number): string {
  return EXIT_MEANING[code] ?? 'unknown exit code';
}

/** An operating-system error (node's ErrnoException): a failed system call with an `E...` code. */
function isSystemError(e: unknown): e is NodeJS.ErrnoException {
  return e instanceof Error && typeof (e as NodeJS.ErrnoException).code === 'string' && /^E[A-Z0-9]+$/.test((e as NodeJS.ErrnoException).code!) && typeof (e as NodeJS.ErrnoException).syscall === 'string';
}

/**
 * The exit code for an error that stopped a node or its start. Fatal errors
 * reach the server from three places: the storage (system errors of file
 * operations), the core (RaftInvariantError) and the peer handshake
 * (PeerIdentityError); anything else is a bug.
 */
export function exitCodeFor(e: unknown): ExitCodeValue {
  if (e instanceof PeerIdentityError) return ExitCode.identityRefused;
  if (e instanceof RaftInvariantError) return ExitCode.invariant;
  if (e instanceof WalCorruptionError || e instanceof StorageRecoveryError) return ExitCode.dataDamaged;
  if (e instanceof LockedError) return ExitCode.locked;
  if (e instanceof ConfigError) return ExitCode.config;
  if (isSystemError(e)) return e.code === 'EADDRINUSE' ? ExitCode.addressInUse : ExitCode.storageIo;
  return ExitCode.internal;
}
