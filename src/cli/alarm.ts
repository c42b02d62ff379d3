/** `tsraft alarm list | disarm`: the store's alarms (NOSPACE) from the command line. */
import type { Alarm } from '../kv/alarms.js';
import { adminClient, run, type AdminFlags } from './member.js';
import { stdio, table, type Io } from './output.js';

/** The alarm table of `tsraft alarm list`. */
export function alarmsTable(alarms: readonly Alarm[]): string[] {
  if (alarms.length === 0) return ['no active alarm'];
  const rows = [['ALARM', 'RAISED AT REVISION', 'QUOTA BYTES', 'SIZE BYTES', 'REFUSED WRITE WOULD BE']];
  for (const a of alarms) rows.push([a.alarm, String(a.revision), String(a.quotaBytes), String(a.sizeBytes), String(a.wouldBeBytes)]);
  const lines = table(rows);
  if (alarms.some((a) => a.alarm === 'NOSPACE')) lines.push('NOSPACE: the store is read-only (deletes still work); free space, then run  tsraft alarm disarm');
  return lines;
}

/** `tsraft alarm list`. */
export function alarmList(flags: AdminFlags, io: Io = stdio): Promise<number> {
  return run('alarm list', flags, io, async () => ({ alarms: await adminClient(flags).alarms() }), (r) => alarmsTable(r.alarms));
}

/** `tsraft alarm disarm`. */
export function alarmDisarm(flags: AdminFlags, io: Io = stdio): Promise<number> {
  return run(
    'alarm disarm',
    flags,
    io,
    () => adminClient(flags).disarmAlarms(),
    (r) =>
      r.disarmed.length === 0
        ? ['no alarm was active']
        : [`disarmed ${r.disarmed.map((a) => a.alarm).join(', ')} at revision ${r.revision}; a write that would still go above the quota raises it again`],
  );
}
