/**
 * The burst control of src/api/accept-burst.ts: with turns and a clock of the
 * test's own, which sockets are paused and when they are read again; then a
 * real HTTP server taking a burst of connections while established clients
 * keep sending; and the count a node exports in /metrics.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { AcceptBurst, type PausableSocket } from '../../src/api/accept-burst.js';
import { ConnectionGate } from '../../src/api/limits.js';
import { ensureClusterCerts } from '../../src/security/cluster-certs.js';
import { RateLimitedLog } from '../../src/util/rate-limit.js';
import { silentLogger } from '../../src/util/log.js';
import { captureLogger, rawExchange, request, startOneNode } from './raw-http.js';

class FakeSocket implements PausableSocket {
  paused = false;
  destroyed = false;
  private onClose: (() => void) | undefined;
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
  }
  isPaused(): boolean {
    return this.paused;
  }
  once(_event: 'close', listener: () => void): void {
    this.onClose = listener;
  }
  close(): void {
    this.destroyed = true;
    this.onClose?.();
  }
}

/** An AcceptBurst whose turns end when the test says so, on a clock the test moves. */
function harness(maxPauseMs = 100): { burst: AcceptBurst; endTurn: () => void; clock: { t: number } } {
  const clock = { t: 0 };
  let pending: (() => void)[] = [];
  const burst = new AcceptBurst({ maxPauseMs, now: () => clock.t, endOfTurn: (f) => pending.push(f) });
  const endTurn = (): void => {
    const run = pending;
    pending = [];
    for (const f of run) f();
  };
  return { burst, endTurn, clock };
}

test('one new connection pauses nobody', () => {
  const { burst, endTurn } = harness();
  const a = new FakeSocket();
  burst.served(a);
  burst.accepted();
  endTurn();
  assert.equal(a.paused, false);
  endTurn(); // a turn with no accept
  assert.equal(a.paused, false);
  assert.deepEqual(burst.stats, { bursts: 0, paused: 0 });
});

test('connections accepted turn after turn pause the sockets that have sent a request, until a turn accepts none', () => {
  const { burst, endTurn } = harness();
  const established = [new FakeSocket(), new FakeSocket()];
  for (const s of established) burst.served(s);
  burst.accepted();
  endTurn();
  assert.ok(established.every((s) => !s.paused), 'not after the first turn');
  burst.accepted();
  endTurn();
  assert.ok(established.every((s) => s.paused), 'paused after the second turn in a row');
  assert.deepEqual(burst.stats, { bursts: 1, paused: 2 });
  // A connection accepted during the burst is read for its first request, then paused at the end of the turn it sent it in.
  const newcomer = new FakeSocket();
  burst.accepted();
  endTurn();
  assert.equal(newcomer.paused, false);
  burst.served(newcomer);
  burst.accepted();
  endTurn();
  assert.equal(newcomer.paused, true);
  assert.equal(burst.stats.paused, 3);
  // The queue is empty: everybody is read again, and the same burst is not counted twice.
  endTurn();
  assert.ok([...established, newcomer].every((s) => !s.paused));
  assert.deepEqual(burst.stats, { bursts: 1, paused: 0 });
});

test('a pause lasts at most maxPauseMs, and no new one starts for as long after it', () => {
  const { burst, endTurn, clock } = harness(100);
  const s = new FakeSocket();
  burst.served(s);
  const acceptTurn = (): void => {
    burst.accepted();
    endTurn();
  };
  acceptTurn();
  acceptTurn();
  assert.equal(s.paused, true);
  clock.t = 99;
  acceptTurn();
  assert.equal(s.paused, true, 'still within the bound');
  clock.t = 100;
  acceptTurn();
  assert.equal(s.paused, false, 'the bound is reached: read again though connections keep coming');
  clock.t = 150;
  acceptTurn();
  assert.equal(s.paused, false, 'no new pause before 200');
  clock.t = 200;
  acceptTurn();
  assert.equal(s.paused, true, 'a new burst may pause again');
  assert.equal(burst.stats.bursts, 2);
});

test('a socket paused by someone else is left to them, and a closed one is not resumed', () => {
  const { burst, endTurn } = harness();
  const theirs = new FakeSocket();
  const closing = new FakeSocket();
  burst.served(theirs);
  burst.served(closing);
  theirs.pause();
  burst.accepted();
  endTurn();
  burst.accepted();
  endTurn();
  assert.equal(closing.paused, true);
  closing.close();
  endTurn();
  assert.equal(theirs.paused, true, 'still paused: not ours to resume');
  assert.equal(closing.paused, true, 'a closed socket is not resumed');
  assert.equal(burst.stats.paused, 0);
});

