/** `tsraft member list | add | promote | remove` and `tsraft leader transfer`: membership from the command line. */
import type { MemberView, MembersView } from '../api/membership.js';
import { KvClient, KvClientError } from '../client/index.js';
import { connectOptions, endpointsFrom, stdio, table, type ConnectFlags, type Io } from './output.js';

export interface AdminFlags extends ConnectFlags {
  readonly endpoints?: string;
  readonly json?: boolean;
}

/** A URL as given, or HOST:PORT made into an http:// URL. */
function asUrl(s: string): string {
  return /^https?:\/\//.test(s) ? s : `http://${s}`;
}

/** A client of an admin command (member, leader, alarm). */
export function adminClient(flags: AdminFlags): KvClient {
  // The endpoints as given: a membership command should not wander off to other nodes it learned of.
  return new KvClient({ endpoints: endpointsFrom(flags.endpoints), discover: false, ...connectOptions(flags) });
}

/** The member table of `tsraft member list` and `tsraft status`. */
export function membersTable(view: MembersView): string[] {
  const rows = [['NAME', 'ROLE', 'LEADER', 'PEER ADDRESS', 'API URL', 'MATCH', 'LAG']];
  for (const m of view.members) {
    rows.push([m.name, m.role, m.name === view.leader ? 'yes' : '', m.peerAddress, m.apiUrl, m.matchIndex === null ? '-' : String(m.matchIndex), m.lag === null || m.lag === undefined ? '-' : String(m.lag)]);
  }
  const lines = table(rows);
  const voters = view.members.filter((m) => m.role === 'voter').length;
  lines.push(`${voters} voter${voters === 1 ? '' : 's'}, ${view.members.length - voters} learner${view.members.length - voters === 1 ? '' : 's'}; leader: ${view.leader ?? 'none'}${view.joint ? '; joint configuration: a change of voters is in progress' : ''}`);
  return lines;
}

/** Runs one admin operation: prints its result (or JSON), or its error on stderr with exit code 1. */
export async function run<T>(what: string, flags: AdminFlags, io: Io, op: () => Promise<T>, human: (r: T) => string[]): Promise<number> {
  try {
    const r = await op();
    if (flags.json === true) io.out(JSON.stringify(r, null, 2));
    else for (const l of human(r)) io.out(l);
    return 0;
  } catch (e) {
    if (e instanceof KvClientError) {
      io.err(`tsraft ${what}: ${e.message}${e.status > 0 ? ` (HTTP ${e.status} ${e.code})` : ''}`);
      return 1;
    }
    throw e;
  }
}

const describe = (m: MemberView): string => `${m.name} (${m.role}, peer ${m.peerAddress}, api ${m.apiUrl})`;

/** `tsraft member list`. */
export function memberList(flags: AdminFlags, io: Io = stdio): Promise<number> {
  return run('member list', flags, io, () => adminClient(flags).members(), membersTable);
}

/** `tsraft member add NAME --peer HOST:PORT --api URL [--learner]`. */
export function memberAdd(name: string, flags: AdminFlags & { peer: string; api: string; learner?: boolean }, io: Io = stdio): Promise<number> {
  const learner = flags.learner ?? false;
  return run(
    'member add',
    flags,
    io,
    () => adminClient(flags).addMember({ name, peerAddress: flags.peer, apiUrl: asUrl(flags.api), learner }),
    (r) => [
      `added ${describe(r.member)} to cluster ${r.clusterId}`,
      learner ? `it stays a learner: promote it with tsraft member promote ${name}` : 'the leader promotes it to voter once it has caught up',
      `start it with: tsraft serve --id ${name} --data DIR --listen ${flags.peer} --api ${flags.api.replace(/^https?:\/\//, '')} --cluster-id ${r.clusterId} --join URL --tls-dir DIR`,
      `  (DIR: tsraft certs node ${name} --ca CA_DIR --out DIR)`,
    ],
  );
}

/** `tsraft member promote NAME`. */
export function memberPromote(name: string, flags: AdminFlags, io: Io = stdio): Promise<number> {
  return run('member promote', flags, io, () => adminClient(flags).promoteMember(name), (m) => [`promoted ${describe(m)}`]);
}

/** `tsraft member remove NAME`. */
export function memberRemove(name: string, flags: AdminFlags, io: Io = stdio): Promise<number> {
  return run(
    'member remove',
    flags,
    io,
    async () => {
      await adminClient(flags).removeMember(name);
      return { removed: name };
    },
    () => [`removed ${name}; stop its process and keep or delete its data directory: it cannot rejoin under that name with it (use a fresh directory and --join)`],
  );
}

/** `tsraft leader transfer [--to NAME]`. */
export function leaderTransfer(flags: AdminFlags & { to?: string }, io: Io = stdio): Promise<number> {
  return run(
    'leader transfer',
    flags,
    io,
    async () => {
      const t0 = performance.now();
      const r = await adminClient(flags).transferLeader(flags.to ?? null);
      return { leader: r.leader, ms: Math.round(performance.now() - t0) };
    },
    (r) => [`leader is now ${r.leader} (${r.ms} ms)`],
  );
}
