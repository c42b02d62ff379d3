/**
 * A fake MembershipApi behind the real HTTP API server, for the route, CLI and
 * client tests: it keeps a member table, records every call, and can be told
 * to fail the next call with a MembershipError (or any error).
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { createApiServer, type ApiStatus } from '../../src/api/http.js';
import { MembershipError, type AddMemberRequest, type AddMemberResult, type MemberView, type MembersView, type MembershipApi } from '../../src/api/membership.js';
import type { KvService } from '../../src/kv/service.js';
import { silentLogger } from '../../src/util/log.js';

export type Call = { readonly op: 'list' } | { readonly op: 'add'; readonly req: AddMemberRequest } | { readonly op: 'promote' | 'remove'; readonly name: string } | { readonly op: 'transfer'; readonly to: string | null };

export class FakeMembership implements MembershipApi {
  readonly calls: Call[] = [];
  members: MemberView[];
  leader: string | null;
  lastIndex = 100;
  /** Thrown by the next call (then cleared). */
  failNext: Error | null = null;
  /** Delay of every call (ms). */
  delayMs = 0;

  constructor(names: string[] = ['n1', 'n2', 'n3'], private readonly apiUrlOf: (name: string) => string = (n) => `http://${n}.test:7100`) {
    this.members = names.map((name, i) => this.view(name, i + 1, 'voter', 100));
    this.leader = names[0] ?? null;
  }

  view(name: string, id: number, role: 'voter' | 'learner', matchIndex: number): MemberView {
    return { name, id, role, peerAddress: `${name}.test:7000`, apiUrl: this.apiUrlOf(name), matchIndex, lag: this.lastIndex - matchIndex };
  }

  private async enter(call: Call): Promise<void> {
    this.calls.push(call);
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    const e = this.failNext;
    this.failNext = null;
    if (e !== null) throw e;
  }

  private find(name: string): MemberView {
    const m = this.members.find((x) => x.name === name);
    if (m === undefined) throw new MembershipError('not-found', `no member named ${name}`);
    return m;
  }

  async list(): Promise<MembersView> {
    await this.enter({ op: 'list' });
    return { members: this.members, leader: this.leader, joint: false };
  }

  async add(req: AddMemberRequest): Promise<AddMemberResult> {
    await this.enter({ op: 'add', req });
    if (this.members.some((m) => m.name === req.name)) throw new MembershipError('conflict', `${req.name} is already a member`);
    const member: MemberView = { name: req.name, id: this.members.length + 1, role: req.learner ? 'learner' : 'voter', peerAddress: req.peerAddress, apiUrl: req.apiUrl, matchIndex: this.lastIndex, lag: 0 };
    this.members = [...this.members, member];
    return { member, clusterId: 'fake', members: this.members };
  }

  async promote(name: string): Promise<MemberView> {
    await this.enter({ op: 'promote', name });
    const m = this.find(name);
    if (m.role === 'voter') throw new MembershipError('conflict', `${name} is already a voter`);
    const promoted = { ...m, role: 'voter' as const };
    this.members = this.members.map((x) => (x.name === name ? promoted : x));
    return promoted;
  }

  async remove(name: string): Promise<void> {
    await this.enter({ op: 'remove', name });
    this.find(name);
    this.members = this.members.filter((x) => x.name !== name);
    if (this.leader === name) this.leader = this.members.find((m) => m.role === 'voter')?.name ?? null;
  }

  async transferLeader(to: string | null): Promise<{ readonly leader: string }> {
    await this.enter({ op: 'transfer', to });
    const target = to ?? this.members.find((m) => m.role === 'voter' && m.name !== this.leader)?.name;
    if (target === undefined) throw new MembershipError('conflict', 'no other voter to transfer to');
    if (this.find(target).role !== 'voter') throw new MembershipError('conflict', `${target} is a learner`);
    this.leader = target;
    return { leader: target };
  }
}

export const fakeStatus = (id = 'n1'): ApiStatus => ({ id, role: 'leader', term: 2, leader: id, commitIndex: 100, appliedIndex: 100, lastIndex: 100, members: ['n1', 'n2', 'n3'] });

/** A KV service for servers that only answer membership and status routes: every call fails. */
const noKv = new Proxy({} as KvService, {
  get: () => () => Promise.reject(new Error('no key-value service in this test')),
});

/** The real API server on a free loopback port, with `membership` (or none). */
export async function startApi(membership: MembershipApi | undefined, extra: { membershipTimeoutMs?: number; status?: () => ApiStatus; kv?: KvService } = {}): Promise<{ server: Server; url: string; close(): Promise<void> }> {
  const server = createApiServer({
    kv: extra.kv ?? noKv,
    status: extra.status ?? (() => fakeStatus()),
    logger: silentLogger(),
    ...(membership !== undefined && { membership }),
    ...(extra.membershipTimeoutMs !== undefined && { membershipTimeoutMs: extra.membershipTimeoutMs }),
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    server,
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
