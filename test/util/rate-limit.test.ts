import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RateLimitedLog, RateLimiter } from '../../src/util/rate-limit.js';
import { captureLogger } from '../api/raw-http.js';

test('a key gets `burst` events per window; the next one allowed reports how many were suppressed', () => {
  let now = 0;
  const r = new RateLimiter({ intervalMs: 1000, burst: 2, now: () => now });
  assert.deepEqual(r.allow('a'), { ok: true, suppressed: 0 });
  assert.deepEqual(r.allow('a'), { ok: true, suppressed: 0 });
  for (let i = 0; i < 5; i++) assert.deepEqual(r.allow('a'), { ok: false });
  assert.deepEqual(r.allow('b'), { ok: true, suppressed: 0 }, 'keys are independent');
  now = 999;
  assert.deepEqual(r.allow('a'), { ok: false });
  now = 1000;
  assert.deepEqual(r.allow('a'), { ok: true, suppressed: 6 });
  assert.deepEqual(r.allow('a'), { ok: true, suppressed: 0 });
});

test('the limiter remembers a bounded number of keys', () => {
  const r = new RateLimiter({ intervalMs: 1000, maxKeys: 3, now: () => 0 });
  for (const k of ['a', 'b', 'c']) r.allow(k);
  assert.deepEqual(r.allow('a'), { ok: false });
  r.allow('d'); // clears the memory
  assert.deepEqual(r.allow('a'), { ok: true, suppressed: 0 });
});

test('a rate-limited log writes at most burst lines per key and level, and counts the rest', () => {
  let now = 0;
  const cap = captureLogger('info');
  const log = new RateLimitedLog(cap.logger, { intervalMs: 10_000, burst: 3, now: () => now });
  for (let i = 0; i < 100; i++) log.log('error', 'k', { i }, 'failed');
  for (let i = 0; i < 100; i++) log.log('debug', 'k', { i }, 'disabled level');
  assert.equal(cap.lines.length, 3);
  now = 10_000;
  log.log('error', 'k', { i: 100 }, 'failed');
  assert.equal(cap.lines.length, 4);
  assert.equal(cap.lines[3]!['suppressed'], 97);
  assert.equal(cap.lines[3]!['level'], 50);
});