/** A server (HTTP or HTTPS) behind a gate, eight busy keep-alive clients, then 64 new connections at once. */
async function burstAgainst(server: http.Server | https.Server, gate: ConnectionGate, get: (port: number, agent: http.Agent | false) => Promise<number>, agent: http.Agent): Promise<void> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  try {
    // Eight established keep-alive clients, each sending request after request.
    let stop = false;
    let established = 0;
    const clients = Array.from({ length: 8 }, async () => {
      while (!stop) {
        assert.equal(await get(port, agent), 200);
        established++;
      }
    });
    while (established < 16) await new Promise((r) => setTimeout(r, 5));
    // 64 connections opened at once, one request each: libuv accepts them one turn at a time.
    const burst = await Promise.all(Array.from({ length: 64 }, () => get(port, false)));
    assert.ok(burst.every((s) => s === 200));
    assert.ok(gate.stats.acceptBursts >= 1, `a burst was seen (${gate.stats.acceptBursts})`);
    // The established clients are read again after it.
    const before = established;
    while (established < before + 16) await new Promise((r) => setTimeout(r, 5));
    stop = true;
    await Promise.all(clients);
  } finally {
    agent.destroy();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
}

const log = (): RateLimitedLog => new RateLimitedLog(silentLogger(), { intervalMs: 10_000, burst: 5 });

test('an HTTP server under a burst of connections answers every request and reads its established clients again', async () => {
  // As the API's handler does: every request tells the gate its socket is established.
  const server = http.createServer((req, res) => {
    gate.served(req.socket);
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  const gate = new ConnectionGate(server, 1000, log());
  const get = (port: number, agent: http.Agent | false): Promise<number> =>
    new Promise((resolve, reject) => {
      http
        .get({ port, host: '127.0.0.1', path: '/', agent }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        })
        .on('error', reject);
    });
  await burstAgainst(server, gate, get, new http.Agent({ keepAlive: true, maxSockets: 8 }));
});

test('an HTTPS server does the same: the TLS sockets of established clients are paused and resumed', async () => {
  const root = mkdtempSync(path.join(tmpdir(), 'tsraft-burst-'));
  try {
    const certs = await ensureClusterCerts(path.join(root, 'pki'), ['n1']);
    const dir = certs.tlsDir('n1');
    const server = https.createServer({ cert: readFileSync(path.join(dir, 'node.pem')), key: readFileSync(path.join(dir, 'node.key')) }, (req, res) => {
      gate.served(req.socket);
      req.resume();
      req.on('end', () => res.end('ok'));
    });
    const gate = new ConnectionGate(server, 1000, log());
    const ca = readFileSync(path.join(dir, 'ca.pem'));
    const get = (port: number, agent: http.Agent | false): Promise<number> =>
      new Promise((resolve, reject) => {
        https
          .get({ port, host: '127.0.0.1', servername: 'n1', path: '/', ca, agent: agent as https.Agent | false, checkServerIdentity: () => undefined }, (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          })
          .on('error', reject);
      });
    await burstAgainst(server, gate, get, new https.Agent({ keepAlive: true, maxSockets: 8 }));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a node counts its accept bursts in /metrics (tsraft_api_accept_bursts_total)', async () => {
  const node = await startOneNode({}, captureLogger().logger);
  const bursts = async (): Promise<number> => {
    const m = await rawExchange(node.port, request('GET', '/metrics'), { expect: 1 });
    const line = /^tsraft_api_accept_bursts_total\{node="n1"\} (\d+)$/m.exec(m.responses[0]!.body);
    assert.ok(line !== null, 'the metric is exported');
    assert.match(m.responses[0]!.body, /^# TYPE tsraft_api_accept_bursts_total counter$/m);
    return Number(line[1]);
  };
  try {
    // Connections one at a time, each answered before the next: no burst.
    for (let i = 0; i < 5; i++) assert.equal((await rawExchange(node.port, request('GET', '/healthz'), { expect: 1 })).responses[0]?.status, 200);
    assert.equal(await bursts(), 0);
    // 64 at once: libuv accepts one per turn, so they arrive in consecutive turns.
    const crowd = await Promise.all(Array.from({ length: 64 }, () => rawExchange(node.port, request('GET', '/healthz'), { expect: 1, timeoutMs: 5_000 })));
    assert.ok(crowd.every((x) => x.responses[0]?.status === 200), 'every connection of the crowd is answered');
    assert.ok((await bursts()) >= 1, 'the crowd was counted as a burst');
  } finally {
    await node.close();
  }
});
