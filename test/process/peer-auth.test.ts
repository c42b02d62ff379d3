/**
 * Peer authentication as an operator meets it: `tsraft serve` refuses to start
 * without peer credentials, or with a certificate for another name;
 * `--insecure-peers` still runs a cluster (and warns); `tsraft certs` makes
 * what `--tls-dir` takes; `tsraft cluster` makes its own CA on first start.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { KvClient } from '../../src/client/index.js';
import { commonNameOf } from '../../src/security/certs.js';
import { ProcessCluster, freePort, runCli, sleep } from './harness.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

/** Runs `tsraft serve ...` expecting it to exit by itself; resolves with its exit code and stderr. */
function serveExits(args: string[]): Promise<{ code: number | null; err: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, 'serve', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr!.on('data', (b: Buffer) => (err += b.toString('utf8')));
    const t = setTimeout(() => p.kill('SIGKILL'), 10_000);
    p.on('exit', (code) => {
      clearTimeout(t);
      resolve({ code, err });
    });
  });
}

test('tsraft serve refuses to start without peer credentials, or with a certificate that names another member', { timeout: 60_000 }, async () => {
  const root = mkdtempSync(path.join(tmpdir(), 'tsraft-peer-auth-'));
  try {
    const base = ['--data', path.join(root, 'd'), '--listen', `127.0.0.1:${await freePort()}`, '--api', `127.0.0.1:${await freePort()}`, '--peers', 'n1=127.0.0.1:1'];
    const none = await serveExits(['--id', 'n1', ...base]);
    assert.equal(none.code, 78, "a configuration error (docs/OPERATIONS.md, exit codes)");
    assert.match(none.err, /tsraft serve: peer credentials are required: give --tls-dir DIR .*or --insecure-peers/);

    // The operator's way to make credentials.
    const ca = path.join(root, 'ca');
    assert.match(await runCli(['certs', 'ca', '--out', ca]), /wrote the CA certificate/);
    const out = await runCli(['certs', 'node', 'n2', '--ca', ca, '--out', path.join(root, 'n2-tls'), '--host', 'node2.example']);
    assert.match(out, /--tls-dir .*n2-tls/);
    assert.equal(commonNameOf(readFileSync(path.join(root, 'n2-tls', 'node.pem'))), 'n2');
    await assert.rejects(runCli(['certs', 'ca', '--out', ca]), /already holds a CA/);
    await assert.rejects(runCli(['certs', 'node', 'n3', '--out', path.join(root, 'x')]), /missing --ca DIR/);
    await assert.rejects(runCli(['certs', 'node', 'bad name', '--ca', ca, '--out', path.join(root, 'x')]), /a member name of 1 to 64 characters/);
    await assert.rejects(runCli(['certs', 'node', 'n3', '--ca', path.join(root, 'nope'), '--out', path.join(root, 'x')]), /the CA certificate .*nope.* cannot be read/);

    // n2's certificate does not make a process n1.
    const wrong = await serveExits(['--id', 'n1', ...base, '--tls-dir', path.join(root, 'n2-tls')]);
    assert.equal(wrong.code, 78);
    assert.match(wrong.err, /tsraft serve: --tls-dir: the certificate in .*node\.pem is for 'n2', but this node is 'n1' \(--id\)/);
    const missing = await serveExits(['--id', 'n1', ...base, '--tls-dir', path.join(root, 'nothing')]);
    assert.equal(missing.code, 78);
    assert.match(missing.err, /tsraft serve: --tls-dir: the cluster CA certificate .*nothing.*ca\.pem cannot be read: ENOENT/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('--insecure-peers runs a cluster over plain TCP and warns about it at start', { timeout: 60_000 }, async () => {
  const c = await ProcessCluster.start(3, { insecurePeers: true });
  try {
    const kv = new KvClient({ endpoints: c.endpoints, timeoutMs: 10_000 });
    await kv.put('k', 'v');
    assert.equal((await kv.get('k'))?.value, 'v');
    await sleep(200);
    for (const n of c.nodes) assert.match(n.stderr, /--insecure-peers: peer connections are plain TCP and unauthenticated/);
  } finally {
    await c.destroy();
  }
});

test('tsraft cluster makes a CA and node certificates on first start, runs with peer TLS, and reuses them on restart', { timeout: 90_000 }, async () => {
  const root = mkdtempSync(path.join(tmpdir(), 'tsraft-cluster-certs-'));
  // A base port whose 2 x 100 ports are probably free: derived from a free port.
  const base = 20_000 + ((await freePort()) % 20_000);
  const run = async (): Promise<string> => {
    const p = spawn(process.execPath, [CLI, 'cluster', '--nodes', '3', '--data', root, '--base-port', String(base)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout!.on('data', (b: Buffer) => (out += b.toString('utf8')));
    try {
      const deadline = Date.now() + 30_000;
      while (!/try {2}npx tsraft kv put/.test(out) && !/no node came up/.test(out) && Date.now() < deadline) await sleep(100);
      const kv = new KvClient({ endpoints: [1, 2, 3].map((i) => `http://127.0.0.1:${base + 100 + i}`), timeoutMs: 10_000 });
      await kv.put('greeting', 'hello');
      assert.equal((await kv.get('greeting'))?.value, 'hello');
    } finally {
      p.kill('SIGINT');
      await new Promise((r) => p.once('exit', r));
    }
    return out;
  };
  try {
    const first = await run();
    assert.match(first, /peers authenticate with certificates of the CA in .*\/ca/, first);
    assert.ok(existsSync(path.join(root, 'ca', 'ca.key')) && existsSync(path.join(root, 'ca.pem')));
    const caBefore = readFileSync(path.join(root, 'ca', 'ca.pem'), 'utf8');
    for (const n of ['n1', 'n2', 'n3']) assert.equal(commonNameOf(readFileSync(path.join(root, 'certs', n, 'node.pem'))), n);
    for (const n of ['n1', 'n2', 'n3']) assert.match(readFileSync(path.join(root, `${n}.log`), 'utf8'), /peer connections use mutual TLS/);
    await run();
    assert.equal(readFileSync(path.join(root, 'ca', 'ca.pem'), 'utf8'), caBefore, 'the CA is reused');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('Ctrl-C on tsraft cluster (SIGINT to its whole process group) stops every node cleanly, once', { timeout: 90_000 }, async () => {
  const root = mkdtempSync(path.join(tmpdir(), 'tsraft-cluster-ctrlc-'));
  const base = 20_000 + ((await freePort()) % 20_000);
  // Its own process group, as a shell gives a foreground job: a terminal's Ctrl-C signals the whole group.
  const p = spawn(process.execPath, [CLI, 'cluster', '--nodes', '3', '--data', root, '--base-port', String(base)], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  p.stdout!.on('data', (b: Buffer) => (out += b.toString('utf8')));
  try {
    const deadline = Date.now() + 30_000;
    while (!/Ctrl-C stops the cluster/.test(out) && Date.now() < deadline) await sleep(100);
    assert.match(out, /Ctrl-C stops the cluster/, out);
    const exited = new Promise<number | null>((r) => p.once('exit', (code) => r(code)));
    process.kill(-p.pid!, 'SIGINT');
    assert.equal(await exited, 0, out);
    assert.match(out, /tsraft cluster: stopped/, out);
    assert.doesNotMatch(out, /again: exiting without waiting for the clean stop/, 'each node got one signal, not two');
  } finally {
    if (p.exitCode === null) process.kill(-p.pid!, 'SIGKILL');
    rmSync(root, { recursive: true, force: true });
  }
});
