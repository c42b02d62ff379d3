import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import { replayHtml, simMain } from '../../src/sim/cli.js';
import { runSimulation } from '../../src/sim/cluster.js';
import type { ReplayHandle } from '../../src/web/replay/handle.js';
import { ROOT, browserSuite } from './browser.js';

const suiteEnv = browserSuite('tsraft-replay-');
const dir = suiteEnv.dir;
const PAGE = path.join(ROOT, 'dist/src/web/replay.html');

// The page's global, as seen by the functions page.evaluate runs there.
declare const window: { tsraftReplay: ReplayHandle | undefined };
declare const document: { getElementById(id: string): unknown };

/** What openReplay reads of the page's handle once its run ended. */
type PageRun = Pick<ReplayHandle, 'state' | 'error' | 'traceHash' | 'ok' | 'failure' | 'duration' | 'loadMs' | 'runMs'>;

async function openReplay(page: Page, url: string): Promise<PageRun> {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(url);
  await page.waitForFunction(() => window.tsraftReplay !== undefined && window.tsraftReplay!.state !== 'running', null, { timeout: 60_000 });
  const r = await page.evaluate(() => {
    const h = window.tsraftReplay!;
    return { state: h.state, error: h.error, traceHash: h.traceHash, ok: h.ok, failure: h.failure, duration: h.duration, loadMs: h.loadMs, runMs: h.runMs };
  });
  assert.deepEqual(errors, [], 'no errors in the page');
  assert.equal(r.state, 'ready', r.error);
  return r;
}

async function cliHash(argv: string[]): Promise<string> {
  const out: string[] = [];
  await simMain(argv, (l) => out.push(l));
  const line = out.find((l) => l.startsWith('trace hash '));
  assert.ok(line !== undefined, out.join('\n'));
  return line.slice('trace hash '.length);
}

test('replay page: 20 seeds of the swarm profile re-run in Chromium end with the trace hash the CLI prints', async () => {
  const page = await suiteEnv.browser().newPage({ viewport: { width: 1280, height: 800 } });
  const slowest = { seed: 0, ms: 0 };
  for (let seed = 1; seed <= 20; seed++) {
    const expected = seed <= 2 ? await cliHash(['--seed', String(seed), '--jobs', '1']) : (await runSimulation({ seed, hashTrace: true })).traceHash;
    const r = await openReplay(page, `file://${PAGE}?seed=${seed}`);
    assert.equal(r.traceHash, expected, `seed ${seed}`);
    if (r.runMs > slowest.ms) Object.assign(slowest, { seed, ms: r.runMs });
  }
  console.log(`replay: 20 seeds matched the CLI's trace hash; slowest re-run in the page: seed ${slowest.seed}, ${slowest.ms.toFixed(0)} ms`);
  await page.close();
});

test('npm run sim -- --seed S --html FILE: one self-contained file that re-runs the seed and shows the CLI\'s hash', async () => {
  const file = path.join(dir, 'seed5.html');
  const out: string[] = [];
  assert.equal(await simMain(['--seed', '5', '--nodes', '3', '--html', file], (l) => out.push(l)), 0, out.join('\n'));
  const hash = out.find((l) => l.startsWith('trace hash '))!.slice('trace hash '.length);
  assert.equal(hash, await cliHash(['--seed', '5', '--nodes', '3', '--jobs', '1']));
  const page = await suiteEnv.browser().newPage({ viewport: { width: 1280, height: 800 } });
  // Offline: nothing may be fetched from anywhere.
  const fetched: string[] = [];
  await page.route('**/*', async (route) => {
    const url = route.request().url();
    if (!url.startsWith('file://')) fetched.push(url);
    await (url.startsWith('file://') ? route.continue() : route.abort());
  });
  const r = await openReplay(page, `file://${file}`);
  assert.deepEqual(fetched, []);
  assert.equal(r.traceHash, hash);
  const shown = await page.locator('#hash').getAttribute('class');
  assert.equal(shown, 'same', 'the page says its hash is the CLI\'s');
  assert.match((await page.locator('#command').textContent()) ?? '', /--seed 5 --nodes 3/);
  await page.close();
});

