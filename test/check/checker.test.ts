import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { checkHistory, explain, parseHistory, renderHtml, type HistoryOp } from '../../src/check/index.js';
import { runCheck } from '../../src/cli/check.js';
import { SeededRandom, type Random } from '../../src/util/random.js';

type Op = Omit<HistoryOp, 'status' | 'clientId'> & { status?: HistoryOp['status']; clientId?: string | number };
const h = (...ops: Op[]): HistoryOp[] => ops.map((o, i) => ({ clientId: i, status: 'ok', ...o }) as HistoryOp);
const verdict = (ops: HistoryOp[]) => checkHistory(ops).verdict;

test('get and put: real-time order is respected', () => {
  assert.equal(verdict(h({ op: 'put', key: 'x', value: 'a', call: 0, return: 1 }, { op: 'get', key: 'x', output: 'a', call: 2, return: 3 })), 'ok');
  assert.equal(verdict(h({ op: 'put', key: 'x', value: 'a', call: 0, return: 1 }, { op: 'get', key: 'x', output: 'b', call: 2, return: 3 })), 'illegal');
  assert.equal(verdict(h({ op: 'get', key: 'x', output: null, call: 0, return: 1 })), 'ok', 'a missing key reads null');
  assert.equal(verdict(h({ op: 'get', key: 'x', output: '', call: 0, return: 1 })), 'illegal', 'missing is not the empty string');
  // Concurrent with the put, a get may see either value.
  for (const out of ['a', null]) assert.equal(verdict(h({ op: 'put', key: 'x', value: 'a', call: 0, return: 10 }, { op: 'get', key: 'x', output: out, call: 2, return: 3 })), 'ok');
  // Stale read: a later get sees the older value.
  assert.equal(
    verdict(h({ op: 'put', key: 'x', value: 'a', call: 0, return: 1 }, { op: 'put', key: 'x', value: 'b', call: 2, return: 3 }, { op: 'get', key: 'x', output: 'a', call: 4, return: 5 })),
    'illegal',
  );
  // Two reads that disagree on the order of two concurrent writes.
  assert.equal(
    verdict(
      h(
        { op: 'put', key: 'x', value: 'a', call: 0, return: 10 },
        { op: 'put', key: 'x', value: 'b', call: 0, return: 10 },
        { op: 'get', key: 'x', output: 'a', call: 11, return: 12 },
        { op: 'get', key: 'x', output: 'b', call: 13, return: 14 },
      ),
    ),
    'illegal',
  );
});

test('append: concatenation in some order consistent with real time', () => {
  assert.equal(verdict(h({ op: 'append', key: 'k', value: 'x', call: 0, return: 1 }, { op: 'get', key: 'k', output: 'x', call: 2, return: 3 })), 'ok');
  const conc = (out: string) =>
    verdict(h({ op: 'append', key: 'k', value: 'a', call: 0, return: 5 }, { op: 'append', key: 'k', value: 'b', call: 1, return: 6 }, { op: 'get', key: 'k', output: out, call: 7, return: 8 }));
  assert.equal(conc('ab'), 'ok');
  assert.equal(conc('ba'), 'ok');
  assert.equal(conc('aa'), 'illegal');
  assert.equal(conc('a'), 'illegal');
});

test('delete: the key is gone after it; its reported outcome must match', () => {
  assert.equal(
    verdict(h({ op: 'put', key: 'k', value: 'v', call: 0, return: 1 }, { op: 'delete', key: 'k', output: true, call: 2, return: 3 }, { op: 'get', key: 'k', output: null, call: 4, return: 5 })),
    'ok',
  );
  assert.equal(verdict(h({ op: 'put', key: 'k', value: 'v', call: 0, return: 1 }, { op: 'delete', key: 'k', output: false, call: 2, return: 3 })), 'illegal');
  assert.equal(verdict(h({ op: 'delete', key: 'k', output: true, call: 0, return: 1 })), 'illegal');
  assert.equal(verdict(h({ op: 'put', key: 'k', value: 'v', call: 0, return: 1 }, { op: 'delete', key: 'k', call: 2, return: 3 }, { op: 'get', key: 'k', output: 'v', call: 4, return: 5 })), 'illegal');
});

