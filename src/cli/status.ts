import type { MembersView } from '../api/membership.js';
import { KvClient, KvClientError } from '../client/index.js';
import { membersTable } from './member.js';
import { connectOptions, endpointsFrom, stdio, table, type ConnectFlags, type Io } from './output.js';

/**
 * `tsraft status`: a table of every node's state (the given endpoints and every
 * member the cluster knows), then the members: voters, learners, each one's lag.
 */
export async function statusCommand(flags: { endpoints?: string } & ConnectFlags, io: Io = stdio): Promise<number> {
  const given = endpointsFrom(flags.endpoints);
  const conn = connectOptions(flags);
  const client = new KvClient({ endpoints: given, requestTimeoutMs: 2000, timeoutMs: 3000, discover: false, ...conn });
  let members: MembersView | null = null;
  try {
    members = await client.members();
  } catch (e) {
    // A cluster without the membership API (501), or none reachable: the node table says enough.
    if (!(e instanceof KvClientError)) throw e;
  }
  const endpoints = [...new Set([...given, ...(members?.members.map((m) => m.apiUrl.replace(/\/+$/, '')) ?? [])])];
  const rows = await new KvClient({ endpoints, requestTimeoutMs: 2000, discover: false, ...conn }).status();
  const nodes: string[][] = [['ID', 'ROLE', 'TERM', 'LEADER', 'COMMIT', 'APPLIED', 'LAST INDEX', 'ENDPOINT']];
  rows.forEach((s, i) => {
    if (s === null) nodes.push(['-', 'unreachable', '-', '-', '-', '-', '-', endpoints[i]!]);
    else nodes.push([String(s['id']), String(s['role']), String(s['term']), String(s['leader'] ?? '-'), String(s['commitIndex']), String(s['appliedIndex']), String(s['lastIndex']), endpoints[i]!]);
  });
  for (const l of table(nodes)) io.out(l);
  if (members !== null) {
    io.out('');
    for (const l of membersTable(members)) io.out(l);
  }
  return rows.some((s) => s !== null) ? 0 : 1;
}
