/**
 * The live dashboard in Chromium against three real `tsraft serve` processes:
 * it shows the three nodes and exactly one leader, and after the leader is
 * SIGKILLed it shows that node down and a new leader within 5 s. With
 * TSRAFT_SCREENSHOTS=1 it writes docs/images/dashboard.png.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { ProcessCluster, sleep } from '../process/harness.js';
import { launchBrowser } from './browser.js';

const SCREENSHOT = fileURLToPath(new URL('../../../docs/images/dashboard.png', import.meta.url));

let cluster: ProcessCluster;
let browser: Browser;

before(async () => {
  cluster = await ProcessCluster.start(3);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await cluster?.destroy();
});

/** What the page shows, read from its data- attributes (an expression evaluated in the page: the tests have no DOM types). */
interface Shown {
  readonly cards: [string, string, boolean][];
  readonly leader: string;
  readonly commit: Record<string, number>;
  readonly cells: number;
  readonly edges: string[];
  readonly timeline: string;
}
const SHOWN = `(() => {
  const q = (s) => [...document.querySelectorAll(s)];
  return {
    cards: q('[data-node]').map((e) => [e.dataset.node, e.dataset.role, e.dataset.up === 'true']),
    leader: document.querySelector('[data-testid="summary"]')?.dataset.leader ?? '',
    commit: Object.fromEntries(q('[data-strip]').map((e) => [e.dataset.strip, Number(e.dataset.commit)])),
    cells: q('[data-strip] .cell[data-term]').length,
    edges: q('[data-edge]').map((e) => e.dataset.edge).sort(),
    timeline: document.querySelector('[data-testid="timeline"]')?.textContent ?? '',
  };
})()`;

function shown(page: Page): Promise<Shown> {
  return page.evaluate<Shown>(SHOWN);
}

/** Polls the page every 50 ms until `ok` holds; the last reading otherwise, in the error. */
async function until(page: Page, what: string, ok: (s: Shown) => boolean, timeoutMs: number): Promise<Shown> {
  const deadline = Date.now() + timeoutMs;
  let s = await shown(page);
  while (!ok(s)) {
    if (Date.now() > deadline) throw new Error(`the page did not show ${what} within ${timeoutMs} ms: ${JSON.stringify(s)}`);
    await sleep(50);
    s = await shown(page);
  }
  return s;
}

const upLeaders = (s: Shown): string[] => s.cards.filter(([, role, up]) => up && role === 'leader').map(([n]) => n);

async function writes(url: string, n: number, prefix: string): Promise<void> {
  for (let i = 0; i < n; i++) {
    const r = await fetch(`${url}/v1/kv/${prefix}${i}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ value: `v${i}` }) });
    assert.equal(r.status, 200, await r.text());
  }
}

test('the dashboard shows three nodes and one leader, then the leader down and a new one within 5 s of its SIGKILL', async () => {
  const shots = process.env['TSRAFT_SCREENSHOTS'] === '1';
  let li = await cluster.waitLeader();
  await writes(cluster.nodes[li]!.url, 25, 'warm');
  if (shots) {
    // For the picture: a second term in the log strips (a leadership transfer), then more writes.
    const r = await fetch(`${cluster.nodes[li]!.url}/v1/leader/transfer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(r.status, 200, await r.text());
    li = await cluster.waitLeader();
    await writes(cluster.nodes[li]!.url, 10, 'after-transfer');
  }
  const leaderName = cluster.nodes[li]!.name;
  const page = await browser.newPage({ viewport: { width: 1320, height: 1280 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  // Loaded from the leader: the page must learn the others from its stream and survive the loss of its own origin.
  const res = await page.goto(`${cluster.nodes[li]!.url}/`);
  assert.equal(res?.status(), 200);
  let s = await until(page, 'three nodes up', (x) => x.cards.filter(([, , up]) => up).length === 3, 10_000);
  assert.deepEqual(s.cards.map(([n]) => n).sort(), ['n1', 'n2', 'n3']);
  assert.deepEqual(upLeaders(s), [leaderName]);
  assert.equal(s.leader, leaderName);
  // Each node's log strip ends at the writes (the bootstrap entry and 25 writes); messages flow between the leader and each follower both ways.
  const followers = ['n1', 'n2', 'n3'].filter((n) => n !== leaderName);
  const edges = followers.flatMap((f) => [`${leaderName}>${f}`, `${f}>${leaderName}`]).sort();
  s = await until(page, 'the writes committed everywhere and the leader-follower edges', (x) => Object.values(x.commit).length === 3 && Object.values(x.commit).every((c) => c >= (shots ? 36 : 26)) && x.edges.join() === edges.join(), 5000);
  assert.ok(s.cells >= 3 * 25, `${s.cells} cells`);

  if (shots) {
    // Charts with something in them: writes through every node for a few seconds, still going during the picture.
    let writing = true;
    const load = (async () => {
      for (let k = 0; writing; k++) await writes(cluster.nodes[k % 3]!.url, 3, `shot${k}-`);
    })();
    await page.waitForTimeout(10_000);
    mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    writing = false;
    await load;
  }

  const killedAt = Date.now();
  await cluster.kill(li);
  s = await until(
    page,
    'the old leader down and a new leader',
    (x) => x.cards.some(([n, , up]) => n === leaderName && !up) && upLeaders(x).length === 1 && upLeaders(x)[0] !== leaderName,
    5000,
  );
  const took = Date.now() - killedAt;
  const newLeader = upLeaders(s)[0]!;
  assert.ok(took < 5000, `took ${took} ms`);
  // The timeline names the new leader and the node that stopped answering.
  s = await until(page, 'the timeline', (x) => x.timeline.includes(`${newLeader} leads in term`), 2000);
  assert.match(s.timeline, new RegExp(`${leaderName} stopped answering`));
  assert.deepEqual(errors, []);
  console.log(`# dashboard: ${leaderName} SIGKILLed, shown down with ${newLeader} leading after ${took} ms`);

  // The node comes back: its card turns up again.
  cluster.spawn(li);
  await until(page, 'the old leader up again', (x) => x.cards.some(([n, , up]) => n === leaderName && up), 15_000);

  // A follower is stopped and removed from the cluster: its card goes and the page stops calling it.
  const li2 = await cluster.waitLeader();
  const gone = [0, 1, 2].find((k) => k !== li2)!;
  const goneName = cluster.nodes[gone]!.name;
  await cluster.kill(gone);
  await until(page, `${goneName} down`, (x) => x.cards.some(([n, , up]) => n === goneName && !up), 5000);
  const del = await fetch(`${cluster.nodes[li2]!.url}/v1/members/${goneName}`, { method: 'DELETE' });
  assert.equal(del.status, 200, await del.text());
  s = await until(page, `${goneName}'s card gone`, (x) => !x.cards.some(([n]) => n === goneName), 5000);
  assert.equal(s.cards.length, 2);
  assert.match(s.timeline, new RegExp(`${goneName} is no longer a member`));
  assert.deepEqual(errors, []);
  await page.close();
});
