/**
 * The Must-show of issue 11, point 2, on real processes: `tsraft cluster --tls
 * --auth` spawned as a child on free ports. Plain HTTP is refused on the API
 * port, HTTPS with the cluster's CA works, no token is 401, a read-only token
 * cannot write (403), only admin changes membership or leadership, and a
 * revoked token is refused by every node. A restart keeps the root token.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { KvClient, KvClientError } from '../../src/client/index.js';
import { caFetchOptions } from '../../src/security/https-client.js';
import { sleep } from './harness.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** A base port whose Raft (base+1..3) and API (base+101..103) ports are all free. */
async function freeBase(): Promise<number> {
  for (;;) {
    const base = 20_000 + Math.floor(Math.random() * 12_000); // below the ephemeral range (test/util/ports.ts)
    const ports = [1, 2, 3, 101, 102, 103].map((d) => base + d);
    if ((await Promise.all(ports.map(portFree))).every(Boolean)) return base;
  }
}

interface Running {
  readonly child: ChildProcess;
  readonly lines: string[];
}

/** Starts `tsraft cluster --tls --auth` and waits for its "try" line. */
async function startCluster(data: string, base: number): Promise<Running> {
  const child = spawn(process.execPath, [CLI, 'cluster', '--tls', '--auth', '--base-port', String(base), '--data', data], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  child.stdout!.on('data', (b: Buffer) => lines.push(...b.toString('utf8').split('\n').filter((l) => l.length > 0)));
  child.stderr!.on('data', (b: Buffer) => lines.push(...b.toString('utf8').split('\n').filter((l) => l.length > 0)));
  const deadline = Date.now() + 45_000;
  while (!lines.some((l) => l.startsWith('tsraft cluster: try')) && Date.now() < deadline && child.exitCode === null) await sleep(100);
  assert.ok(lines.some((l) => l.startsWith('tsraft cluster: try')), `the cluster did not come up:\n${lines.join('\n')}`);
  return { child, lines };
}

async function stopCluster(r: Running): Promise<void> {
  if (r.child.exitCode !== null) return;
  const exited = new Promise<void>((resolve) => r.child.once('exit', () => resolve()));
  r.child.kill('SIGTERM');
  await exited;
}

test('tsraft cluster --tls --auth: HTTPS only, tokens and roles enforced on every node, revocation everywhere', { timeout: 180_000 }, async () => {
  const data = mkdtempSync(path.join(tmpdir(), 'tsraft-tls-auth-'));
  const base = await freeBase();
  let run: Running | null = null;
  try {
    run = await startCluster(data, base);
    const caFile = path.join(data, 'ca.pem');
    const tokenFile = path.join(data, 'root.token');
    assert.ok(run.lines.some((l) => l.includes(`CA certificate for clients: ${path.resolve(caFile)}`)), run.lines.join('\n'));
    assert.ok(run.lines.some((l) => l.includes(`root token is in ${path.resolve(tokenFile)}`)), run.lines.join('\n'));
    assert.equal(statSync(tokenFile).mode & 0o777, 0o600);
    const rootToken = readFileSync(tokenFile, 'utf8').trim();
    const ca = readFileSync(caFile, 'utf8');
    const urls = [101, 102, 103].map((d) => `https://127.0.0.1:${base + d}`);
    assert.ok(urls.every((u) => run!.lines.some((l) => l.includes(u))), 'the https:// URLs are printed');
    const withCa = caFetchOptions(ca);
    // The dashboard URL is printed next to the API URLs; over HTTPS the page needs no token, its stream does.
    assert.ok(run.lines.some((l) => l.trim() === `dashboard: ${urls[0]}/`), run.lines.join('\n'));
    const page = await fetch(`${urls[0]}/`, { ...withCa } as RequestInit);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /live cluster/);
    const noToken = await fetch(`${urls[1]}/v1/events`, { ...withCa } as RequestInit);
    assert.equal(noToken.status, 401);
    await noToken.body?.cancel();
    const events = await fetch(`${urls[1]}/v1/events`, { headers: { authorization: `Bearer ${rootToken}` }, ...withCa } as RequestInit);
    assert.equal(events.status, 200);
    await events.body?.cancel();

    // Plain HTTP to an API port gets no HTTP answer at all.
    for (const d of [101, 102, 103]) {
      await assert.rejects(fetch(`http://127.0.0.1:${base + d}/healthz`, { signal: AbortSignal.timeout(3000) }), 'plain HTTP must be refused');
    }
    // HTTPS without the cluster's CA fails the certificate check; with it, it works.
    await assert.rejects(fetch(`${urls[0]}/healthz`, { signal: AbortSignal.timeout(3000) }));
    for (const u of urls) assert.equal((await fetch(`${u}/healthz`, withCa as RequestInit)).status, 200);

    // No token: 401 with WWW-Authenticate: Bearer.
    for (const u of urls) {
      const r = await fetch(`${u}/v1/kv/greeting`, withCa as RequestInit);
      assert.equal(r.status, 401);
      assert.equal(r.headers.get('www-authenticate'), 'Bearer');
      assert.equal(((await r.json()) as { error: string }).error, 'unauthenticated');
    }

    const admin = new KvClient({ endpoints: urls, ca, token: rootToken });
    await admin.put('app/greeting', 'hello');
    await admin.addRole({ name: 'app-read', read: ['app/'], write: [], admin: false });
    await admin.addRole({ name: 'app-write', read: [], write: ['app/'], admin: false });
    const reader = (await admin.createToken('reader', ['app-read'])).token;
    const writer = (await admin.createToken('writer', ['app-write'])).token;

    // A read-only token reads and cannot write (403), on every node.
    for (const u of urls) {
      const c = new KvClient({ endpoints: [u], ca, token: reader, discover: false });
      assert.equal((await c.get('app/greeting'))?.value, 'hello');
      await assert.rejects(c.put('app/greeting', 'changed'), (e: unknown) => e instanceof KvClientError && e.status === 403 && e.code === 'permission-denied');
    }
    // The CLI takes --cacert and --token-file, and TSRAFT_CACERT and TSRAFT_TOKEN.
    const cli = spawnSync(process.execPath, [CLI, 'kv', 'get', 'app/greeting', '--endpoints', urls[1]!, '--cacert', caFile, '--token-file', tokenFile], { encoding: 'utf8' });
    assert.equal(cli.stdout.trim(), 'hello', cli.stderr);
    const env = spawnSync(process.execPath, [CLI, 'kv', 'put', 'app/greeting', 'nope', '--endpoints', urls[2]!], { encoding: 'utf8', env: { ...process.env, TSRAFT_CACERT: caFile, TSRAFT_TOKEN: reader } });
    assert.equal(env.status, 1);
    assert.match(env.stderr, /may not write/);
    // Alarms: any token lists them; only admin disarms (the CLI takes the same flags).
    const alarmCli = (token: string, ...args: string[]) =>
      spawnSync(process.execPath, [CLI, 'alarm', ...args, '--endpoints', urls[0]!], { encoding: 'utf8', env: { ...process.env, TSRAFT_CACERT: caFile, TSRAFT_TOKEN: token } });
    assert.match(alarmCli(reader, 'list').stdout, /no active alarm/);
    const refused = alarmCli(reader, 'disarm');
    assert.equal(refused.status, 1, refused.stderr);
    assert.match(refused.stderr, /403|admin/);
    const byRoot = spawnSync(process.execPath, [CLI, 'alarm', 'disarm', '--endpoints', urls[0]!, '--cacert', caFile, '--token-file', tokenFile], { encoding: 'utf8' });
    assert.equal(byRoot.status, 0, byRoot.stderr);
    assert.match(byRoot.stdout, /no alarm was active/);

    // Only admin changes membership or leadership: write and read tokens get 403 on every node.
    for (const u of urls) {
      for (const t of [reader, writer]) {
        const c = new KvClient({ endpoints: [u], ca, token: t, discover: false });
        await assert.rejects(c.addMember({ name: 'n9', peerAddress: '127.0.0.1:9', apiUrl: 'https://127.0.0.1:9' }), (e: unknown) => e instanceof KvClientError && e.status === 403);
        await assert.rejects(c.transferLeader(), (e: unknown) => e instanceof KvClientError && e.status === 403);
      }
    }
    assert.equal((await admin.members()).members.length, 3, 'nothing was added');
    // Root may, through any node (a follower forwards with the caller's token).
    const before = (await admin.members()).leader;
    const follower = urls.find((_, i) => `n${i + 1}` !== before)!;
    const moved = await new KvClient({ endpoints: [follower], ca, token: rootToken, discover: false }).transferLeader();
    assert.notEqual(moved.leader, before);
    await new KvClient({ endpoints: [urls[0]!], ca, token: writer, discover: false }).put('app/w', '1');

    // A revoked token is refused by every node.
    await admin.revokeToken('reader');
    for (const u of urls) {
      await assert.rejects(new KvClient({ endpoints: [u], ca, token: reader, discover: false }).get('app/greeting'), (e: unknown) => e instanceof KvClientError && e.status === 401, u);
    }

    // A restart keeps auth on and the same root token; it does not enable again.
    await stopCluster(run);
    run = await startCluster(data, base);
    assert.ok(run.lines.some((l) => l.includes(`using the existing root token in ${path.resolve(tokenFile)}`)), run.lines.join('\n'));
    assert.equal(readFileSync(tokenFile, 'utf8').trim(), rootToken);
    const again = new KvClient({ endpoints: urls, ca, token: rootToken });
    assert.equal((await again.get('app/greeting'))?.value, 'hello');
    assert.deepEqual(await again.authStatus(), { enabled: true, token: 'root' });
    await assert.rejects(new KvClient({ endpoints: urls, ca, token: reader }).get('app/greeting'), (e: unknown) => e instanceof KvClientError && e.status === 401);
  } finally {
    if (run !== null) await stopCluster(run);
    rmSync(data, { recursive: true, force: true });
  }
});
