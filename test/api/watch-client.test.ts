/**
 * The client library's `watch()` and `tsraft kv watch` against three
 * in-process nodes: resuming on another node when the one it reads stops,
 * the compacted error, and the CLI's lines.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KvClient, WatchCompactedError, type WatchEvent } from '../../src/client/index.js';
import { kvCommand } from '../../src/cli/kv.js';
import { inProcessClusterSuite } from './in-process-cluster.js';

const HISTORY = 40;
const servers = inProcessClusterSuite('tsraft-watch-client-', 'watch-client-test', () => ({ watchHistory: HISTORY }));

const urls = (): string[] => servers.map((s) => s.apiUrl);

/** Reads `n` events of `it` (or fewer if it ends), within `ms`. */
async function take(it: AsyncIterator<WatchEvent>, n: number, ms = 10_000): Promise<WatchEvent[]> {
  const out: WatchEvent[] = [];
  const deadline = Date.now() + ms;
  while (out.length < n) {
    const r = await Promise.race([it.next(), new Promise<'late'>((res) => setTimeout(() => res('late'), Math.max(1, deadline - Date.now())))]);
    if (r === 'late') throw new Error(`only ${out.length} of ${n} events within ${ms} ms`);
    if (r.done === true) break;
    out.push(r.value);
  }
  return out;
}

test('watch() resumes on another node when the one it reads stops: every change once, in order', async () => {
  const writer = new KvClient({ endpoints: urls(), discover: false });
  const first = await writer.put('c/0', 'v0');
  // The watcher reads a follower first; that follower is stopped half way.
  const target = servers.find((s) => !s.node.isLeader())!;
  const others = servers.filter((s) => s !== target).map((s) => s.apiUrl);
  const watcher = new KvClient({ endpoints: [target.apiUrl, ...others], discover: false });
  const ac = new AbortController();
  const it = watcher.watch('c/', { fromRevision: first.revision, signal: ac.signal, idleTimeoutMs: 2000 })[Symbol.asyncIterator]();
  const expected: WatchEvent[] = [{ type: 'put', key: 'c/0', value: 'v0', revision: first.revision, createRevision: first.revision }];
  const got = await take(it, 1);
  for (let i = 1; i < 6; i++) {
    const r = await writer.put(`c/${i}`, `v${i}`);
    expected.push({ type: 'put', key: `c/${i}`, value: `v${i}`, revision: r.revision, createRevision: r.revision });
  }
  got.push(...(await take(it, 5)));
  await target.stop();
  for (let i = 6; i < 12; i++) {
    const r = i === 9 ? await writer.delete('c/1') : await writer.put(`c/${i}`, `v${i}`);
    expected.push(i === 9 ? { type: 'delete', key: 'c/1', revision: r.revision! } : { type: 'put', key: `c/${i}`, value: `v${i}`, revision: r.revision!, createRevision: r.revision! });
  }
  got.push(...(await take(it, 6)));
  ac.abort();
  assert.deepEqual(got, expected);
  assert.equal((await it.next()).done, true, 'the iteration ends when the signal aborts');
});

test('watch() from a revision no node holds throws WatchCompactedError naming the oldest revision held', async () => {
  const writer = new KvClient({ endpoints: urls(), discover: false });
  for (let i = 0; i < HISTORY + 5; i++) await writer.put(`z/${i % 3}`, String(i));
  const watcher = new KvClient({ endpoints: urls(), discover: false });
  await assert.rejects(
    async () => {
      for await (const e of watcher.watch('z/', { fromRevision: 1 })) void e;
    },
    (e: unknown) => e instanceof WatchCompactedError && e.code === 'compacted' && e.oldestRevision > 1 && e.message.includes(`oldest revision held is ${e.oldestRevision}`),
  );
});

test('tsraft kv watch PREFIX --from-revision R prints one line per change; --json one object per line; bad R is a usage error', async () => {
  const writer = new KvClient({ endpoints: urls(), discover: false });
  const a = await writer.put('cli/a', 'one two');
  const b = await writer.delete('cli/a');
  const c = await writer.put('cli/b', '3');
  await writer.put('clx/other', 'not under the prefix');
  const endpoints = urls().join(',');
  for (const json of [false, true]) {
    const lines: string[] = [];
    const ac = new AbortController();
    const io = {
      out: (l: string) => {
        lines.push(l);
        if (lines.length === 3) ac.abort();
      },
      err: (l: string) => lines.push(`ERR ${l}`),
    };
    const code = await kvCommand('watch', ['cli/'], { endpoints, fromRevision: String(a.revision), json }, io, ac.signal);
    assert.equal(code, 0);
    if (!json) assert.deepEqual(lines, [`${a.revision}\tPUT\tcli/a\tone two`, `${b.revision!}\tDELETE\tcli/a`, `${c.revision}\tPUT\tcli/b\t3`]);
    else assert.deepEqual(lines.map((l) => JSON.parse(l) as unknown), [
      { type: 'put', key: 'cli/a', value: 'one two', revision: a.revision, createRevision: a.revision },
      { type: 'delete', key: 'cli/a', revision: b.revision },
      { type: 'put', key: 'cli/b', value: '3', revision: c.revision, createRevision: c.revision },
    ]);
  }
  const errs: string[] = [];
  assert.equal(await kvCommand('watch', ['cli/'], { endpoints, fromRevision: '0' }, { out: () => {}, err: (l) => errs.push(l) }), 2);
  assert.match(errs.join('\n'), /--from-revision must be an integer >= 1, got '0'/);
  assert.equal(await kvCommand('watch', [], { endpoints }, { out: () => {}, err: (l) => errs.push(l) }), 2);
  assert.match(errs.at(-1)!, /usage: tsraft kv watch PREFIX/);
  const compacted: string[] = [];
  assert.equal(await kvCommand('watch', ['z/'], { endpoints, fromRevision: '1' }, { out: () => {}, err: (l) => compacted.push(l) }), 1);
  assert.match(compacted.join('\n'), /tsraft kv watch: revision 1 is no longer held .* oldest revision held is \d+/);
});
