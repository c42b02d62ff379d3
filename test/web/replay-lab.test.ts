import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import { labMain } from '../../src/lab/cli.js';
import { kvTests } from '../../src/lab/suite/kv.js';
import { raftTests } from '../../src/lab/suite/raft.js';
import type { NodeFrame } from '../../src/sim/observe.js';
import type { ReplayHandle } from '../../src/web/replay/handle.js';
import { ROOT, browserSuite } from './browser.js';

const suiteEnv = browserSuite('tsraft-replay-lab-');
const dir = suiteEnv.dir;
const suite = [...raftTests, ...kvTests];

// The page's global, as seen by the functions page.evaluate runs there.
declare const window: { tsraftReplay: ReplayHandle | undefined };

/** `npm run lab -- --seed S --grep ^TITLE$ --html FILE`: the exit code, its lines, the hash it printed. */
async function labHtml(title: string, seed: number, file: string): Promise<{ code: number; out: string[]; hash: string }> {
  const out: string[] = [];
  const grep = `^${title.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`;
  const code = await labMain(suite, new URL(import.meta.url), ['--seed', String(seed), '--grep', grep, '--html', file], (l) => out.push(l));
  const line = out.find((l) => l.startsWith('trace hash '));
  assert.ok(line !== undefined, out.join('\n'));
  return { code, out, hash: line.slice('trace hash '.length) };
}

async function open(page: Page, file: string): Promise<ReplayHandle> {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  // Offline: nothing may be fetched from anywhere.
  const fetched: string[] = [];
  await page.route('**/*', async (route) => {
    const url = route.request().url();
    if (!url.startsWith('file://')) fetched.push(url);
    await (url.startsWith('file://') ? route.continue() : route.abort());
  });
  await page.goto(`file://${file}`);
  await page.waitForFunction(() => window.tsraftReplay !== undefined && window.tsraftReplay.state !== 'running', null, { timeout: 60_000 });
  const h = await page.evaluate(() => {
    const r = window.tsraftReplay!;
    return { ...r, t: undefined, seek: undefined, pause: undefined };
  });
  assert.deepEqual(errors, [], 'no errors in the page');
  assert.deepEqual(fetched, []);
  assert.equal(h.state, 'ready', h.error);
  return h as unknown as ReplayHandle;
}

/** Seeks to `t` and waits for the frame drawn there. */
async function at(page: Page, t: number): Promise<{ cuts: number; flights: number; nodes: readonly NodeFrame[]; trace: string; clerks: number }> {
  await page.evaluate((x) => {
    window.tsraftReplay!.pause();
    window.tsraftReplay!.seek(x);
  }, t);
  await page.waitForTimeout(120);
  const r = await page.evaluate(() => ({ cuts: window.tsraftReplay!.lastCuts, flights: window.tsraftReplay!.lastFlights, nodes: window.tsraftReplay!.lastNodes, clerks: window.tsraftReplay!.lastClerks }));
  // The trace lines up to this moment (the current line is the last one at or before it).
  const trace = `${(await page.locator('#trace-before').textContent()) ?? ''}\n${(await page.locator('#trace-current').textContent()) ?? ''}`;
  return { ...r, trace };
}

