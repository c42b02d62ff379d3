/**
 * `tsraft auth ...` against a real one-node server: what each command prints,
 * its exit code, and the flags that carry the token (--token-file, TSRAFT_TOKEN).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { authDisable, authEnable, authStatus, roleAdd, roleList, roleRemove, tokenCreate, tokenList, tokenRevoke } from '../../src/cli/auth.js';
import { TsraftServer } from '../../src/server/server.js';
import { silentLogger } from '../../src/util/log.js';
import { freePort, sleep } from '../process/harness.js';
import { capture } from './capture.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
let root: string;
let server: TsraftServer;

before(async () => {
  root = mkdtempSync(path.join(tmpdir(), 'tsraft-cli-auth-'));
  const members = [{ name: 'n1', raft: { host: '127.0.0.1', port: await freePort() } }];
  server = await TsraftServer.start({ name: 'n1', clusterId: 'cli-auth', dataDir: path.join(root, 'n1'), listen: members[0]!.raft, api: { host: '127.0.0.1', port: 0 }, members, insecurePeers: true, heartbeatTicks: 5, electionTicks: 20 }, { logger: silentLogger() });
  while (!server.node.isLeader()) await sleep(10);
});
after(async () => {
  await server.stop();
  rmSync(root, { recursive: true, force: true });
});

/** The CLI as a child process; asynchronous, since the server runs in this process. */
function cli(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, ...args], { env });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (b: Buffer) => (stdout += b.toString('utf8')));
    p.stderr.on('data', (b: Buffer) => (stderr += b.toString('utf8')));
    p.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

test('auth enable prints the root token once; role and token commands print what they did; revoke is refused afterwards', async () => {
  const e = { endpoints: server.apiUrl };
  let c = capture();
  assert.equal(await authStatus(e, c.io), 0);
  assert.deepEqual(c.out, ['auth is disabled']);
  c = capture();
  assert.equal(await authEnable(e, c.io), 0);
  const rootToken = c.out[1]!;
  assert.match(rootToken, /^tsr_/);
  assert.match(c.out[2]!, /root\.token \(mode 0600\)/);
  const rootFile = path.join(root, 'root.cli');
  writeFileSync(rootFile, `${rootToken}\n`);
  const admin = { endpoints: server.apiUrl, tokenFile: rootFile };

  c = capture();
  assert.equal(await roleAdd('app', { ...admin, read: ['app/'], write: ['app/w/'] }, c.io), 0);
  assert.deepEqual(c.out, ['role app: read "app/"*; write "app/w/"*']);
  c = capture();
  assert.equal(await roleList(admin, c.io), 0);
  assert.deepEqual(c.out, ['ROLE  READ    WRITE     ADMIN', 'root  ""      ""        yes', 'app   "app/"  "app/w/"']);
  c = capture();
  assert.equal(await tokenCreate('svc', { ...admin, role: 'app' }, c.io), 0);
  const svc = c.out[0]!;
  assert.match(svc, /^tsr_/);
  c = capture();
  assert.equal(await tokenList(admin, c.io), 0);
  assert.deepEqual(c.out, ['TOKEN  ROLES', 'root   root', 'svc    app']);

  // TSRAFT_TOKEN carries a token for the CLI; a read token cannot write.
  const env = { ...process.env, TSRAFT_TOKEN: svc };
  const put = await cli(['kv', 'put', 'other', 'x', '--endpoints', server.apiUrl], env);
  assert.equal(put.status, 1);
  assert.match(put.stderr, /the token svc may not write "other"/);
  assert.equal((await cli(['kv', 'put', 'app/w/1', 'x', '--endpoints', server.apiUrl], env)).status, 0);

  // Without a token: 401, exit 1, the server's message.
  c = capture();
  assert.equal(await tokenList({ endpoints: server.apiUrl }, c.io), 1);
  assert.match(c.err[0]!, /tsraft auth token list: a bearer token is required \(HTTP 401 unauthenticated\)/);

  c = capture();
  assert.equal(await tokenRevoke('svc', admin, c.io), 0);
  const after = await cli(['kv', 'get', 'app/w/1', '--endpoints', server.apiUrl], env);
  assert.equal(after.status, 1);
  assert.match(after.stderr, /not valid \(unknown or revoked\)/);
  c = capture();
  assert.equal(await roleRemove('root', admin, c.io), 1, 'the root role cannot be removed');
  assert.equal(await roleRemove('app', admin, capture().io), 0);
  assert.equal(await authDisable(admin, capture().io), 0);
  c = capture();
  assert.equal(await authStatus(e, c.io), 0);
  assert.deepEqual(c.out, ['auth is disabled']);
});

test('an unreadable --token-file or --cacert is a usage error (exit 2) naming the flag and the file', async () => {
  const missing = path.join(root, 'nope.token');
  const r = await cli(['kv', 'get', 'k', '--endpoints', server.apiUrl, '--token-file', missing]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, new RegExp(`--token-file ${missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: ENOENT`));
  const notPem = path.join(root, 'not.pem');
  writeFileSync(notPem, 'hello');
  const c = await cli(['status', '--endpoints', server.apiUrl, '--cacert', notPem]);
  assert.equal(c.status, 2);
  assert.match(c.stderr, /--cacert .*not\.pem: not a PEM certificate/);
});
