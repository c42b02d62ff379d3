/**
 * Alarms of the KV store, like etcd's: NOSPACE is raised when a write would
 * take the store's size above the space quota, and turns the store
 * read-only (deletes still go through, to free space) until an operator
 * disarms it. Alarms are replicated state: they are raised and disarmed by
 * commands in the log, so every node agrees on them at every index.
 */
import { KvInputError } from './commands.js';

/** The kinds of alarm. */
export type AlarmName = 'NOSPACE';

export const ALARM_NAMES: readonly AlarmName[] = ['NOSPACE'];

/** An active alarm, as `GET /v1/alarms` lists it. */
export interface Alarm {
  readonly alarm: AlarmName;
  /** The log index (revision) of the write that raised it. */
  readonly revision: number;
  /** The quota that write was checked against (bytes). */
  readonly quotaBytes: number;
  /** The store's size when it was raised (bytes). */
  readonly sizeBytes: number;
  /** The size that write would have taken the store to (bytes). */
  readonly wouldBeBytes: number;
}

/** The command that disarms alarms: all of them, or only `alarm`. */
export interface AlarmDisarmCommand {
  readonly kind: 'alarm-disarm';
  readonly alarm?: AlarmName | undefined;
  /** The proposing leader's clock, as every command carries. */
  readonly time: number;
}

/** Whether a decoded command is an alarm command (not a key-value write). */
export function isAlarmCommand(c: unknown): c is AlarmDisarmCommand {
  return typeof c === 'object' && c !== null && (c as { kind?: unknown }).kind === 'alarm-disarm';
}

/** Checks an alarm name from a request; throws {@link KvInputError}. */
export function validateAlarmName(v: unknown): AlarmName {
  if (typeof v !== 'string' || !(ALARM_NAMES as readonly string[]).includes(v)) throw new KvInputError(`unknown alarm ${JSON.stringify(v) ?? 'nothing'}; expected one of ${ALARM_NAMES.join(', ')}`);
  return v as AlarmName;
}

/** A write refused because it would take the store above its space quota, or NOSPACE is active. */
export class KvNoSpaceError extends Error {
  override name = 'KvNoSpaceError';
  constructor(
    message: string,
    readonly quotaBytes: number,
    readonly sizeBytes: number,
  ) {
    super(message);
  }
}

/** The size a key and value count for in the quota: their UTF-8 bytes. */
export function recordBytes(key: string, value: string): number {
  return Buffer.byteLength(key, 'utf8') + Buffer.byteLength(value, 'utf8');
}
