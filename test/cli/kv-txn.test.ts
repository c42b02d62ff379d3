/**
 * `tsraft kv txn` and `KvClient.txn()`: the --if/--then/--else syntax, its
 * usage errors, the printed lines and exit codes against three in-process
 * nodes, and the real CLI reading the request as JSON from stdin.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { KvClient } from '../../src/client/index.js';
import { kvCommand, txnRequestOf } from '../../src/cli/kv.js';
import { parseCompare, parseOp } from '../../src/cli/txn-syntax.js';
import type { TsraftServer } from '../../src/server/server.js';
import { UsageError } from '../../src/util/args.js';
import { startInProcessCluster } from '../api/in-process-cluster.js';

test('--if parses value, mod, create, exists and missing compares; JSON-quoted keys and values', () => {
  assert.deepEqual(parseCompare('value(cfg/a) = hello world'), { key: 'cfg/a', target: 'value', op: '=', value: 'hello world' });
  assert.deepEqual(parseCompare('value(k) != ""'), { key: 'k', target: 'value', op: '!=', value: '' });
  assert.deepEqual(parseCompare('value("a key (odd)") < "x y"'), { key: 'a key (odd)', target: 'value', op: '<', value: 'x y' });
  assert.deepEqual(parseCompare('mod(lock) = 0'), { key: 'lock', target: 'modRevision', op: '=', value: 0 });
  assert.deepEqual(parseCompare('create(lock) > 12'), { key: 'lock', target: 'createRevision', op: '>', value: 12 });
  assert.deepEqual(parseCompare('exists(a)'), { key: 'a', target: 'exists', op: '=', value: true });
  assert.deepEqual(parseCompare('missing(a)'), { key: 'a', target: 'exists', op: '=', value: false });
  for (const [bad, re] of [
    ['version(a) = 1', /expected value\(KEY\) OP VALUE/],
    ['value(a) >= 1', /expected value\(KEY\) OP VALUE/],
    ['mod(a) = x', /the revision must be an integer >= 0, got 'x'/],
    ['value("a) = 1', /not a JSON string/],
  ] as const) {
    assert.throws(() => parseCompare(bad), (e: unknown) => e instanceof UsageError && re.test(e.message) && e.message.includes(bad), bad);
  }
});

test('--then/--else parse put, del and get; errors name the flag and the text', () => {
  assert.deepEqual(parseOp('put k v with spaces', '--then'), { op: 'put', key: 'k', value: 'v with spaces' });
  assert.deepEqual(parseOp('put "a b" ""', '--then'), { op: 'put', key: 'a b', value: '' });
  assert.deepEqual(parseOp('del k', '--else'), { op: 'delete', key: 'k' });
  assert.deepEqual(parseOp('get "x y"', '--else'), { op: 'get', key: 'x y' });
  assert.throws(() => parseOp('put k', '--then'), /--then 'put k': put needs a KEY and a VALUE/);
  assert.throws(() => parseOp('get a b', '--else'), /--else 'get a b': get takes only a KEY/);
  assert.throws(() => parseOp('cas k v', '--then'), /unknown operation 'cas'/);
  assert.throws(() => parseOp('get', '--then'), /expected put KEY VALUE, del KEY or get KEY/);
  assert.throws(() => txnRequestOf({}), /nothing to do/);
  assert.throws(() => txnRequestOf({ file: 'x.json', then: ['get a'] }), /--file and --if\/--then\/--else exclude each other/);
  assert.throws(() => txnRequestOf({ file: '-' }, () => '{nope'), /--file -: not JSON/);
});

let root: string;
const servers: TsraftServer[] = [];

before(async () => {
  root = mkdtempSync(path.join(tmpdir(), 'tsraft-kv-txn-'));
  servers.push(...(await startInProcessCluster(root, 'kv-txn-test')));
});

after(async () => {
  for (const s of servers) await s.stop();
  rmSync(root, { recursive: true, force: true });
});

const urls = (): string[] => servers.map((s) => s.apiUrl);

test('KvClient.txn: a transfer between two keys applies both writes at one revision, or neither', async () => {
  const c = new KvClient({ endpoints: urls(), discover: false });
  const r0 = await c.put('bank/a', '100');
  await c.put('bank/b', '0');
  const move = { compare: [{ key: 'bank/a', target: 'modRevision' as const, op: '=' as const, value: r0.revision }], success: [{ op: 'put' as const, key: 'bank/a', value: '60' }, { op: 'put' as const, key: 'bank/b', value: '40' }], failure: [{ op: 'get' as const, key: 'bank/a' }] };
  const done = await c.txn(move);
  assert.equal(done.succeeded, true);
  const [a, b] = [await c.get('bank/a'), await c.get('bank/b')];
  assert.equal(a?.revision, done.revision);
  assert.equal(b?.revision, done.revision);
  assert.deepEqual([a?.value, b?.value], ['60', '40']);
  // The same transaction again: the revision moved, so the failure branch reads the current value.
  const again = await c.txn(move);
  assert.equal(again.succeeded, false);
  assert.deepEqual(again.results, [{ op: 'get', key: 'bank/a', item: { value: '60', createRevision: r0.revision, modRevision: done.revision } }]);
});

test('tsraft kv txn: lines, exit 0 when the compares hold and 1 when they do not, 2 for a usage error', async () => {
  const endpoints = urls().join(',');
  const run = async (flags: Record<string, unknown>): Promise<{ code: number; out: string[]; err: string[] }> => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await kvCommand('txn', [], { endpoints, ...flags }, { out: (l) => out.push(l), err: (l) => err.push(l) });
    return { code, out, err };
  };
  const first = await run({ if: ['missing(cli/lock)'], then: ['put cli/lock owner-1', 'get cli/lock', 'del cli/other'], else: ['get cli/lock'] });
  assert.equal(first.code, 0, first.err.join('\n'));
  const rev = Number(/^SUCCEEDED revision (\d+)$/.exec(first.out[0]!)?.[1]);
  assert.ok(rev > 0, first.out[0]);
  assert.deepEqual(first.out.slice(1), [`put\tcli/lock\trevision ${rev}`, `get\tcli/lock\tmod ${rev}\towner-1`, 'del\tcli/other\tabsent']);
  const second = await run({ if: ['missing(cli/lock)'], then: ['put cli/lock owner-2'], else: ['get cli/lock', 'get cli/none'] });
  assert.equal(second.code, 1);
  assert.match(second.out[0]!, /^FAILED revision \d+$/);
  assert.deepEqual(second.out.slice(1), [`get\tcli/lock\tmod ${rev}\towner-1`, 'get\tcli/none\t(absent)']);
  const json = await run({ if: ['value(cli/lock) = owner-1'], then: ['get cli/lock'], json: true });
  assert.equal(json.code, 0);
  assert.equal(JSON.parse(json.out[0]!).succeeded, true);
  const usage = await run({ if: ['value(cli/lock) == x'] });
  assert.equal(usage.code, 2);
  assert.match(usage.err[0]!, /tsraft kv txn: --if 'value\(cli\/lock\) == x'/);
  // The server's refusal names the field: exit 1.
  const file = path.join(root, 'bad.json');
  writeFileSync(file, JSON.stringify({ success: [{ op: 'put', key: 'k' }] }));
  const refused = await run({ file });
  assert.equal(refused.code, 1);
  assert.match(refused.err[0]!, /success\[0\]\.value must be a string/);
});

test('the real CLI reads the request from stdin (--file -)', async () => {
  const main = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');
  const child = spawn(process.execPath, [main, 'kv', 'txn', '--file', '-', '--endpoints', urls().join(',')], { stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin.end(JSON.stringify({ compare: [{ key: 'stdin/k', target: 'exists', op: '=', value: false }], success: [{ op: 'put', key: 'stdin/k', value: 'from stdin' }, { op: 'get', key: 'stdin/k' }] }));
  let out = '';
  let err = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 0, err);
  const lines = out.trim().split('\n');
  const rev = Number(/^SUCCEEDED revision (\d+)$/.exec(lines[0]!)?.[1]);
  assert.deepEqual(lines.slice(1), [`put\tstdin/k\trevision ${rev}`, `get\tstdin/k\tmod ${rev}\tfrom stdin`]);
});
