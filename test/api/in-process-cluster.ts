import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before } from 'node:test';
import { KvClient } from '../../src/client/index.js';
import type { ServerConfig } from '../../src/server/config.js';
import { TsraftServer } from '../../src/server/server.js';
import { silentLogger } from '../../src/util/log.js';
import { freePort, sleep } from '../process/harness.js';

/**
 * Three `TsraftServer`s in this process (plain-TCP peers, fast timing: 5-tick
 * heartbeats, 50-tick elections), each with what `extra` adds to its config;
 * resolves once one of them leads.
 */
export async function startInProcessCluster(root: string, clusterId: string, extra: (name: string) => Partial<ServerConfig> = () => ({})): Promise<TsraftServer[]> {
  const members = [];
  for (let i = 1; i <= 3; i++) members.push({ name: `n${i}`, raft: { host: '127.0.0.1', port: await freePort() } });
  const servers: TsraftServer[] = [];
  for (const m of members) {
    servers.push(
      await TsraftServer.start(
        { name: m.name, clusterId, dataDir: path.join(root, m.name), listen: m.raft, api: { host: '127.0.0.1', port: 0 }, members, insecurePeers: true, heartbeatTicks: 5, electionTicks: 50, ...extra(m.name) },
        { logger: silentLogger() },
      ),
    );
  }
  while (!servers.some((s) => s.node.isLeader())) await sleep(20);
  return servers;
}

/**
 * A test file's in-process cluster: started (in a temporary directory named
 * after `dirPrefix`) before its tests, stopped and removed after them. The
 * returned array is filled by the before hook. `beforeStop` runs first in the
 * after hook (e.g. closing the streams the tests left open).
 */
export function inProcessClusterSuite(dirPrefix: string, clusterId: string, extra?: (name: string) => Partial<ServerConfig>, beforeStop?: () => void): TsraftServer[] {
  const servers: TsraftServer[] = [];
  let root = '';
  before(async () => {
    root = mkdtempSync(path.join(tmpdir(), dirPrefix));
    servers.push(...(await startInProcessCluster(root, clusterId, extra)));
  });
  after(async () => {
    beforeStop?.();
    for (const s of servers) await s.stop();
    rmSync(root, { recursive: true, force: true });
  });
  return servers;
}

/** A client of every server's API, trying server `i` first, then the others in turn. */
export function clientFrom(servers: readonly TsraftServer[], i = 0): KvClient {
  const urls = servers.map((s) => s.apiUrl);
  return new KvClient({ endpoints: [...urls.slice(i % urls.length), ...urls.slice(0, i % urls.length)] });
}