test('cas: swaps exactly when the value was the expected one', () => {
  const base = { op: 'put' as const, key: 'k', value: 'a', call: 0, return: 1 };
  assert.equal(verdict(h(base, { op: 'cas', key: 'k', expected: 'a', value: 'b', output: true, call: 2, return: 3 }, { op: 'get', key: 'k', output: 'b', call: 4, return: 5 })), 'ok');
  assert.equal(verdict(h(base, { op: 'cas', key: 'k', expected: 'a', value: 'b', output: false, call: 2, return: 3 })), 'illegal', 'it should have swapped');
  assert.equal(verdict(h(base, { op: 'cas', key: 'k', expected: 'z', value: 'b', output: true, call: 2, return: 3 })), 'illegal', 'it cannot have swapped');
  assert.equal(verdict(h(base, { op: 'cas', key: 'k', expected: 'z', value: 'b', output: false, call: 2, return: 3 }, { op: 'get', key: 'k', output: 'a', call: 4, return: 5 })), 'ok');
  assert.equal(verdict(h({ op: 'cas', key: 'k', expected: null, value: 'n', output: true, call: 0, return: 1 }, { op: 'get', key: 'k', output: 'n', call: 2, return: 3 })), 'ok', 'null expects absence');
});

test('operations with unknown outcome may have happened at any time after their call, or never', () => {
  const put = { op: 'put' as const, key: 'x', value: 'a', call: 0, return: 1 };
  const maybe = { op: 'put' as const, key: 'x', value: 'b', call: 2, return: null, status: 'unknown' as const };
  assert.equal(verdict(h(put, maybe, { op: 'get', key: 'x', output: 'b', call: 10, return: 11 })), 'ok', 'it happened');
  assert.equal(verdict(h(put, maybe, { op: 'get', key: 'x', output: 'a', call: 10, return: 11 })), 'ok', 'it never happened');
  assert.equal(verdict(h(put, maybe, { op: 'get', key: 'x', output: 'b', call: 0.5, return: 1.5 })), 'illegal', 'not before its call');
  assert.equal(
    verdict(h(put, maybe, { op: 'get', key: 'x', output: 'b', call: 10, return: 11 }, { op: 'get', key: 'x', output: 'a', call: 12, return: 13 })),
    'illegal',
    'once seen it cannot be undone',
  );
  // Failed operations certainly did not happen.
  assert.equal(verdict(h(put, { op: 'put', key: 'x', value: 'b', call: 2, return: 3, status: 'fail' }, { op: 'get', key: 'x', output: 'b', call: 4, return: 5 })), 'illegal');
  // An unknown get says nothing.
  assert.equal(verdict(h(put, { op: 'get', key: 'x', output: 'zzz', call: 2, return: null, status: 'unknown' })), 'ok');
});

test('keys are independent partitions', () => {
  const r = checkHistory(h({ op: 'put', key: 'a', value: '1', call: 0, return: 1 }, { op: 'put', key: 'b', value: '2', call: 0, return: 1 }, { op: 'get', key: 'a', output: '2', call: 2, return: 3 }));
  assert.equal(r.verdict, 'illegal');
  assert.match(explain(r), /key "a"/);
});

/** A history whose operations overlap freely but each contains its linearization point: linearizable by construction. */
function linearizableHistory(r: Random, n: number, keys: number, clients: number): HistoryOp[] {
  const state = new Map<string, string | null>();
  const busyUntil = new Array<number>(clients).fill(0);
  const out: HistoryOp[] = [];
  let t = 0;
  for (let i = 0; i < n; i++) {
    t += 1 + r.int(3);
    const key = `k${r.int(keys)}`;
    const cur = state.get(key) ?? null;
    const client = r.int(clients);
    // Each client runs one operation at a time: its next call starts after its last return.
    const call = Math.max(busyUntil[client]! + 1, t - r.int(20));
    const lin = Math.max(t, call);
    const ret = lin + r.int(20);
    busyUntil[client] = ret;
    const kind = r.int(5);
    let op: HistoryOp;
    if (kind === 0) {
      op = { clientId: client, op: 'get', key, output: cur, call, return: ret, status: 'ok' };
    } else if (kind === 1) {
      const value = `v${i}`;
      state.set(key, value);
      op = { clientId: client, op: 'put', key, value, call, return: ret, status: 'ok' };
    } else if (kind === 2) {
      const value = `.${i}`;
      state.set(key, (cur ?? '') + value);
      op = { clientId: client, op: 'append', key, value, call, return: ret, status: 'ok' };
    } else if (kind === 3) {
      state.set(key, null);
      op = { clientId: client, op: 'delete', key, output: cur !== null, call, return: ret, status: 'ok' };
    } else {
      const expected = r.int(2) === 0 ? cur : 'nope';
      const value = `c${i}`;
      const swapped = expected === cur;
      if (swapped) state.set(key, value);
      op = { clientId: client, op: 'cas', key, expected, value, output: swapped, call, return: ret, status: 'ok' };
    }
    t = lin;
    out.push(op);
  }
  return out;
}

