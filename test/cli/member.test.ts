/**
 * `tsraft member list | add | promote | remove`, `tsraft leader transfer` and
 * `tsraft status` against a real API server backed by a fake MembershipApi:
 * what they send, what they print (tables and --json), and exit codes.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, beforeEach, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { MembershipError } from '../../src/api/membership.js';
import { leaderTransfer, memberAdd, memberList, memberPromote, memberRemove } from '../../src/cli/member.js';
import { statusCommand } from '../../src/cli/status.js';
import { FakeMembership, fakeStatus, startApi } from '../api/fake-membership.js';
import { freePort } from '../process/harness.js';
import { capture } from './capture.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

let fake: FakeMembership;
let api: Awaited<ReturnType<typeof startApi>>;

before(async () => {
  fake = new FakeMembership([], () => api.url);
  api = await startApi(fake, { status: () => fakeStatus('n1') });
});
after(() => api.close());
beforeEach(() => {
  fake.calls.length = 0;
  fake.members = [fake.view('n1', 1, 'voter', 100), fake.view('n2', 2, 'voter', 97), fake.view('n3', 3, 'learner', 40)];
  fake.leader = 'n1';
  fake.failNext = null;
});

test('member list prints a table with roles, the leader, match and lag; --json prints GET /v1/members', async () => {
  const c = capture();
  assert.equal(await memberList({ endpoints: api.url }, c.io), 0);
  assert.match(c.out[0]!, /^NAME\s+ROLE\s+LEADER\s+PEER ADDRESS\s+API URL\s+MATCH\s+LAG$/);
  assert.match(c.out[1]!, /^n1\s+voter\s+yes\s+n1\.test:7000\s+http:\/\/127\.0\.0\.1:\d+\s+100\s+0$/);
  assert.match(c.out[2]!, /^n2\s+voter\s+n2\.test:7000\s+\S+\s+97\s+3$/);
  assert.match(c.out[3]!, /^n3\s+learner\s+n3\.test:7000\s+\S+\s+40\s+60$/);
  assert.equal(c.out[4], '2 voters, 1 learner; leader: n1');
  assert.deepEqual(c.err, []);
  const j = capture();
  assert.equal(await memberList({ endpoints: api.url, json: true }, j.io), 0);
  const view = JSON.parse(j.out.join('\n')) as { leader: string; members: { name: string }[] };
  assert.equal(view.leader, 'n1');
  assert.deepEqual(
    view.members.map((m) => m.name),
    ['n1', 'n2', 'n3'],
  );
});

test('member add sends name, peer, API URL and the learner flag, and says how to start the node', async () => {
  const c = capture();
  assert.equal(await memberAdd('n4', { endpoints: api.url, peer: '10.0.0.4:7000', api: '10.0.0.4:7100' }, c.io), 0);
  assert.deepEqual(fake.calls.at(-1), { op: 'add', req: { name: 'n4', peerAddress: '10.0.0.4:7000', apiUrl: 'http://10.0.0.4:7100', learner: false } });
  assert.match(c.out.join('\n'), /added n4 \(voter, peer 10\.0\.0\.4:7000, api http:\/\/10\.0\.0\.4:7100\) to cluster fake/);
  assert.match(c.out.join('\n'), /tsraft serve --id n4 --data DIR --listen 10\.0\.0\.4:7000 --api 10\.0\.0\.4:7100 --cluster-id fake --join URL/);
  const l = capture();
  assert.equal(await memberAdd('n5', { endpoints: api.url, peer: '10.0.0.5:7000', api: 'https://db5:8443', learner: true, json: true }, l.io), 0);
  assert.deepEqual(fake.calls.at(-1), { op: 'add', req: { name: 'n5', peerAddress: '10.0.0.5:7000', apiUrl: 'https://db5:8443', learner: true } });
  assert.equal((JSON.parse(l.out.join('\n')) as { member: { role: string } }).member.role, 'learner');
});

test('member promote, member remove and leader transfer', async () => {
  const p = capture();
  assert.equal(await memberPromote('n3', { endpoints: api.url }, p.io), 0);
  assert.match(p.out[0]!, /^promoted n3 \(voter, /);
  const r = capture();
  assert.equal(await memberRemove('n1', { endpoints: api.url }, r.io), 0);
  assert.match(r.out[0]!, /^removed n1;/);
  const rj = capture();
  assert.equal(await memberRemove('n2', { endpoints: api.url, json: true }, rj.io), 0);
  assert.deepEqual(JSON.parse(rj.out.join('')), { removed: 'n2' });
  fake.members = [fake.view('n1', 1, 'voter', 100), fake.view('n2', 2, 'voter', 100)];
  const t = capture();
  assert.equal(await leaderTransfer({ endpoints: api.url, to: 'n2' }, t.io), 0);
  assert.match(t.out[0]!, /^leader is now n2 \(\d+ ms\)$/);
  const tj = capture();
  assert.equal(await leaderTransfer({ endpoints: api.url, json: true }, tj.io), 0);
  assert.equal((JSON.parse(tj.out.join('')) as { leader: string }).leader, 'n1');
  assert.deepEqual(
    fake.calls.map((x) => ('name' in x ? `${x.op} ${x.name}` : x.op === 'transfer' ? `transfer ${x.to}` : x.op)),
    ['promote n3', 'remove n1', 'remove n2', 'transfer n2', 'transfer null'],
  );
});

test('failures exit 1 with the server message on stderr and nothing on stdout', async () => {
  const cases: [string, (io: ReturnType<typeof capture>['io']) => Promise<number>, RegExp][] = [
    ['remove unknown', (io) => memberRemove('nobody', { endpoints: api.url }, io), /^tsraft member remove: no member named nobody \(HTTP 404 not-found\)$/],
    ['add existing', (io) => memberAdd('n2', { endpoints: api.url, peer: 'h:1', api: 'http://h:2' }, io), /^tsraft member add: n2 is already a member \(HTTP 409 conflict\)$/],
    ['add bad peer', (io) => memberAdd('n9', { endpoints: api.url, peer: 'nope', api: 'http://h:2' }, io), /^tsraft member add: field "peerAddress" must be HOST:PORT .*\(HTTP 400 invalid\)$/],
    ['promote voter', (io) => memberPromote('n1', { endpoints: api.url }, io), /already a voter \(HTTP 409 conflict\)$/],
    ['transfer to learner', (io) => leaderTransfer({ endpoints: api.url, to: 'n3' }, io), /^tsraft leader transfer: n3 is a learner \(HTTP 409 conflict\)$/],
  ];
  for (const [what, run, message] of cases) {
    const c = capture();
    assert.equal(await run(c.io), 1, what);
    assert.deepEqual(c.out, [], what);
    assert.match(c.err.join('\n'), message, what);
  }
  fake.failNext = new MembershipError('unavailable', 'no leader');
  const u = capture();
  assert.equal(await memberList({ endpoints: api.url }, u.io), 0, 'a passing 503 (no leader yet) is retried');
  assert.deepEqual(u.err, []);
});

test('the tsraft binary exits non-zero with the error message (unreachable cluster; server refusal)', async () => {
  const dead = `http://127.0.0.1:${await freePort()}`;
  const r = spawnSync(process.execPath, [CLI, 'member', 'list', '--endpoints', dead], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /^tsraft member list: no endpoint completed GET \/v1\/members/m);
  // spawnSync would block this process's event loop, and with it the API server: spawn asynchronously.
  const { spawn } = await import('node:child_process');
  const p = spawn(process.execPath, [CLI, 'member', 'remove', 'ghost', '--endpoints', api.url], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  p.stderr.on('data', (b: Buffer) => (stderr += b.toString('utf8')));
  const code = await new Promise<number | null>((resolve) => p.once('exit', resolve));
  assert.equal(code, 1);
  assert.match(stderr, /tsraft member remove: no member named ghost \(HTTP 404 not-found\)/);
});

test('tsraft status shows the nodes, then voters and learners with their lag', async () => {
  const c = capture();
  assert.equal(await statusCommand({ endpoints: api.url }, c.io), 0);
  const text = c.out.join('\n');
  assert.match(c.out[0]!, /^ID\s+ROLE\s+TERM\s+LEADER\s+COMMIT\s+APPLIED\s+LAST INDEX\s+ENDPOINT$/);
  assert.match(c.out[1]!, /^n1\s+leader\s+2\s+n1\s+100\s+100\s+100\s+http:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(c.out.length, 2 + 1 + 5, 'one node row (every member has the same URL here), a blank line, the member table');
  assert.match(text, /^n3\s+learner\s+n3\.test:7000\s+\S+\s+40\s+60$/m);
  assert.match(text, /^2 voters, 1 learner; leader: n1$/m);
});

test('tsraft status against a node without the membership API prints the node table only', async () => {
  const bare = await startApi(undefined);
  try {
    const c = capture();
    assert.equal(await statusCommand({ endpoints: bare.url }, c.io), 0);
    assert.equal(c.out.length, 2);
    assert.match(c.out[1]!, /^n1\s+leader/);
  } finally {
    await bare.close();
  }
});