test('replay page: a canary\'s failed check is highlighted and jumped to; a linearizability failure shows the part of the history', async () => {
  const page = await suiteEnv.browser().newPage({ viewport: { width: 1280, height: 800 } });
  const r = await openReplay(page, `file://${PAGE}?seed=23&canary=commit-previous-term`);
  const node = await runSimulation({ seed: 23, canary: 'commit-previous-term', hashTrace: true });
  assert.equal(r.traceHash, node.traceHash);
  assert.equal(r.failure?.check, 'commit-rule');
  assert.equal(await page.locator('#failure').isVisible(), true);
  assert.match((await page.locator('#failure').textContent()) ?? '', /FAILED commit-rule/);
  const t = await page.evaluate(() => window.tsraftReplay!.t());
  assert.ok(t <= r.failure.t && t >= r.failure.t - 1000, `the page jumped to just before the failure (${t} vs ${r.failure.t})`);
  // The trace beside it shows the lines of that moment.
  const current = (await page.locator('#trace-current').textContent()) ?? '';
  assert.ok(Math.abs(Number(current.split(' ')[0]) - t) < 1000, current);

  // Seeking back draws the same picture as getting there first did (no re-run: the recording is indexed by time).
  const picture = async (): Promise<string> => {
    await page.waitForTimeout(100);
    return page.evaluate(() => (document.getElementById('cluster') as unknown as { toDataURL(): string }).toDataURL());
  };
  const atFailure = await picture();
  await page.evaluate(() => window.tsraftReplay!.seek(200));
  assert.notEqual(await picture(), atFailure);
  await page.evaluate((x) => window.tsraftReplay!.seek(x), t);
  assert.equal(await picture(), atFailure, 'the same moment, drawn again after seeking back');

  const lin = await openReplay(page, `file://${PAGE}?seed=11&canary=read-without-readindex`);
  assert.equal(lin.failure?.check, 'linearizability');
  const text = (await page.locator('#failure').textContent()) ?? '';
  assert.match(text, /smallest non-linearizable part of the history/);
  assert.match(text, /no order places/);
  await page.close();
});

test('replay page: loads in under 2 s and plays a 60-second 5-node run at real speed at >= 30 frames per second', async () => {
  const file = path.join(dir, 'long.html');
  const run = { seed: 4, nodes: 5, profile: 'swarm', ops: 300, durationMs: 60_000 };
  const node = await runSimulation({ ...run, profile: 'swarm', hashTrace: true });
  writeFileSync(file, replayHtml({ ...run, cliHash: node.traceHash }));
  const page = await suiteEnv.browser().newPage({ viewport: { width: 1280, height: 800 } });
  const r = await openReplay(page, `file://${file}`);
  assert.equal(r.traceHash, node.traceHash);
  assert.ok(r.duration >= 60_000, `the run lasts ${r.duration} ms`);
  const playMs = Number(process.env['TSRAFT_REPLAY_PLAY_MS'] ?? 60_000);
  await page.evaluate(() => {
    window.tsraftReplay!.seek(0);
    window.tsraftReplay!.play(1);
  });
  const t0 = Date.now();
  while (Date.now() - t0 < playMs) await page.waitForTimeout(1000);
  const m = await page.evaluate(() => ({ samples: window.tsraftReplay!.fpsSamples, t: window.tsraftReplay!.t(), flights: window.tsraftReplay!.lastFlights }));
  const min = Math.min(...m.samples);
  const avg = m.samples.reduce((a: number, b: number) => a + b, 0) / m.samples.length;
  console.log(`replay: load ${r.loadMs.toFixed(0)} ms (the run in the page ${r.runMs.toFixed(0)} ms, ${(r.duration / 1000).toFixed(1)} s simulated, 5 nodes); played ${(m.t / 1000).toFixed(1)} s at 1x: ${m.samples.length} one-second fps samples, min ${min.toFixed(1)}, mean ${avg.toFixed(1)}`);
  assert.ok(r.loadMs < 2000, `loaded in ${r.loadMs} ms`);
  assert.ok(m.t >= (playMs / 1000 - 3) * 1000, `real speed: ${m.t} ms of the run played in ${playMs} ms`);
  assert.ok(m.samples.length >= playMs / 1000 - 2, `${m.samples.length} samples`);
  assert.ok(min >= 30, `frames per second dropped to ${min.toFixed(1)}`);
  if (process.env['TSRAFT_SCREENSHOTS'] === '1') {
    // Mid-run, paused where several messages are in flight.
    await page.evaluate(() => window.tsraftReplay!.pause());
    for (let at = 9000; at < 30_000; at += 11) {
      await page.evaluate((x) => window.tsraftReplay!.seek(x), at);
      await page.waitForTimeout(20);
      if ((await page.evaluate(() => window.tsraftReplay!.lastFlights)) >= 4) break;
    }
    mkdirSync(path.join(ROOT, 'docs/images'), { recursive: true });
    await page.screenshot({ path: path.join(ROOT, 'docs/images/replay.png') });
  }
  await page.close();
});