test('random histories from sequential executions are linearizable; mutated ones are not', () => {
  let illegal = 0;
  for (let seed = 1; seed <= 200; seed++) {
    const r = new SeededRandom(seed);
    const hist = linearizableHistory(r, 40 + r.int(160), 1 + r.int(4), 2 + r.int(5));
    const res = checkHistory(hist, { timeoutMs: 5000 });
    assert.equal(res.verdict, 'ok', `seed ${seed}: ${explain(res)}`);
    // Mutation 1: a get returns a value no one ever wrote.
    const gets = hist.map((o, i) => [o, i] as const).filter(([o]) => o.op === 'get');
    if (gets.length > 0) {
      const [, gi] = gets[r.int(gets.length)]!;
      const bad = hist.map((o, i) => (i === gi ? { ...o, output: `never-written-${seed}` } : o));
      assert.equal(checkHistory(bad).verdict, 'illegal', `seed ${seed}: a read of a value never written`);
      illegal++;
    }
    // Mutation 2: a get returns the value of a put that began only after the get returned.
    for (const [g, gi] of gets) {
      const later = hist.find((o) => o.op === 'put' && o.key === g.key && o.call > g.return!);
      if (later === undefined) continue;
      const bad = hist.map((o, i) => (i === gi ? { ...o, output: later.value! } : o));
      assert.equal(checkHistory(bad).verdict, 'illegal', `seed ${seed}: a read from the future`);
      illegal++;
      break;
    }
  }
  assert.ok(illegal > 200, `only ${illegal} mutated histories`);
});

test('a check that runs out of time says unknown, not ok', () => {
  // Many concurrent appends to one key and a read no order explains: exponential without luck.
  const ops: HistoryOp[] = [];
  for (let i = 0; i < 40; i++) ops.push({ clientId: i, op: 'append', key: 'k', value: String.fromCharCode(65 + i), call: 0, return: 100, status: 'ok' });
  ops.push({ clientId: 99, op: 'get', key: 'k', output: 'impossible', call: 101, return: 102, status: 'ok' });
  const r = checkHistory(ops, { timeoutMs: 50 });
  assert.equal(r.verdict, 'unknown');
});

test('the HTML report shows the key, the longest linearizable prefix and the operation that cannot be placed', () => {
  const r = checkHistory(h({ op: 'put', key: 'x', value: 'a', call: 0, return: 1 }, { op: 'put', key: 'x', value: 'b', call: 2, return: 3 }, { op: 'get', key: 'x', output: 'a', call: 4, return: 5 }));
  const html = renderHtml(r);
  assert.match(html, /NOT linearizable/);
  assert.match(html, /key <code>&quot;x&quot;<\/code>/);
  assert.match(html, /get\(&quot;x&quot;\) → &quot;a&quot;/);
  assert.match(html, /longest linearizable prefix: 2 operations/);
  assert.match(html, /<svg/);
});

const dir = mkdtempSync(path.join(tmpdir(), 'tsraft-check-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('the check command: verdicts, exit codes, and clear errors for bad input', () => {
  const lines: string[] = [];
  const out = (l: string) => lines.push(l);
  const file = (name: string, content: string): string => {
    const p = path.join(dir, name);
    writeFileSync(p, content);
    return p;
  };
  const good = file('good.json', JSON.stringify([{ clientId: 'c1', op: 'put', key: 'x', value: 'a', call: 0, return: 1, status: 'ok' }]));
  assert.equal(runCheck(good, { timeout: '10' }, out), 0);
  assert.equal(lines.pop(), 'linearizable');
  const bad = file('bad.json', JSON.stringify([
    { clientId: 'c1', op: 'put', key: 'x', value: 'a', call: 0, return: 1, status: 'ok' },
    { clientId: 'c2', op: 'get', key: 'x', output: 'b', call: 2, return: 3, status: 'ok' },
  ]));
  assert.equal(runCheck(bad, { timeout: '10', html: dir }, out), 1);
  const report = lines.pop()!.replace('report: ', '');
  assert.ok(lines.includes('not linearizable'));
  assert.match(readFileSync(report, 'utf8'), /NOT linearizable/);
  assert.equal(runCheck(file('junk.json', '{not json'), { timeout: '10' }, out), 3);
  assert.match(lines.pop()!, /junk\.json: not valid JSON/);
  assert.equal(runCheck(file('op.json', JSON.stringify([{ clientId: 1, op: 'incr', key: 'x', call: 0, return: 1, status: 'ok' }])), { timeout: '10' }, out), 3);
  assert.match(lines.pop()!, /op\.json: entry 0: field "op" must be get\|put\|append\|delete\|cas, got "incr"/);
  assert.equal(runCheck(file('ret.json', JSON.stringify([{ clientId: 1, op: 'get', key: 'x', output: null, call: 5, return: 1, status: 'ok' }])), { timeout: '10' }, out), 3);
  assert.match(lines.pop()!, /field "return" must be a finite number not before "call"/);
  assert.equal(runCheck(path.join(dir, 'missing.json'), { timeout: '10' }, out), 3);
  assert.match(lines.pop()!, /no such file/);
  assert.throws(() => parseHistory({}), /expected a JSON array/);
});
