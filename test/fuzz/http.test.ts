/**
 * Fuzzing the HTTP API (src/api/http.ts) on a real socket, in front of a real
 * one-node store (TsraftServer, FileStorage in a temporary directory): random
 * methods, request targets (`//[`, `%` garbage, unicode, very long), query
 * strings, headers and bodies, written by hand so that nothing a client
 * library would refuse is filtered out. Every answer must be a well-formed
 * HTTP response, with a JSON error body for 4xx/5xx from our handler; never a
 * 500 (client garbage is never our internal error); no error-level log line;
 * the server stays up; and the store's revision moves only for a valid write
 * that was applied (2xx, or the 404/412 of a delete or compare-and-swap that
 * went through Raft and found nothing to do), and a 2xx write stored exactly
 * the value sent.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { TsraftServer } from '../../src/server/server.js';
import { freePort, sleep } from '../process/harness.js';
import { captureLog, type CapturedLog } from '../transport/helpers.js';
import { checkAsyncProperty } from '../util/property.js';
import { fuzz } from './fuzz.js';

/**
 * Known bugs another helper of issue 11 is fixing in src/api/http.ts. Until
 * that work is merged, the fuzzer tolerates exactly these outcomes for exactly
 * these inputs (and counts them); when merging, empty this list: the fuzzer
 * then holds them to the same rules as everything else.
 */
/** Known bugs tolerated until fixed: each names the bug and matches its inputs. Empty: the http.ts fixes of issue 11 are merged. */
const KNOWN_UNTIL_MERGE: readonly { readonly name: string; readonly matches: (r: FuzzRequest, a: Answer) => boolean }[] = [];

function parsesAsPath(target: string): boolean {
  try {
    new URL(target, 'http://localhost');
    return true;
  } catch {
    return false;
  }
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
function isUtf8(b: Uint8Array): boolean {
  try {
    strictUtf8.decode(b);
    return true;
  } catch {
    return false;
  }
}

interface FuzzRequest {
  readonly method: string;
  readonly target: string;
  readonly headers: readonly (readonly [string, string])[];
  readonly body: Uint8Array;
}

interface Answer {
  /** 0: the connection closed without a response. */
  readonly status: number;
  readonly headers: ReadonlyMap<string, string>;
  readonly body: Buffer;
}

let root: string;
let server: TsraftServer;
let log: CapturedLog;
let port: number;

before(async () => {
  root = mkdtempSync(path.join(tmpdir(), 'tsraft-fuzz-http-'));
  log = captureLog();
  const members = [{ name: 'n1', raft: { host: '127.0.0.1', port: await freePort() } }];
  server = await TsraftServer.start(
    { name: 'n1', clusterId: 'fuzz-http', dataDir: path.join(root, 'n1'), listen: members[0]!.raft, api: { host: '127.0.0.1', port: 0 }, members, insecurePeers: true, heartbeatTicks: 5, electionTicks: 50 },
    { logger: log.logger },
  );
  port = Number(new URL(server.apiUrl).port);
  while (!server.node.isLeader()) await sleep(10);
});

after(async () => {
  await server.stop();
  rmSync(root, { recursive: true, force: true });
});

/** Writes the request by hand on a fresh connection and reads the whole answer (the server closes: `Connection: close`). */
async function send(r: FuzzRequest, timeoutMs = 5000): Promise<Answer> {
  const head =
    `${r.method} ${r.target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n` +
    r.headers.map(([k, v]) => `${k}: ${v}\r\n`).join('') +
    (r.body.length > 0 || r.method === 'PUT' || r.method === 'POST' ? `Content-Length: ${r.body.length}\r\n` : '') +
    '\r\n';
  const sock = net.connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  sock.on('data', (c: Buffer) => chunks.push(c));
  sock.on('error', () => {});
  const done = new Promise<boolean>((resolve) => {
    sock.once('close', () => resolve(true));
    setTimeout(() => resolve(false), timeoutMs).unref();
  });
  sock.write(Buffer.concat([Buffer.from(head, 'utf8'), r.body]));
  const closed = await done;
  sock.destroy();
  assert.ok(closed, `no complete answer within ${timeoutMs} ms: the server hung on ${r.method} ${r.target.slice(0, 80)}`);
  return parse(Buffer.concat(chunks), r.method === 'HEAD');
}

/** Parses one HTTP/1.1 response, asserting it is well formed. A HEAD answer has headers only. */
function parse(raw: Buffer, head = false): Answer {
  if (raw.length === 0) return { status: 0, headers: new Map(), body: raw };
  const end = raw.indexOf('\r\n\r\n');
  assert.ok(end > 0, `a response with a header section: ${JSON.stringify(raw.subarray(0, 200).toString('latin1'))}`);
  const [statusLine, ...lines] = raw.subarray(0, end).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.1 (\d{3}) [^\r\n]*$/.exec(statusLine!);
  assert.ok(m !== null, `a status line: ${JSON.stringify(statusLine)}`);
  const headers = new Map<string, string>();
  for (const l of lines) {
    const i = l.indexOf(':');
    assert.ok(i > 0, `a header line: ${JSON.stringify(l)}`);
    headers.set(l.slice(0, i).toLowerCase(), l.slice(i + 1).trim());
  }
  let body = raw.subarray(end + 4);
  const len = headers.get('content-length');
  if (head) {
    assert.equal(body.length, 0, 'a HEAD answer has no body');
  } else if (len !== undefined) {
    assert.equal(body.length, Number(len), 'the body is as long as Content-Length says');
  } else if (headers.get('transfer-encoding') === 'chunked') {
    body = dechunk(body);
  }
  return { status: Number(m[1]), headers, body };
}

function dechunk(b: Buffer): Buffer {
  const out: Buffer[] = [];
  let off = 0;
  for (;;) {
    const eol = b.indexOf('\r\n', off);
    assert.ok(eol >= 0, 'a chunk size line');
    const size = Number.parseInt(b.subarray(off, eol).toString('latin1'), 16);
    assert.ok(Number.isSafeInteger(size), 'a hexadecimal chunk size');
    if (size === 0) return Buffer.concat(out);
    out.push(b.subarray(eol + 2, eol + 2 + size));
    off = eol + 2 + size + 2;
  }
}

// ---- inputs ------------------------------------------------------------------------

const junkChars = ['%', '%z', '%zz', '%ff', '%FF%FE', '%00', '%2F', '%E2%82', '/', '//', '[', ']', '?', '#', '..', '.', '@', ':', '~', 'é', 'ß', '✓', '日本', '😀', '\u{10FFFF}', '"', "'", '<', '>', '{', '}', '|', '\\', '^', '`', 'a', 'k', '0'];
const junkArb = fc.array(fc.constantFrom(...junkChars), { maxLength: 12 }).map((a) => a.join(''));

const pathArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(fc.constantFrom('/v1/kv/', '/v1/kv/k/', '/v1/kv/fuzz-'), junkArb, fc.constantFrom('', '/append')).map(([a, b, c]) => a + b + c) },
  { weight: 3, arbitrary: fc.tuple(fc.constantFrom('/v1/kv', '/v1/status', '/healthz', '/metrics', '/v1/members', '/v1/members/zz', '/v1/members/zz/promote', '/v1/leader/transfer', '/v1/backup', '/', '/v2', ''), junkArb).map(([a, b]) => a + b) },
  { weight: 1, arbitrary: fc.constantFrom('//[', '//', '//[/v1/kv/x', '//host/v1/kv/x', '/%', '*', 'http://other/v1/kv/x', '/v1/kv/%ZZ', '/v1/kv/%') },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('/v1/kv/', '/'), fc.integer({ min: 1000, max: 20_000 }), fc.constantFrom('a', '%41', 'é', '/')).map(([a, n, c]) => a + c.repeat(n)) },
);