test('npm run lab -- --html: a Raft lab test re-run in Chromium ends with the CLI\'s trace hash and shows the tester\'s disconnect', async () => {
  const title = 'Test (2A): election after network failure';
  const file = path.join(dir, '2a.html');
  const cli = await labHtml(title, 3, file);
  assert.equal(cli.code, 0, cli.out.join('\n'));
  assert.match(cli.out.join('\n'), /replay page written to /);
  assert.match(readFileSync(file, 'utf8'), /"kind":"lab","title":"Test \(2A\): election after network failure","seed":3/);

  const page = await suiteEnv.browser().newPage({ viewport: { width: 1280, height: 800 } });
  const h = await open(page, file);
  assert.equal(h.traceHash, cli.hash, 'the page ran the same run as the CLI');
  assert.equal(h.ok, true);
  assert.equal(await page.locator('#hash').getAttribute('class'), 'same');
  assert.match((await page.locator('#command').textContent()) ?? '', /npm run lab -- --seed 3 --grep '\^Test \\\(2A\\\): election after network failure\$'/);
  assert.match((await page.locator('#summary').textContent()) ?? '', /Passed/);
  assert.ok(h.messages > 20, `${h.messages} RPCs drawn`);

  // The tester disconnects the leader: a mark on the timeline, the links cut in the drawing, the line in the trace.
  const disconnect = h.marks.find((m) => m.kind === 'partition' && /S\d disconnected/.test(m.text));
  assert.ok(disconnect !== undefined, JSON.stringify(h.marks));
  const before = await at(page, disconnect.t - 1);
  assert.equal(before.cuts, 0);
  const leader = before.nodes.filter((n) => n.role === 'leader');
  assert.equal(leader.length, 1, 'one leader before the disconnect');
  assert.match(disconnect.text, new RegExp(`S${leader[0]!.id} disconnected`), 'the tester disconnects the leader');
  const cut = await at(page, disconnect.t);
  assert.equal(cut.cuts, 4, 'both directions of both links of the disconnected server are cut');
  assert.match(cut.trace.split('\n').at(-1)!, new RegExp(`tester: S${leader[0]!.id} disconnected`));
  // A new leader in a later term, elected while the old one is away.
  const next = h.marks.find((m) => m.kind === 'leader' && m.t > disconnect.t);
  assert.ok(next !== undefined);
  const later = await at(page, next.t);
  const newLeader = later.nodes.find((n) => n.role === 'leader' && n.id !== leader[0]!.id);
  assert.ok(newLeader !== undefined && newLeader.term! > leader[0]!.term!, JSON.stringify(later.nodes));
  // Seeking to a moment with RPCs on the wire draws them.
  let flights = 0;
  for (let x = next.t - 400; x < next.t + 400 && flights === 0; x += 3) flights = (await at(page, x)).flights;
  assert.ok(flights > 0, 'RPCs in flight around the election');
  if (process.env['TSRAFT_SCREENSHOTS'] === '1') {
    // The re-election: the old leader cut off, votes and heartbeats on the wire.
    for (let x = disconnect.t; x < next.t + 200; x += 5) {
      const f = await at(page, x);
      if (f.cuts > 0 && f.flights >= 2 && f.nodes.some((n) => n.role === 'candidate' || n.role === 'leader')) break;
    }
    mkdirSync(path.join(ROOT, 'docs/images'), { recursive: true });
    await page.screenshot({ path: path.join(ROOT, 'docs/images/replay-lab.png') });
  }
  await page.close();
});

test('npm run lab -- --html: a kvraft test re-run in Chromium ends with the CLI\'s trace hash; clerks and the partition are drawn', async () => {
  const title = 'Test: progress in majority (3A), no progress in minority (3A), completion after heal (3A)';
  const file = path.join(dir, '3a.html');
  const cli = await labHtml(title, 2, file);
  assert.equal(cli.code, 0, cli.out.join('\n'));
  const page = await suiteEnv.browser().newPage({ viewport: { width: 1280, height: 800 } });
  const h = await open(page, file);
  assert.equal(h.traceHash, cli.hash, 'the page ran the same run as the CLI');
  assert.equal(await page.locator('#hash').getAttribute('class'), 'same');
  const partition = h.marks.find((m) => m.kind === 'partition' && /\{.*\} \| \{.*\}/.test(m.text));
  assert.ok(partition !== undefined, JSON.stringify(h.marks));
  const p = await at(page, partition.t);
  assert.ok(p.cuts > 0, 'the partition cuts links');
  assert.ok(p.clerks >= 1, 'the clerks are drawn');
  assert.match(p.trace.split('\n').slice(-12).join('\n'), /tester: S\d partitioned: \{[\d,]+\} \| \{[\d,]+\}/);
  await page.close();
});
