/**
 * `npm run bench:budget`: where the time of one write and one read goes
 * (docs/PERFORMANCE.md). Each stage of the path is measured on its own, on
 * this machine, one at a time (no concurrency: this is the latency budget of a
 * single request, not a throughput figure):
 *  - HTTP: a keep-alive request/response over loopback with node:http (the
 *    client's half included), body of a 256-byte PUT;
 *  - request work: JSON parse of the body, validation and command encoding,
 *    the proposal envelope, and the JSON of the answer;
 *  - core: one proposal through three pure Raft cores (leader and followers:
 *    propose, Ready, AppendEntries, answers, commit, advance);
 *  - codec: encoding and decoding the AppendEntries of one entry and its answer;
 *  - peer round trip: a 400-byte frame and a 60-byte answer between two sockets
 *    of this process over mutual TLS 1.3 (the peers' default), and over plain TCP;
 *  - WAL: one entry appended and fdatasynced by FileStorage (the leader's and
 *    each follower's durable write);
 *  - apply: the KV state machine applying the put; a get from it.
 * Then the same write and read end to end against a 3-node cluster (real
 * processes, fsync, peer TLS) with one client, to show what the stages add up to.
 * BENCH_SECONDS sets the time per stage (default 2).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, createServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { connect as tlsConnect, createServer as tlsServer, type TLSSocket } from 'node:tls';
import { createServer as netServer, connect as netConnect, type Socket } from 'node:net';
import { EntryType, MessageType, type Message } from '../src/core/types.js';
import { encodeCommand, validateOp } from '../src/kv/commands.js';
import { KvStateMachine } from '../src/kv/state-machine.js';
import { createCa, issueCertificate } from '../src/security/certs.js';
import { FileStorage } from '../src/storage/file-storage.js';
import { decode, encode } from '../src/util/codec.js';
import { load, startCluster } from './cluster.js';
import { pureCores } from './pure-cores.js';

const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 2);
const VALUE = 'v'.repeat(256);
const BODY = JSON.stringify({ value: VALUE });

interface Stage {
  readonly stage: string;
  /** Median microseconds per operation. */
  readonly p50us: number;
  readonly p99us: number;
  readonly samples: number;
}

function summarize(stage: string, samplesMs: number[]): Stage {
  samplesMs.sort((a, b) => a - b);
  const at = (p: number): number => samplesMs[Math.min(samplesMs.length - 1, Math.floor(p * samplesMs.length))]! * 1000;
  return { stage, p50us: at(0.5), p99us: at(0.99), samples: samplesMs.length };
}

/** Times `fn` repeatedly for SECONDS; for sub-microsecond work, each sample is a batch of `inner` calls. */
async function measure(stage: string, fn: () => unknown, inner = 1): Promise<Stage> {
  const samples: number[] = [];
  const deadline = performance.now() + SECONDS * 1000;
  while (performance.now() < deadline) {
    const t = performance.now();
    for (let i = 0; i < inner; i++) {
      const r = fn();
      if (r instanceof Promise) await r;
    }
    samples.push((performance.now() - t) / inner);
  }
  return summarize(stage, samples);
}

async function httpRoundTrip(): Promise<Stage> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = '{"revision":1}';
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
      res.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const once = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, method: 'PUT', path: '/v1/kv/key000001', agent, headers: { 'content-type': 'application/json', 'content-length': BODY.length } }, (res) => {
        res.resume();
        res.on('end', resolve);
      });
      req.on('error', reject);
      req.end(BODY);
    });
  for (let i = 0; i < 200; i++) await once();
  const s = await measure('HTTP round trip on loopback (node:http, keep-alive)', once);
  agent.destroy();
  await new Promise<void>((r) => server.close(() => r()));
  return s;
}

function requestWork(): Promise<Stage> {
  let n = 0;
  return measure(
    'request work: JSON body, validation, command encoding, answer JSON',
    () => {
      const body = JSON.parse(BODY) as { value: unknown };
      const op = validateOp({ op: 'put', key: `key${n++ % 100000}`, value: body.value });
      const cmd = encodeCommand({ ...op, time: 1, quota: undefined });
      return JSON.stringify({ revision: cmd.length, op: 'put' });
    },
    200,
  );
}

function coreRound(): Promise<Stage> {
  const { leader, applied, pump } = pureCores(1);
  const data = encodeCommand({ op: 'put', key: 'key000001', value: VALUE, time: 1 });
  return measure(
    'core: one proposal through 3 Raft cores to commit',
    () => {
      const at = leader.propose(data)!.index;
      while (applied[0]! < at) pump();
    },
    50,
  );
}

function codec(): Promise<Stage> {
  const data = encodeCommand({ op: 'put', key: 'key000001', value: VALUE, time: 1 });
  const app: Message = { type: MessageType.App, from: 0, to: 1, term: 3, prevIndex: 41, prevTerm: 3, commit: 40, entries: [{ index: 42, term: 3, type: EntryType.Normal, data }] };
  const resp: Message = { type: MessageType.AppResp, from: 1, to: 0, term: 3, success: true, index: 42, hintTerm: 0, hintIndex: 0 };
  return measure(
    'codec: AppendEntries (1 entry) and its answer, encoded and decoded',
    () => {
      decode(encode(app));
      return decode(encode(resp));
    },
    200,
  );
}

interface SocketPair {
  readonly client: TLSSocket | Socket;
  close(): void;
}