const queryArb: fc.Arbitrary<string> = fc.oneof(
  fc.constant(''),
  fc
    .array(fc.tuple(fc.constantFrom('consistency', 'limit', 'prefix', 'x', '', '%zz'), fc.oneof(fc.constantFrom('linearizable', 'stale', 'sometimes', '-1', '99999999999999999999', '1.5', '', '%'), junkArb)), { maxLength: 4 })
    .map((ps) => '?' + ps.map(([k, v]) => `${k}=${v}`).join('&')),
);

/** Header values: visible ASCII (what the HTTP parser lets through), sometimes long. */
const headerValueArb = fc.oneof(fc.string({ maxLength: 30 }).map((s) => s.replace(/[^\x21-\x7e ]/g, 'x').trim()), fc.constantFrom('1', '0', '-1', 'abc', '18446744073709551616', 'c'.repeat(300)));
const headerArb: fc.Arbitrary<readonly [string, string]> = fc.oneof(
  fc.tuple(fc.constantFrom('x-client-id', 'x-request-seq', 'content-type', 'accept', 'authorization', 'expect', 'x-forwarded-for'), headerValueArb),
  fc.tuple(fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/), headerValueArb),
);

const te = new TextEncoder();
const bodyArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.constant(new Uint8Array(0)),
  fc.record({ value: fc.string({ unit: 'binary', maxLength: 40 }) }, { requiredKeys: [] }).map((o) => te.encode(JSON.stringify(o))),
  fc.record({ value: fc.string({ maxLength: 20 }), prevValue: fc.oneof(fc.constant(null), fc.string({ maxLength: 5 }), fc.nat()) }).map((o) => te.encode(JSON.stringify(o))),
  fc.json({ maxDepth: 3 }).map((s) => te.encode(s)),
  fc.uint8Array({ maxLength: 200 }),
  // Invalid UTF-8 inside an otherwise valid JSON string.
  fc.uint8Array({ minLength: 1, maxLength: 4 }).map((bad) => new Uint8Array([...te.encode('{"value":"a'), ...bad.map((b) => b | 0x80), ...te.encode('"}')])),
  fc.string({ maxLength: 40 }).map((s) => te.encode(`{"value":${JSON.stringify(s)}, "extra": {"__proto__": {"polluted": true}}}`)),
);

