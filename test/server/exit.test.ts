/** Exit codes of `tsraft serve`, the hard deadline of a fatal stop, and how `tsraft cluster` reports a dead node. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeExit } from '../../src/cli/cluster.js';
import { ConfigError } from '../../src/core/config.js';
import { RaftInvariantError } from '../../src/core/errors.js';
import { PeerIdentityError } from '../../src/server/errors.js';
import { EXIT_MEANING, ExitCode, exitCodeFor, exitMeaning } from '../../src/server/exit-codes.js';
import { stopThenExit } from '../../src/server/fatal-exit.js';
import { LockedError } from '../../src/storage/fs.js';
import { StorageRecoveryError } from '../../src/storage/file-storage.js';

const sysErr = (code: string, syscall: string): NodeJS.ErrnoException => Object.assign(new Error(`${code}: ${syscall}`), { code, syscall, errno: -1 });

test('each fatal cause has its own documented exit code', () => {
  assert.equal(exitCodeFor(sysErr('ENOSPC', 'write')), 74);
  assert.equal(exitCodeFor(sysErr('EIO', 'fsync')), 74);
  assert.equal(exitCodeFor(new RaftInvariantError('log went backwards')), 70);
  assert.equal(exitCodeFor(new PeerIdentityError('refused')), 77);
  assert.equal(exitCodeFor(new ConfigError('--quota-bytes: bad')), 78);
  assert.equal(exitCodeFor(new StorageRecoveryError('segments are missing')), 65);
  assert.equal(exitCodeFor(new LockedError('locked')), 75);
  assert.equal(exitCodeFor(sysErr('EADDRINUSE', 'listen')), 69);
  assert.equal(exitCodeFor(new Error('something else')), 1);
  assert.equal(exitCodeFor('not even an error'), 1);
  const codes = Object.values(ExitCode);
  assert.equal(new Set(codes).size, codes.length, 'codes are distinct');
  for (const c of codes) assert.notEqual(EXIT_MEANING[c], undefined, `code ${c} has a meaning`);
  assert.equal(exitMeaning(74), 'storage I/O failure');
});

test('a fatal stop that hangs still exits, with the code, by the deadline', async () => {
  const exits: { code: number; at: number }[] = [];
  let cut = 0;
  const t0 = Date.now();
  stopThenExit(74, () => new Promise<void>(() => {}), { exit: (code) => exits.push({ code, at: Date.now() - t0 }), deadlineMs: 150, onDeadline: () => cut++ });
  await new Promise((r) => setTimeout(r, 400));
  assert.equal(exits.length, 1, 'exit called exactly once');
  assert.equal(exits[0]!.code, 74);
  assert.ok(exits[0]!.at >= 140 && exits[0]!.at < 1000, `exited after ${exits[0]!.at} ms`);
  assert.equal(cut, 1);
});

test('a fatal stop that fails or throws exits at once with the code; a quick one exits without waiting for the deadline', async () => {
  const exits: number[] = [];
  const errors: unknown[] = [];
  stopThenExit(70, () => Promise.reject(new Error('close failed')), { exit: (c) => exits.push(c), deadlineMs: 5000, onStopError: (e) => errors.push(e) });
  stopThenExit(77, () => {
    throw new Error('sync throw');
  }, { exit: (c) => exits.push(c), deadlineMs: 5000, onStopError: (e) => errors.push(e) });
  stopThenExit(74, () => Promise.resolve(), { exit: (c) => exits.push(c), deadlineMs: 5000 });
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(exits.sort(), [70, 74, 77]);
  assert.equal(errors.length, 2);
});

test('tsraft cluster names a dead node, its exit code or signal, and what the code means', () => {
  assert.equal(describeExit('n2', 74, null), 'n2 died with exit code 74 (storage I/O failure)');
  assert.equal(describeExit('n1', 77, null), 'n1 died with exit code 77 (identity refused by the cluster)');
  assert.equal(describeExit('n3', null, 'SIGKILL'), 'n3 died of signal SIGKILL');
  assert.equal(describeExit('n3', 0, null), 'n3 exited with code 0 (clean stop)');
  assert.equal(describeExit('n3', 42, null), 'n3 died with exit code 42 (unknown exit code)');
});
