/**
 * HTTPS for the API on in-process nodes: the member certificates of a
 * development CA, plain HTTP refused, a node joining over HTTPS (trusting the
 * ca.pem next to its certificate), and the configuration rules of the flags.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { serveConfig } from '../../src/cli/serve.js';
import { KvClient, KvClientError } from '../../src/client/index.js';
import { ensureClusterCerts, type ClusterCertPaths } from '../../src/security/cluster-certs.js';
import { caFetchOptions, readCaFile } from '../../src/security/https-client.js';
import { ConfigError, validateConfig, type ServerConfig } from '../../src/server/config.js';
import { TsraftServer } from '../../src/server/server.js';
import { silentLogger } from '../../src/util/log.js';
import { freePort, sleep } from '../process/harness.js';

let root: string;
let certs: ClusterCertPaths;
const servers: TsraftServer[] = [];

const tlsOf = (name: string): Pick<ServerConfig, 'apiCertFile' | 'apiKeyFile'> => ({ apiCertFile: path.join(certs.tlsDir(name), 'node.pem'), apiKeyFile: path.join(certs.tlsDir(name), 'node.key') });

before(async () => {
  root = mkdtempSync(path.join(tmpdir(), 'tsraft-https-'));
  certs = await ensureClusterCerts(path.join(root, 'pki'), ['n1', 'n2']);
  const members = [{ name: 'n1', raft: { host: '127.0.0.1', port: await freePort() } }];
  servers.push(await TsraftServer.start({ name: 'n1', clusterId: 'https-test', dataDir: path.join(root, 'n1'), listen: members[0]!.raft, api: { host: '127.0.0.1', port: 0 }, members, insecurePeers: true, heartbeatTicks: 5, electionTicks: 20, ...tlsOf('n1') }, { logger: silentLogger() }));
  while (!servers[0]!.node.isLeader()) await sleep(10);
});
after(async () => {
  for (const s of servers.reverse()) await s.stop();
  rmSync(root, { recursive: true, force: true });
});

test('with --api-cert the API is https:// only: plain HTTP gets no answer, HTTPS with the CA works', async () => {
  const n1 = servers[0]!;
  assert.match(n1.apiUrl, /^https:\/\/127\.0\.0\.1:\d+$/);
  await assert.rejects(fetch(n1.apiUrl.replace('https:', 'http:') + '/healthz', { signal: AbortSignal.timeout(3000) }));
  await assert.rejects(fetch(`${n1.apiUrl}/healthz`, { signal: AbortSignal.timeout(3000) }), 'an unknown CA is not trusted');
  const r = await fetch(`${n1.apiUrl}/healthz`, caFetchOptions(readCaFile(certs.caFile, 'ca')) as RequestInit);
  assert.equal(r.status, 200);
  const kv = new KvClient({ endpoints: [n1.apiUrl], ca: readCaFile(certs.caFile, 'ca') });
  await kv.put('k', 'v');
  assert.equal((await kv.get('k'))?.value, 'v');
});

test('a node joins over HTTPS, trusting the ca.pem next to its certificate, and advertises an https:// API URL', { timeout: 60_000 }, async () => {
  const n1 = servers[0]!;
  const n2 = await TsraftServer.start(
    { name: 'n2', clusterId: 'https-test', dataDir: path.join(root, 'n2'), listen: { host: '127.0.0.1', port: 0 }, api: { host: '127.0.0.1', port: 0 }, members: [], insecurePeers: true, join: n1.apiUrl, learner: true, ...tlsOf('n2') },
    { logger: silentLogger() },
  );
  servers.push(n2);
  const kv = new KvClient({ endpoints: [n2.apiUrl], ca: readCaFile(certs.caFile, 'ca'), discover: false });
  // The joined node learns the configuration from the leader's log.
  let view = await kv.members();
  for (let i = 0; i < 200 && view.members.length < 2; i++) {
    await sleep(25);
    view = await kv.members();
  }
  assert.deepEqual(
    view.members.map((m) => [m.name, m.apiUrl.startsWith('https://')]).sort(),
    [
      ['n1', true],
      ['n2', true],
    ],
  );
  // A follower forwards a membership change to the leader over HTTPS (retried while n2 catches up).
  let promoted: { role: string } | null = null;
  for (let i = 0; i < 100 && promoted === null; i++) {
    promoted = await kv.promoteMember('n2').catch((e: unknown) => {
      if (e instanceof KvClientError && e.status === 409) return null;
      throw e;
    });
    if (promoted === null) await sleep(50);
  }
  assert.equal(promoted?.role, 'voter');
});

test('--api-cert and --api-key go together; --auth-exempt names only healthz and metrics; --config carries them', () => {
  const base: ServerConfig = { name: 'n1', clusterId: 'c', dataDir: '/tmp/x', listen: { host: '127.0.0.1', port: 1 }, api: { host: '127.0.0.1', port: 2 }, members: [], insecurePeers: true };
  assert.throws(() => validateConfig({ ...base, apiCertFile: 'a.pem' }), (e: unknown) => e instanceof ConfigError && /--api-cert and --api-key go together/.test(e.message));
  assert.throws(() => validateConfig({ ...base, apiKeyFile: 'a.key' }), ConfigError);
  assert.throws(() => validateConfig({ ...base, authExempt: ['status'] }), /'status' is not a route that can be exempt/);
  validateConfig({ ...base, authExempt: [] });
  const file = path.join(root, 'config.json');
  writeFileSync(file, JSON.stringify({ id: 'n1', data: '/tmp/d', listen: '127.0.0.1:1', api: '127.0.0.1:2', apiCert: 'c.pem', apiKey: 'k.pem', apiCacert: 'ca.pem', authExempt: ['metrics'], tokenFile: 't' }));
  const cfg = serveConfig({ config: file });
  assert.deepEqual([cfg.apiCertFile, cfg.apiKeyFile, cfg.apiCaFile, cfg.authExempt, cfg.tokenFile], ['c.pem', 'k.pem', 'ca.pem', ['metrics'], 't']);
  assert.deepEqual(serveConfig({ config: file, authExempt: '' }).authExempt, [], "--auth-exempt '' protects both");
  assert.deepEqual(serveConfig({ config: file, authExempt: 'healthz,metrics' }).authExempt, ['healthz', 'metrics']);
});