const methodArb = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom('GET', 'PUT', 'POST', 'DELETE') },
  { weight: 2, arbitrary: fc.constantFrom('PATCH', 'HEAD', 'OPTIONS', 'TRACE', 'PROPFIND', 'get', 'CONNECT') },
  { weight: 1, arbitrary: fc.stringMatching(/^[A-Z!#$%&'*+.^_`|~-]{1,12}$/) },
);

/** Percent-encodes what a request target may not hold raw, so most inputs get past Node's parser to our handler. */
const escapeTarget = (t: string): string => t.replace(/[^A-Za-z0-9\-._~!$&'()*+,;=:@/?%[\]]/gu, (c) => encodeURIComponent(c));

const requestArb: fc.Arbitrary<FuzzRequest> = fc.record({
  method: methodArb,
  target: fc.tuple(pathArb, queryArb, fc.nat(9)).map(([p, q, raw]) => (raw === 0 ? p + q : escapeTarget(p + q))),
  headers: fc.array(headerArb, { maxLength: 4 }),
  body: bodyArb,
});

// ---- the property ------------------------------------------------------------------

/**
 * Whether `r` is a write to a key (what may move the revision if applied), as
 * the server reads its target: absolute-form targets (`http://host/v1/kv/x`)
 * are valid HTTP and name the path after the host.
 */
function isKeyWrite(r: FuzzRequest): boolean {
  return (r.method === 'PUT' || r.method === 'DELETE' || r.method === 'POST') && parsesAsPath(r.target) && new URL(r.target, 'http://localhost').pathname.startsWith('/v1/kv/');
}

test('fuzz http-api: random requests on a real socket get well-formed answers, never a 500, never an error log, and a refused request applies nothing', async (t) => {
  const known = new Map<string, number>();
  const statuses = new Map<number, number>();
  const tolerate = (r: FuzzRequest, a: Answer): boolean => {
    const k = KNOWN_UNTIL_MERGE.find((x) => x.matches(r, a));
    if (k !== undefined) known.set(k.name, (known.get(k.name) ?? 0) + 1);
    return k !== undefined;
  };
  await fuzz(t, 'http-api', () =>
    checkAsyncProperty(
      import.meta.url,
      fc.asyncProperty(requestArb, async (r) => {
        const before = server.kv.sm.revision;
        const errorsBefore = log.lines.filter((l) => (l['level'] as number) >= 50).length;
        const a = await send(r);
        statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
        const what = `${r.method} ${JSON.stringify(r.target.slice(0, 100))} with body ${JSON.stringify(Buffer.from(r.body).toString('latin1').slice(0, 100))}`;
        const isKnown = tolerate(r, a);
        if (a.status === 0) assert.fail(`${what}: the connection closed without an answer`);
        // A body that is not UTF-8 is refused, never stored changed.
        if (a.status >= 200 && a.status < 300 && (r.method === 'PUT' || r.method === 'POST')) assert.ok(isUtf8(r.body), `${what}: a body that is not UTF-8 was accepted`);
        if (a.status >= 400 && r.method !== 'HEAD') {
          assert.match(a.headers.get('content-type') ?? '', /^application\/json/, `${what}: a JSON error body`);
          const json = JSON.parse(a.body.toString('utf8')) as Record<string, unknown>;
          assert.ok(typeof json['error'] === 'string' && typeof json['message'] === 'string', `${what}: an error code and message, got ${a.body.toString('utf8')}`);
        }
        if (!isKnown) {
          assert.notEqual(a.status, 500, `${what}: 500 for client garbage (our bug): ${a.body.toString('utf8')}`);
          const errors = log.lines.filter((l) => (l['level'] as number) >= 50).slice(errorsBefore);
          assert.deepEqual(errors, [], `${what}: no error-level log line for client garbage`);
        }
        const after = server.kv.sm.revision;
        const applied = a.status === 200 || (a.status === 404 && r.method === 'DELETE') || (a.status === 412 && r.method === 'PUT');
        if (after !== before) assert.ok(isKeyWrite(r) && applied, `${what}: answered ${a.status} but the revision moved from ${before} to ${after}`);
        if (r.method === 'PUT' && a.status === 200 && !isKnown) {
          // The value stored is exactly the value sent.
          const sent = (JSON.parse(strictUtf8.decode(r.body)) as { value: string }).value;
          const key = decodeURIComponent(new URL(r.target, 'http://localhost').pathname.slice('/v1/kv/'.length));
          assert.equal((await server.kv.get(key, 'stale'))?.value, sent, `${what}: the stored value is the one sent`);
        }
        // Still up.
        const health = await send({ method: 'GET', target: '/healthz', headers: [], body: new Uint8Array(0) });
        assert.equal(health.status, 200, 'the server still answers');
      }),
      { numRuns: 1500 },
    ),
  );
  t.diagnostic(`fuzz http-api: answers ${JSON.stringify(Object.fromEntries([...statuses].sort((x, y) => x[0] - y[0])))}`);
  for (const [name, n] of known) t.diagnostic(`fuzz http-api: KNOWN_UNTIL_MERGE '${name}': ${n} inputs`);
});
