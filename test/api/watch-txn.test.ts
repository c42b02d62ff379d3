/**
 * Watching transactions: the changes of one revision go out in the order
 * applied, and only the last of them (for the watcher's prefix) carries the
 * `id:` line; a client whose stream breaks in the middle of a revision
 * resumes at that revision and drops what it already has, so it neither
 * skips nor repeats a change.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { KvClient, type WatchEvent } from '../../src/client/index.js';
import { encodeCommand, type KvCommand } from '../../src/kv/commands.js';
import { turn, watchSetup } from '../server/watch-fixture.js';


test('the hub sends a transaction\'s changes in order at one revision; only the last under the prefix has an id', async () => {
  const { sm, hub, out, text: read } = watchSetup();
  hub.open(out, { prefix: 'a/', fromRevision: 1 });
  sm.apply(encodeCommand({ op: 'put', key: 'a/0', value: 'single', time: 1 } as KvCommand), { index: 1, term: 1 });
  const txn = { op: 'txn', compare: [], success: [{ op: 'put', key: 'a/1', value: 'x' }, { op: 'delete', key: 'a/0' }, { op: 'put', key: 'a/2', value: 'y' }, { op: 'put', key: 'b/1', value: 'other prefix, last' }], failure: [], time: 1 };
  sm.apply(encodeCommand(txn as unknown as KvCommand), { index: 2, term: 1 });
  sm.apply(encodeCommand({ op: 'put', key: 'a/3', value: 'z', time: 1 } as KvCommand), { index: 3, term: 1 });
  await turn();
  await turn();
  const events = [...read().matchAll(/(?:id: (\d+)\n)?event: (put|delete)\ndata: (.*)\n\n/g)].map((m) => ({ id: m[1], type: m[2], ...(JSON.parse(m[3]!) as { key: string; revision: number }) }));
  assert.deepEqual(
    events.map((e) => [e.id ?? '-', e.type, e.key, e.revision]),
    [
      ['1', 'put', 'a/0', 1],
      ['-', 'put', 'a/1', 2],
      ['-', 'delete', 'a/0', 2],
      ['2', 'put', 'a/2', 2], // b/1 is later in revision 2, but not under a/: a/2 is the last this watcher gets
      ['3', 'put', 'a/3', 3],
    ],
  );
  hub.close();
});

/** A node that serves `GET /v1/watch` from a script: each connection gets the next list of frames, then is cut. */
async function scriptedNode(script: string[][]): Promise<{ server: Server; url: string; asked: string[] }> {
  const asked: string[] = [];
  let n = 0;
  const server = createServer((req, res) => {
    asked.push(new URL(req.url ?? '/', 'http://x').searchParams.get('fromRevision') ?? '');
    const frames = script[Math.min(n++, script.length - 1)]!;
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(frames.join(''));
    // A stream that breaks after what it sent (a node that stops mid-revision); the last script stays open.
    if (n < script.length) setTimeout(() => res.socket?.destroy(), 20);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, asked };
}

const ev = (type: 'put' | 'delete', key: string, revision: number, last: boolean): string =>
  `${last ? `id: ${revision}\n` : ''}event: ${type}\ndata: ${JSON.stringify(type === 'put' ? { type, key, value: `${key}@${revision}`, revision, createRevision: revision } : { type, key, revision })}\n\n`;
const start = (from: number): string => `event: start\ndata: ${JSON.stringify({ prefix: 'p/', fromRevision: from, revision: from - 1, oldestRevision: 1 })}\n\n`;

test('a client cut in the middle of a revision resumes at that revision and drops the changes it already yielded', async () => {
  const node = await scriptedNode([
    // First connection: revision 5 complete, then two of the three changes of revision 6, then the break.
    [start(5), ev('put', 'p/a', 5, true), ev('put', 'p/x', 6, false), ev('delete', 'p/y', 6, false)],
    // The reconnect must ask for 6: the node sends revision 6 whole, then 7.
    [start(6), ev('put', 'p/x', 6, false), ev('delete', 'p/y', 6, false), ev('put', 'p/z', 6, true), ev('put', 'p/a', 7, true)],
  ]);
  const client = new KvClient({ endpoints: [node.url], discover: false });
  const ac = new AbortController();
  const got: WatchEvent[] = [];
  try {
    for await (const e of client.watch('p/', { fromRevision: 5, signal: ac.signal, idleTimeoutMs: 2000 })) {
      got.push(e);
      if (got.length === 5) ac.abort();
    }
  } finally {
    node.server.close();
    node.server.closeAllConnections();
  }
  assert.deepEqual(node.asked, ['5', '6'], 'resumed at the revision it had only part of, not past it');
  assert.deepEqual(
    got.map((e) => `${e.revision}:${e.type}:${e.key}`),
    ['5:put:p/a', '6:put:p/x', '6:delete:p/y', '6:put:p/z', '7:put:p/a'],
    'every change once: none skipped, none repeated',
  );
});

test('a client cut right after a complete revision resumes at the next one', async () => {
  const node = await scriptedNode([
    [start(3), ev('put', 'p/a', 3, false), ev('put', 'p/b', 3, true)],
    [start(4), ev('put', 'p/c', 4, true)],
  ]);
  const client = new KvClient({ endpoints: [node.url], discover: false });
  const ac = new AbortController();
  const got: string[] = [];
  try {
    for await (const e of client.watch('p/', { fromRevision: 3, signal: ac.signal, idleTimeoutMs: 2000 })) {
      got.push(`${e.revision}:${e.key}`);
      if (got.length === 3) ac.abort();
    }
  } finally {
    node.server.close();
    node.server.closeAllConnections();
  }
  assert.deepEqual(node.asked, ['3', '4']);
  assert.deepEqual(got, ['3:p/a', '3:p/b', '4:p/c']);
});
