/**
 * The probe list of issue 11 as a table: malformed and hostile HTTP requests,
 * written raw over a socket to a real node. For each: the exact status and
 * error code, the node still serves a valid request afterwards, a refused
 * write moved no index, and nothing was logged at error level.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { TsraftServer } from '../../src/server/server.js';
import { ERROR_LEVEL, captureLogger, rawExchange, request, type RawResponse } from './raw-http.js';
import { startOneNode } from './raw-http.js';

interface Probe {
  readonly name: string;
  readonly raw: string | Buffer;
  /** The status of each response expected, in order (several for pipelined requests). */
  readonly status: number | readonly number[];
  /** The `error` code of the (first) JSON answer, for 4xx and 5xx. */
  readonly code?: string;
  /** Writes it applies (0 for every refused request). */
  readonly writes?: number;
}

const R = request;
const put = (target: string, body: string | Buffer, headers: Record<string, string> = {}): Buffer => R('PUT', target, { body, headers });
const bytes = (...parts: (string | number[])[]): Buffer => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));
const CLOSE = 'Host: probe\r\nConnection: close\r\n';
const nested = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth);

const PROBES: readonly Probe[] = [
  // Request lines and methods.
  { name: 'garbage request line', raw: 'GARBAGE\r\n\r\n', status: 400, code: 'invalid' },
  { name: 'method alone', raw: 'GET\r\n\r\n', status: 400, code: 'invalid' },
  { name: 'unknown method', raw: `BREW /v1/kv/x HTTP/1.1\r\n${CLOSE}\r\n`, status: 400, code: 'invalid' },
  { name: 'lower-case method', raw: `get /healthz HTTP/1.1\r\n${CLOSE}\r\n`, status: 400, code: 'invalid' },
  { name: 'known method the API does not offer', raw: R('PROPFIND', '/v1/kv/x'), status: 405, code: 'method-not-allowed' },
  { name: 'asterisk-form target', raw: R('OPTIONS', '*'), status: 400, code: 'invalid' },
  { name: 'HTTP/2.0 in an HTTP/1 request line', raw: `GET /healthz HTTP/2.0\r\n${CLOSE}\r\n`, status: 505, code: 'http-version-not-supported' },
  { name: 'HTTP/2 connection preface', raw: 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', status: 400, code: 'invalid' },
  { name: 'unknown HTTP version', raw: `GET /healthz HTTP/1.7\r\n${CLOSE}\r\n`, status: 400, code: 'invalid' },
  // Node's parser is lenient here (RFC 9112 §3 allows it); the meaning is unambiguous.
  { name: 'two spaces in the request line', raw: `GET  /healthz HTTP/1.1\r\n${CLOSE}\r\n`, status: 200 },
  { name: 'HTTP/1.1 without Host', raw: 'GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n', status: 400, code: 'invalid' },
  { name: 'HTTP/1.0 without Host is fine', raw: 'GET /healthz HTTP/1.0\r\n\r\n', status: 200 },
  { name: 'HTTP/0.9 request gets the header timeout', raw: 'GET /healthz\r\n', status: 408, code: 'request-timeout' },
  { name: 'CONNECT', raw: 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n', status: 405, code: 'method-not-allowed' },
  // Request targets.
  { name: 'GET //[', raw: R('GET', '//['), status: 404, code: 'not-found' },
  { name: 'bad percent-encoding in a key', raw: R('GET', '/v1/kv/%zz'), status: 400, code: 'invalid' },
  { name: 'truncated percent-encoding in a key', raw: R('GET', '/v1/kv/abc%2'), status: 400, code: 'invalid' },
  { name: 'percent-encoded invalid UTF-8 in a key', raw: R('GET', '/v1/kv/%C3%28'), status: 400, code: 'invalid' },
  { name: 'percent-encoded invalid UTF-8 in a PUT key', raw: put('/v1/kv/%C3%28', '{"value":"v"}'), status: 400, code: 'invalid' },
  { name: 'percent-encoded surrogate in a key', raw: R('GET', '/v1/kv/%ED%A0%80'), status: 400, code: 'invalid' },
  { name: 'percent-encoded overlong UTF-8 in a key', raw: R('GET', '/v1/kv/%C0%AF'), status: 400, code: 'invalid' },
  { name: 'percent-encoded code point above U+10FFFF', raw: R('GET', '/v1/kv/%F4%90%80%80'), status: 400, code: 'invalid' },
  { name: 'raw byte 0xFF in the target', raw: bytes('GET /v1/kv/a', [0xff], ` HTTP/1.1\r\n${CLOSE}\r\n`), status: 400, code: 'invalid' },
  { name: 'raw UTF-8 in the target', raw: bytes('PUT /v1/kv/', [0xc3, 0xa9], ` HTTP/1.1\r\n${CLOSE}content-length: 13\r\n\r\n{"value":"v"}`), status: 400, code: 'invalid' },
  { name: 'a fragment in the target', raw: put('/v1/kv/a#b', '{"value":"v"}'), status: 400, code: 'invalid' },
  { name: 'absolute-form target', raw: R('GET', 'http://probe/healthz'), status: 200 },
  { name: 'malformed absolute-form target', raw: R('GET', 'http://[/x'), status: 400, code: 'invalid' },
  { name: 'target with another scheme', raw: R('GET', 'ftp://probe/healthz'), status: 400, code: 'invalid' },
  { name: 'dot segments', raw: R('GET', '/../../etc/passwd'), status: 404, code: 'not-found' },
  { name: 'target of 20 KiB', raw: R('GET', `/v1/kv/${'a'.repeat(20_000)}`), status: 431, code: 'headers-too-large' },
  { name: 'key over 4096 bytes', raw: R('GET', `/v1/kv/${'k'.repeat(5000)}`), status: 400, code: 'invalid' },
  { name: 'PUT on an empty key', raw: put('/v1/kv/', '{"value":"v"}'), status: 400, code: 'invalid' },
  { name: 'append to an empty key', raw: R('POST', '/v1/kv//append', { body: '{"value":"v"}' }), status: 400, code: 'invalid' },
  { name: 'no such endpoint', raw: R('GET', '/v2/kv/x'), status: 404, code: 'not-found' },
  // The dashboard page (issue 13); any other method on it is refused.
  { name: 'root', raw: R('GET', '/'), status: 200 },
  { name: 'root, wrong method', raw: R('DELETE', '/'), status: 405, code: 'method-not-allowed' },
  { name: 'events, wrong method', raw: R('PUT', '/v1/events'), status: 405, code: 'method-not-allowed' },
  // Query parameters.
  { name: 'bad consistency', raw: R('GET', '/v1/kv/x?consistency=sometimes'), status: 400, code: 'invalid' },
  { name: 'consistency twice', raw: R('GET', '/v1/kv/x?consistency=stale&consistency=linearizable'), status: 400, code: 'invalid' },
  { name: 'misspelt query parameter', raw: R('GET', '/v1/kv/x?consistancy=stale'), status: 400, code: 'invalid' },
  { name: 'query parameter on a write', raw: put('/v1/kv/x?consistency=stale', '{"value":"v"}'), status: 400, code: 'invalid' },
  { name: 'negative limit', raw: R('GET', '/v1/kv?limit=-1'), status: 400, code: 'invalid' },
  { name: 'limit in exponent form', raw: R('GET', '/v1/kv?limit=1e3'), status: 400, code: 'invalid' },
  { name: 'limit beyond 2^53', raw: R('GET', '/v1/kv?limit=99999999999999999999'), status: 400, code: 'invalid' },
  { name: 'empty limit', raw: R('GET', '/v1/kv?limit='), status: 400, code: 'invalid' },
  { name: 'bad percent-encoding in prefix', raw: R('GET', '/v1/kv?prefix=%zz'), status: 400, code: 'invalid' },
  { name: 'invalid UTF-8 in prefix', raw: R('GET', '/v1/kv?prefix=%C3%28'), status: 400, code: 'invalid' },
  { name: 'prefix twice', raw: R('GET', '/v1/kv?prefix=a&prefix=b'), status: 400, code: 'invalid' },
  // Headers.
  { name: 'header line without a colon', raw: `GET /healthz HTTP/1.1\r\n${CLOSE}Foo bar\r\n\r\n`, status: 400, code: 'invalid' },
  { name: 'space before the colon', raw: `GET /healthz HTTP/1.1\r\nHost : probe\r\nConnection: close\r\n\r\n`, status: 400, code: 'invalid' },
  { name: 'control character in a header name', raw: `GET /healthz HTTP/1.1\r\n${CLOSE}Fo\x01o: x\r\n\r\n`, status: 400, code: 'invalid' },
  { name: 'NUL in a header value', raw: `GET /healthz HTTP/1.1\r\n${CLOSE}X-A: a\x00b\r\n\r\n`, status: 400, code: 'invalid' },
  { name: 'obsolete line folding', raw: `GET /healthz HTTP/1.1\r\n${CLOSE}X-A: a\r\n  folded\r\n\r\n`, status: 400, code: 'invalid' },
  { name: 'header of 20 KiB', raw: R('GET', '/healthz', { headers: { 'x-big': 'b'.repeat(20_000) } }), status: 431, code: 'headers-too-large' },
  { name: 'non-numeric Content-Length', raw: `PUT /v1/kv/x HTTP/1.1\r\n${CLOSE}Content-Length: abc\r\n\r\n{}`, status: 400, code: 'invalid' },
  { name: 'negative Content-Length', raw: `PUT /v1/kv/x HTTP/1.1\r\n${CLOSE}Content-Length: -1\r\n\r\n{}`, status: 400, code: 'invalid' },
  { name: 'two different Content-Lengths', raw: `PUT /v1/kv/x HTTP/1.1\r\n${CLOSE}Content-Length: 2\r\nContent-Length: 13\r\n\r\n{"value":"v"}`, status: 400, code: 'invalid' },
  { name: 'Content-Length with Transfer-Encoding (smuggling)', raw: `PUT /v1/kv/x HTTP/1.1\r\n${CLOSE}Content-Length: 13\r\nTransfer-Encoding: chunked\r\n\r\nd\r\n{"value":"v"}\r\n0\r\n\r\n`, status: 400, code: 'invalid' },
  { name: 'Transfer-Encoding other than chunked', raw: `PUT /v1/kv/x HTTP/1.1\r\n${CLOSE}Transfer-Encoding: gzip\r\n\r\n{"value":"v"}`, status: 400, code: 'invalid' },
  { name: 'bad chunk size', raw: `PUT /v1/kv/x HTTP/1.1\r\n${CLOSE}Transfer-Encoding: chunked\r\n\r\nzz\r\n{"value":"v"}\r\n0\r\n\r\n`, status: 400, code: 'invalid' },
  { name: 'chunked body is accepted', raw: `PUT /v1/kv/chunked HTTP/1.1\r\n${CLOSE}Transfer-Encoding: chunked\r\n\r\n5\r\n{"val\r\n8\r\nue":"v"}\r\n0\r\n\r\n`, status: 200, writes: 1 },
  { name: 'chunked body over 2 MiB', raw: `PUT /v1/kv/x HTTP/1.1\r\n${CLOSE}Transfer-Encoding: chunked\r\n\r\n${'100000\r\n' + 'a'.repeat(0x100000) + '\r\n'}${'100000\r\n' + 'a'.repeat(0x100000) + '\r\n'}${'10\r\n' + 'a'.repeat(16) + '\r\n'}0\r\n\r\n`, status: 413, code: 'too-large' },
  { name: 'declared body over 2 MiB', raw: `PUT /v1/kv/x HTTP/1.1\r\n${CLOSE}Content-Length: 3000000\r\n\r\n{"value":"`, status: 413, code: 'too-large' },
  { name: 'Expect: 100-continue, then a bad body', raw: put('/v1/kv/x', '{"value":1}', { expect: '100-continue' }), status: 400, code: 'invalid' },
  { name: 'unknown Expect', raw: R('GET', '/healthz', { headers: { expect: 'teapot' } }), status: 417, code: 'expectation-failed' },
  { name: 'Upgrade to websocket is served as plain HTTP', raw: R('GET', '/healthz', { headers: { connection: 'upgrade', upgrade: 'websocket' } }), status: 200 },
  { name: 'X-Request-Seq not a number', raw: put('/v1/kv/x', '{"value":"v"}', { 'x-client-id': 'c', 'x-request-seq': 'abc' }), status: 400, code: 'invalid' },
  { name: 'X-Request-Seq zero', raw: put('/v1/kv/x', '{"value":"v"}', { 'x-client-id': 'c', 'x-request-seq': '0' }), status: 400, code: 'invalid' },
  { name: 'X-Request-Seq beyond 2^53', raw: put('/v1/kv/x', '{"value":"v"}', { 'x-client-id': 'c', 'x-request-seq': '99999999999999999999' }), status: 400, code: 'invalid' },
  { name: 'X-Client-Id without X-Request-Seq', raw: put('/v1/kv/x', '{"value":"v"}', { 'x-client-id': 'c' }), status: 400, code: 'invalid' },
  { name: 'X-Client-Id of 300 characters', raw: put('/v1/kv/x', '{"value":"v"}', { 'x-client-id': 'c'.repeat(300), 'x-request-seq': '1' }), status: 400, code: 'invalid' },
  // Bodies.
  { name: 'PUT without a body', raw: R('PUT', '/v1/kv/x'), status: 400, code: 'invalid' },
  { name: 'malformed JSON', raw: put('/v1/kv/x', '{not json'), status: 400, code: 'invalid' },
  { name: 'JSON array', raw: put('/v1/kv/x', '[1,2]'), status: 400, code: 'invalid' },
  { name: 'JSON string', raw: put('/v1/kv/x', '"v"'), status: 400, code: 'invalid' },
  { name: 'JSON null', raw: put('/v1/kv/x', 'null'), status: 400, code: 'invalid' },
  { name: 'JSON number', raw: put('/v1/kv/x', '42'), status: 400, code: 'invalid' },
  { name: 'value a number', raw: put('/v1/kv/x', '{"value":42}'), status: 400, code: 'invalid' },
  { name: 'value null', raw: put('/v1/kv/x', '{"value":null}'), status: 400, code: 'invalid' },
  { name: 'value an array', raw: put('/v1/kv/x', '{"value":["a"]}'), status: 400, code: 'invalid' },
  { name: 'value an object', raw: put('/v1/kv/x', '{"value":{}}'), status: 400, code: 'invalid' },
  { name: 'unknown field', raw: put('/v1/kv/x', '{"value":"v","ttl":5}'), status: 400, code: 'invalid' },
  { name: 'prevValue a number', raw: put('/v1/kv/x', '{"value":"v","prevValue":5}'), status: 400, code: 'invalid' },
  { name: 'invalid UTF-8 in a value', raw: put('/v1/kv/x', bytes('{"value":"a', [0xc3, 0x28], '"}')), status: 400, code: 'invalid' },
  { name: 'invalid UTF-8: a lone continuation byte', raw: put('/v1/kv/x', bytes('{"value":"', [0x80], '"}')), status: 400, code: 'invalid' },
  { name: 'invalid UTF-8: truncated at the end', raw: put('/v1/kv/x', bytes('{"value":"v"}', [0xe2, 0x82])), status: 400, code: 'invalid' },
  { name: 'invalid UTF-8: encoded surrogate', raw: put('/v1/kv/x', bytes('{"value":"', [0xed, 0xa0, 0x80], '"}')), status: 400, code: 'invalid' },
  { name: 'lone surrogate escaped in JSON', raw: put('/v1/kv/x', '{"value":"a\\ud800"}'), status: 400, code: 'invalid' },
  { name: 'lone low surrogate as prevValue', raw: put('/v1/kv/x', '{"value":"v","prevValue":"\\udc00"}'), status: 400, code: 'invalid' },
  { name: 'byte-order mark before the JSON', raw: put('/v1/kv/x', bytes([0xef, 0xbb, 0xbf], '{"value":"v"}')), status: 400, code: 'invalid' },
  { name: 'trailing garbage after the JSON', raw: put('/v1/kv/x', '{"value":"v"} x'), status: 400, code: 'invalid' },
  { name: 'JSON nested 100,000 deep', raw: put('/v1/kv/x', nested(100_000)), status: 400, code: 'invalid' },
  { name: 'value over 1 MiB', raw: put('/v1/kv/x', `{"value":"${'v'.repeat((1 << 20) + 1)}"}`), status: 400, code: 'invalid' },
  { name: 'PUT on a key over 4096 bytes', raw: put(`/v1/kv/${'k'.repeat(4097)}`, '{"value":"v"}'), status: 400, code: 'invalid' },
  { name: 'append without a value', raw: R('POST', '/v1/kv/x/append', { body: '{}' }), status: 400, code: 'invalid' },
  { name: 'append with an unknown field', raw: R('POST', '/v1/kv/x/append', { body: '{"value":"v","at":3}' }), status: 400, code: 'invalid' },
  { name: 'append with invalid UTF-8', raw: R('POST', '/v1/kv/x/append', { body: bytes('{"value":"', [0xff], '"}') }), status: 400, code: 'invalid' },
  // Methods on routes.
  { name: 'POST on a key', raw: R('POST', '/v1/kv/x', { body: '{"value":"v"}' }), status: 405, code: 'method-not-allowed' },
  { name: 'PATCH on a key', raw: R('PATCH', '/v1/kv/x', { body: '{"value":"v"}' }), status: 405, code: 'method-not-allowed' },
  { name: 'DELETE on the list', raw: R('DELETE', '/v1/kv'), status: 405, code: 'method-not-allowed' },
  { name: 'POST on /healthz', raw: R('POST', '/healthz'), status: 405, code: 'method-not-allowed' },
  { name: 'POST on /v1/status', raw: R('POST', '/v1/status'), status: 405, code: 'method-not-allowed' },
  { name: 'POST on /v1/backup', raw: R('POST', '/v1/backup'), status: 405, code: 'method-not-allowed' },
  // Membership routes.
  { name: 'add a member with an empty body', raw: R('POST', '/v1/members', { body: '{}' }), status: 400, code: 'invalid' },
  { name: 'add a member with a bad address', raw: R('POST', '/v1/members', { body: '{"name":"n9","peerAddress":"nowhere","apiUrl":"http://127.0.0.1:1"}' }), status: 400, code: 'invalid' },
  { name: 'add a member with an unknown field', raw: R('POST', '/v1/members', { body: '{"name":"n9","peerAddress":"127.0.0.1:1","apiUrl":"http://127.0.0.1:1","admin":true}' }), status: 400, code: 'invalid' },
  { name: 'remove a member named with bad percent-encoding', raw: R('DELETE', '/v1/members/%zz'), status: 400, code: 'invalid' },
  { name: 'remove a member with a bad name', raw: R('DELETE', '/v1/members/bad!name'), status: 400, code: 'invalid' },
  { name: 'deep membership path', raw: R('POST', '/v1/members/a/b/c'), status: 404, code: 'not-found' },
  { name: 'transfer to a number', raw: R('POST', '/v1/leader/transfer', { body: '{"to":5}' }), status: 400, code: 'invalid' },
  { name: 'transfer with an unknown field', raw: R('POST', '/v1/leader/transfer', { body: '{"to":"n1","now":true}' }), status: 400, code: 'invalid' },
  { name: 'GET on the transfer route', raw: R('GET', '/v1/leader/transfer'), status: 405, code: 'method-not-allowed' },
  // Pipelining.
  { name: 'two pipelined GETs', raw: Buffer.concat([R('GET', '/healthz', { keepAlive: true }), R('GET', '/v1/kv/absent')]), status: [200, 404] },
  { name: 'a bad request, then a good one, pipelined', raw: Buffer.concat([R('PUT', '/v1/kv/x', { body: '{bad', keepAlive: true }), R('GET', '/healthz')]), status: [400, 200], code: 'invalid' },
  { name: 'a malformed request ends the connection', raw: Buffer.concat([Buffer.from('GARBAGE\r\n\r\n'), R('GET', '/healthz')]), status: [400], code: 'invalid' },
];

let server: TsraftServer;
let port: number;
let close: () => Promise<void>;
const log = captureLogger('debug');

before(async () => {
  ({ server, port, close } = await startOneNode({ headerTimeoutMs: 1_000, bodyTimeoutMs: 1_000 }, log.logger));
});
after(async () => close());

const commitIndex = (): number => server.node.status().commitIndex;
const errorLines = (): Record<string, unknown>[] => log.lines.filter((l) => (l['level'] as number) >= ERROR_LEVEL);

test(`the probe list: ${PROBES.length} malformed or hostile requests get precise answers`, async () => {
  assert.ok(PROBES.length >= 80, `at least 80 probes, got ${PROBES.length}`);
  const failures: string[] = [];
  for (const p of PROBES) {
    const commitBefore = commitIndex();
    const expected = typeof p.status === 'number' ? [p.status] : p.status;
    const x = await rawExchange(port, p.raw, { expect: expected.length, timeoutMs: 5_000 });
    const got = x.responses.map((r: RawResponse) => r.status);
    const what = `${p.name}: got ${JSON.stringify(got)} ${x.responses[0]?.body.slice(0, 160) ?? ''} (closed ${x.closed}, ${x.error ?? 'no error'}, ${x.ms} ms)`;
    if (JSON.stringify(got) !== JSON.stringify(expected)) failures.push(`${what}; expected ${JSON.stringify(expected)}`);
    else if (p.code !== undefined && x.responses[0]!.json?.['error'] !== p.code) failures.push(`${what}; expected error code ${p.code}`);
    else if (expected[0]! >= 400 && typeof x.responses[0]!.json?.['message'] !== 'string') failures.push(`${what}; expected a JSON message`);
    // A write is applied before its answer: the index has moved by then, or never will.
    const moved = commitIndex() - commitBefore;
    if (moved !== (p.writes ?? 0)) failures.push(`${p.name}: the commit index moved by ${moved}, expected ${p.writes ?? 0}`);
    const alive = await rawExchange(port, R('GET', '/healthz'), { expect: 1 });
    if (alive.responses[0]?.status !== 200) failures.push(`${p.name}: the node did not answer GET /healthz afterwards`);
    const errors = errorLines();
    if (errors.length > 0) failures.push(`${p.name}: logged at error level: ${JSON.stringify(errors)}`);
    log.lines.length = 0;
  }
  assert.deepEqual(failures, []);
});

test('a valid write still works after the probes, and the refused ones left no key behind', async () => {
  const x = await rawExchange(port, R('PUT', '/v1/kv/after', { body: '{"value":"ok"}' }), { expect: 1 });
  assert.equal(x.responses[0]?.status, 200);
  const keys = (await server.kv.list('', 'linearizable')).map((i) => i.key);
  assert.deepEqual(keys, ['after', 'chunked']);
});
