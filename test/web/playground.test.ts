/**
 * The playground page (dist/src/web/playground.html) in headless Chromium:
 * real tsraft nodes running in the page elect a leader, survive the crash of
 * the leader (clicked in the page), commit a write sent from the form and
 * read it back; the page's session link replays the session to the same run.
 * With TSRAFT_SCREENSHOTS=1 it writes docs/images/playground.png.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import type { ClientOpView, PlaygroundNodeView } from '../../src/sim/playground.js';
import type { PlaygroundPageApi } from '../../src/web/playground/handle.js';
import { launchBrowser } from './browser.js';

// The page's global, as seen by the functions page.evaluate runs there.
declare const window: { tsraftPlayground: PlaygroundPageApi };

const PAGE = fileURLToPath(new URL('../../src/web/playground.html', import.meta.url));
const SCREENSHOT = fileURLToPath(new URL('../../../docs/images/playground.png', import.meta.url));

let browser: Browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser.close();
});

/** The page's test API, called in the page. */
const api = {
  leader: (p: Page): Promise<number | null> => p.evaluate(() => window.tsraftPlayground.leader()),
  nodes: (p: Page): Promise<PlaygroundNodeView[]> => p.evaluate(() => window.tsraftPlayground.nodes()),
  ops: (p: Page): Promise<ClientOpView[]> => p.evaluate(() => [...window.tsraftPlayground.clientOps()]),
};

async function open(hash: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1320, height: 940 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`file://${PAGE}#${hash}`);
  await page.waitForFunction(() => window.tsraftPlayground?.ready() === true, null, { timeout: 30_000 });
  assert.deepEqual(errors, []);
  return page;
}

test('the playground elects a leader, survives the crash of the leader, commits a write and reads it back; its link replays the session', async (t) => {
  const page = await open('s=7&n=5');
  await page.evaluate(() => window.tsraftPlayground.setSpeed(3));
  await page.waitForFunction(() => window.tsraftPlayground.leader() !== null, null, { timeout: 20_000 });
  const nodes = await api.nodes(page);
  assert.equal(nodes.length, 5);
  const first = (await api.leader(page))!;
  assert.equal(nodes.filter((n) => n.role === 'leader').length, 1, 'one leader');

  // Crash it the way a person does: click the node, then Crash in its menu.
  await page.click(`[data-testid="node-${first}"]`);
  await page.click('[data-testid="menu-crash"]');
  await page.waitForFunction((old) => window.tsraftPlayground.nodes()[old]?.status === 'down', first, { timeout: 10_000 });
  await page.waitForFunction((old) => ![null, old].includes(window.tsraftPlayground.leader()), first, { timeout: 20_000 });
  const second = (await api.leader(page))!;
  const after = await api.nodes(page);
  assert.ok(after[second]!.term! > nodes[first]!.term!, 'the new leader has a higher term');

  // A write from the form, through the leader, then a read of it.
  await page.fill('#key', 'color');
  await page.fill('#value', 'teal');
  await page.selectOption('#target', 'leader');
  await page.click('#put');
  await page.waitForFunction(() => window.tsraftPlayground.clientOps()[0]?.status === 'ok', null, { timeout: 20_000 });
  await page.click('#get');
  await page.waitForFunction(() => ['ok', 'error', 'lost'].includes(window.tsraftPlayground.clientOps()[1]?.status ?? ''), null, { timeout: 20_000 });
  const [put, get] = await api.ops(page);
  assert.equal(put!.status, 'ok');
  assert.ok(Number(put!.result) > 0, 'the put got a revision');
  assert.deepEqual([get!.status, get!.result], ['ok', 'teal']);
  assert.equal(await page.locator('#ops li[data-status="ok"]').count(), 2, 'both shown as ok');
  // Some more: a restart, a cut link, then stop and take the link.
  await page.evaluate((old) => window.tsraftPlayground.apply({ kind: 'restart', node: old }), first);
  await page.click(`[data-link="${Math.min(second, (second + 1) % 5)}-${Math.max(second, (second + 1) % 5)}"]`, { force: true });
  await page.waitForFunction(() => window.tsraftPlayground.now() > 0 && window.tsraftPlayground.link().includes('~x~'), null, { timeout: 10_000 });
  await page.waitForTimeout(300);
  await page.evaluate(() => window.tsraftPlayground.setPaused(true));
  await page.waitForTimeout(200);
  const link = await page.evaluate(() => window.tsraftPlayground.link());
  const fingerprint = await page.evaluate(() => window.tsraftPlayground.fingerprint());
  const now = await page.evaluate(() => window.tsraftPlayground.now());
  assert.equal(await page.evaluate(() => window.tsraftPlayground.failure()), null);
  assert.match(link, /^s=7&n=5&t=[\d_]+&a=\S+~c~\d\.\S+~w~L~color~teal\.\S+~g~L~color\.\S+~r~\d\.\S+~x~\d~\d~b$/);

  // The link, opened in another page, replays the same run (the fingerprint hashes every trace line).
  const again = await open(link);
  const replayed = await again.evaluate(() => window.tsraftPlayground.replayed());
  assert.deepEqual(replayed, { fingerprint, now });
  const ops = await api.ops(again);
  assert.deepEqual(
    ops.map((o) => [o.op, o.status, o.result]),
    [
      ['put', 'ok', put!.result],
      ['get', 'ok', 'teal'],
    ],
  );
  const fps = await again.evaluate(async () => {
    window.tsraftPlayground.setSpeed(1);
    await new Promise((r) => setTimeout(r, 2000));
    return window.tsraftPlayground.fps();
  });
  t.diagnostic(`frames per second, 5 nodes at 1x: ${fps}`);
  assert.ok(fps >= 20, `the page keeps drawing (${fps} fps)`);
  await again.close();

  if (process.env['TSRAFT_SCREENSHOTS'] === '1') {
    await page.evaluate(() => {
      window.tsraftPlayground.setSpeed(0.1);
      window.tsraftPlayground.setPaused(false);
    });
    await page.evaluate(() => window.tsraftPlayground.apply({ kind: 'put', key: 'color', value: 'amber', target: 'leader' }));
    await page.waitForTimeout(450);
    mkdirSync(fileURLToPath(new URL('../../../docs/images/', import.meta.url)), { recursive: true });
    await page.screenshot({ path: SCREENSHOT });
    t.diagnostic(`wrote ${SCREENSHOT}`);
  }
  await page.close();
});

test('the playground with 7 nodes at 10x speed keeps at least 30 frames per second', async (t) => {
  const page = await open('s=3&n=7');
  const fps = await page.evaluate(async () => {
    window.tsraftPlayground.setSpeed(10);
    await new Promise((r) => setTimeout(r, 1000));
    await window.tsraftPlayground.apply({ kind: 'put', key: 'a', value: '1', target: 'leader' });
    await new Promise((r) => setTimeout(r, 2000));
    return window.tsraftPlayground.fps();
  });
  const now = await page.evaluate(() => window.tsraftPlayground.now());
  t.diagnostic(`7 nodes at 10x: ${fps} fps, ${(now / 1000).toFixed(1)} virtual s in ~3 real s`);
  assert.ok(fps >= 30, `${fps} fps`);
  assert.equal(await page.evaluate(() => window.tsraftPlayground.failure()), null);
  await page.close();
});
