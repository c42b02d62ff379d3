/**
 * A 3-member etcd cluster for the benches that compare with etcd: Debian's `etcd`, fsync on,
 * peer TLS with certificates of the same kind as tsraft's, its default timing (100 ms
 * heartbeat, 1 s election), on 127.0.0.1 with free ports and a temporary data directory.
 * Every member's PID is registered in {@link children} and stopped by PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { ensureClusterCerts } from '../src/security/cluster-certs.js';
import { freePort } from './cluster.js';
import { call } from './http.js';
import { children, dirs, sleep } from './procs.js';

export interface EtcdMember {
  readonly name: string;
  /** Client (HTTP, v3 JSON gateway) port. */
  readonly client: number;
  readonly pid: number;
}

/** One member's answer to `POST /v3/maintenance/status`. */
export interface EtcdMemberStatus {
  readonly member: EtcdMember;
  readonly isLeader: boolean;
  /** The backend database's size on disk in bytes (bbolt, with every revision not yet compacted). */
  readonly dbSize: number;
}

export interface EtcdCluster {
  /** The client port of the member that led when the cluster came up. */
  readonly leaderPort: number;
  readonly pids: readonly number[];
  readonly members: readonly EtcdMember[];
  /** Every member's status (members that do not answer are left out). */
  status(): Promise<EtcdMemberStatus[]>;
  /** Stops every member (SIGTERM, SIGKILL after 5 s) and deletes the data. */
  stop(): Promise<void>;
}

async function memberStatus(agent: Agent, m: EtcdMember): Promise<EtcdMemberStatus | null> {
  try {
    const r = await call(agent, m.client, 'POST', '/v3/maintenance/status', '{}');
    if (r.status !== 200) return null;
    const s = JSON.parse(r.body) as { header?: { member_id?: string }; leader?: string; dbSize?: string };
    return { member: m, isLeader: s.leader !== undefined && s.leader !== '0' && s.leader === s.header?.member_id, dbSize: Number(s.dbSize ?? NaN) };
  } catch {
    return null;
  }
}

/** Starts the cluster and waits for a leader; `extraArgs` go to every member (e.g. auto-compaction). */
export async function startEtcd(opts: { readonly extraArgs?: readonly string[] } = {}): Promise<EtcdCluster> {
  const root = mkdtempSync(path.join(process.env['BENCH_DIR'] ?? tmpdir(), 'etcd-bench-cluster-'));
  dirs.add(root);
  const names = ['e1', 'e2', 'e3'];
  const certs = await ensureClusterCerts(root, names);
  const members: { name: string; peer: number; client: number; proc?: ChildProcess }[] = [];
  for (const name of names) members.push({ name, peer: await freePort(), client: await freePort() });
  const initial = members.map((m) => `${m.name}=https://127.0.0.1:${m.peer}`).join(',');
  const stop = async (): Promise<void> => {
    for (const m of members) if (m.proc?.pid !== undefined && m.proc.exitCode === null) m.proc.kill('SIGTERM');
    for (let t = 0; t < 50 && members.some((m) => m.proc !== undefined && m.proc.exitCode === null && m.proc.signalCode === null); t++) await sleep(100);
    for (const m of members) {
      if (m.proc?.pid === undefined) continue;
      if (m.proc.exitCode === null && m.proc.signalCode === null) m.proc.kill('SIGKILL');
      children.delete(m.proc.pid);
    }
    rmSync(root, { recursive: true, force: true });
    dirs.delete(root);
  };
  try {
    for (const m of members) {
      const tls = certs.tlsDir(m.name);
      const log = openSync(path.join(root, `${m.name}.log`), 'a');
      m.proc = spawn(
        'etcd',
        [
          '--name', m.name,
          '--data-dir', path.join(root, m.name),
          '--listen-client-urls', `http://127.0.0.1:${m.client}`,
          '--advertise-client-urls', `http://127.0.0.1:${m.client}`,
          '--listen-peer-urls', `https://127.0.0.1:${m.peer}`,
          '--initial-advertise-peer-urls', `https://127.0.0.1:${m.peer}`,
          '--initial-cluster', initial,
          '--initial-cluster-token', path.basename(root),
          '--initial-cluster-state', 'new',
          '--peer-cert-file', path.join(tls, 'node.pem'),
          '--peer-key-file', path.join(tls, 'node.key'),
          '--peer-trusted-ca-file', path.join(tls, 'ca.pem'),
          '--peer-client-cert-auth',
          '--logger', 'zap',
          '--log-level', 'warn',
          ...(opts.extraArgs ?? []),
        ],
        { stdio: ['ignore', log, log] },
      );
      if (m.proc.pid !== undefined) children.add(m.proc.pid);
    }
    const running: EtcdMember[] = members.map((m) => ({ name: m.name, client: m.client, pid: m.proc?.pid ?? 0 }));
    const status = async (): Promise<EtcdMemberStatus[]> => {
      const agent = new Agent({ keepAlive: false });
      try {
        return (await Promise.all(running.map((m) => memberStatus(agent, m)))).filter((s): s is EtcdMemberStatus => s !== null);
      } finally {
        agent.destroy();
      }
    };
    let leaderPort = 0;
    for (let t = 0; t < 300 && leaderPort === 0; t++) {
      for (const m of members) if (m.proc?.exitCode !== null) throw new Error(`etcd ${m.name} exited: ${readFileSync(path.join(root, `${m.name}.log`), 'utf8').slice(-2000)}`);
      leaderPort = (await status()).find((s) => s.isLeader)?.member.client ?? 0;
      if (leaderPort === 0) await sleep(100);
    }
    if (leaderPort === 0) throw new Error('etcd: no leader');
    return { leaderPort, pids: running.map((m) => m.pid).filter((p) => p > 0), members: running, status, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