/** A listening server that answers every chunk with `answer`, and a client connected to it. */
async function tlsPair(dir: string, answer: Uint8Array): Promise<SocketPair> {
  await createCa(path.join(dir, 'ca'));
  const a = await issueCertificate({ caDir: path.join(dir, 'ca'), name: 'a', outDir: path.join(dir, 'a') });
  const b = await issueCertificate({ caDir: path.join(dir, 'ca'), name: 'b', outDir: path.join(dir, 'b') });
  const opts = (c: typeof a) => ({ cert: readFileSync(c.certFile), key: readFileSync(c.keyFile), ca: readFileSync(c.caFile), minVersion: 'TLSv1.3' as const });
  const server = tlsServer({ ...opts(a), requestCert: true, rejectUnauthorized: true }, (s) => {
    s.setNoDelay(true);
    s.on('data', () => s.write(answer));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const client = tlsConnect({ ...opts(b), host: '127.0.0.1', port, checkServerIdentity: () => undefined });
  await new Promise<void>((r) => client.once('secureConnect', r));
  return { client, close: () => (client.destroy(), server.close()) };
}

async function tcpPair(answer: Uint8Array): Promise<SocketPair> {
  const server = netServer((s) => {
    s.setNoDelay(true);
    s.on('data', () => s.write(answer));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const client = netConnect({ host: '127.0.0.1', port });
  await new Promise<void>((r) => client.once('connect', r));
  return { client, close: () => (client.destroy(), server.close()) };
}

async function peerRoundTrip(tls: boolean): Promise<Stage> {
  const dir = mkdtempSync(path.join(tmpdir(), 'tsraft-budget-'));
  const frame = Buffer.alloc(400, 1);
  const answer = Buffer.alloc(60, 2);
  const pair = tls ? await tlsPair(dir, answer) : await tcpPair(answer);
  try {
    pair.client.setNoDelay(true);
    let waiting: (() => void) | null = null;
    pair.client.on('data', () => waiting?.());
    const once = (): Promise<void> =>
      new Promise((resolve) => {
        waiting = resolve;
        pair.client.write(frame);
      });
    for (let i = 0; i < 200; i++) await once();
    return await measure(`peer round trip on loopback, ${tls ? 'mutual TLS 1.3' : 'plain TCP'} (400-byte frame, 60-byte answer)`, once);
  } finally {
    pair.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function walSync(): Promise<Stage> {
  const dir = mkdtempSync(path.join(tmpdir(), 'tsraft-budget-wal-'));
  const s = await FileStorage.open(dir, { segmentBytes: 256 << 20 });
  const data = encodeCommand({ op: 'put', key: 'key000001', value: VALUE, time: 1 });
  let index = 0;
  try {
    return await measure('WAL: one entry appended and fdatasynced (FileStorage)', () => s.write({ entries: [{ index: ++index, term: 1, type: EntryType.Normal, data }], sync: true }));
  } finally {
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function applyAndGet(): Promise<Stage[]> {
  const sm = new KvStateMachine();
  const cmds = Array.from({ length: 1000 }, (_, i) => encodeCommand({ op: 'put', key: `key${String(i * 97).padStart(6, '0')}`, value: VALUE, time: 1 }));
  for (let i = 0; i < 100_000; i++) sm.apply(encodeCommand({ op: 'put', key: `key${String(i).padStart(6, '0')}`, value: VALUE, time: 1 }), { index: i + 1, term: 1 });
  let index = 100_000;
  const apply = await measure('apply: the KV state machine applies a put (100,000 keys)', () => sm.apply(cmds[index % 1000]!, { index: ++index, term: 1 }), 200);
  let k = 0;
  const get = await measure('read: a get from the KV state machine', () => sm.get(`key${String(k++ % 100000).padStart(6, '0')}`), 200);
  return [apply, get];
}

const stages: Stage[] = [];
const show = (s: Stage): void => {
  stages.push(s);
  console.log(`${s.p50us.toFixed(1).padStart(9)} µs p50 ${s.p99us.toFixed(1).padStart(9)} µs p99  ${s.stage}`);
};
console.log(`bench:budget: each stage alone, ${SECONDS} s each, medians in microseconds`);
show(await httpRoundTrip());
show(await requestWork());
show(await coreRound());
show(await codec());
show(await peerRoundTrip(true));
show(await peerRoundTrip(false));
show(await walSync());
for (const s of await applyAndGet()) show(s);

console.log('end to end: a 3-node cluster (processes, fsync, peer TLS), one client, 256-byte values');
const c = await startCluster({ peerTls: true });
let e2e: { write: Awaited<ReturnType<typeof load>>; read: Awaited<ReturnType<typeof load>> };
try {
  await load('write', 64, c.leaderPort, 3);
  const write = await load('write', 1, c.leaderPort, Math.max(3, SECONDS * 2));
  const read = await load('read', 1, c.leaderPort, Math.max(3, SECONDS * 2));
  e2e = { write, read };
} finally {
  await c.stop();
}
console.log(`${(e2e.write.p50ms * 1000).toFixed(1).padStart(9)} µs p50 ${(e2e.write.p99ms * 1000).toFixed(1).padStart(9)} µs p99  end to end: write (1 client)`);
console.log(`${(e2e.read.p50ms * 1000).toFixed(1).padStart(9)} µs p50 ${(e2e.read.p99ms * 1000).toFixed(1).padStart(9)} µs p99  end to end: linearizable read (1 client)`);

mkdirSync('bench/results', { recursive: true });
const file = 'bench/results/budget.json';
writeFileSync(file, JSON.stringify({ bench: 'budget', date: new Date().toISOString(), node: process.version, seconds: SECONDS, stages, endToEnd: e2e }, null, 2) + '\n');
console.log(`results written to ${file}`);
