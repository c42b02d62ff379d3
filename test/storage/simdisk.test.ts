import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SimCrashError, SimDisk } from '../../src/sim/disk.js';
import { LockedError } from '../../src/storage/fs.js';
import { SeededRandom } from '../../src/util/random.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

test('synced appends survive a crash; unsynced ones do not (torn writes off)', async () => {
  const disk = new SimDisk({ random: new SeededRandom(1), tornWriteProbability: 0 });
  const fs = disk.mount();
  await fs.mkdirp('/d');
  const h = await fs.openAppend('/d/f');
  await fs.syncDir('/d');
  await h.append(enc('durable'));
  await h.sync();
  await h.append(enc('-volatile'));
  assert.equal(dec(await fs.readFile('/d/f')), 'durable-volatile');
  disk.crash();
  const fs2 = disk.mount();
  assert.equal(dec(await fs2.readFile('/d/f')), 'durable');
});

test('a torn write keeps a prefix of the unsynced bytes', async () => {
  const disk = new SimDisk({ random: new SeededRandom(1) });
  disk.keepUnsynced = () => 3;
  const fs = disk.mount();
  await fs.mkdirp('/d');
  const h = await fs.openAppend('/d/f');
  await fs.syncDir('/d');
  await h.append(enc('abcdef'));
  const report = disk.crash();
  assert.equal(dec(await disk.mount().readFile('/d/f')), 'abc');
  assert.deepEqual(report.tornFiles, ['/d/f']);
  assert.equal(report.lostBytes, 3);
});

test('names created, renamed or removed are undone by a crash unless the directory was synced', async () => {
  const disk = new SimDisk({ random: new SeededRandom(1), tornWriteProbability: 0 });
  const fs = disk.mount();
  await fs.mkdirp('/d');
  const a = await fs.openAppend('/d/a');
  await a.append(enc('A'));
  await a.sync();
  await fs.syncDir('/d');
  const b = await fs.openAppend('/d/b.tmp');
  await b.append(enc('B'));
  await b.sync();
  await fs.rename('/d/b.tmp', '/d/b');
  await fs.remove('/d/a');
  assert.deepEqual(await fs.list('/d'), ['b']);
  disk.crash();
  assert.deepEqual(await disk.mount().list('/d'), ['a']);

  const fs2 = disk.mount();
  const c = await fs2.openAppend('/d/c');
  await c.append(enc('C'));
  await c.sync();
  await fs2.syncDir('/d');
  disk.crash();
  assert.deepEqual(await disk.mount().list('/d'), ['a', 'c']);
});

test('a crash ends the process: its file systems and handles stop working', async () => {
  const disk = new SimDisk({ random: new SeededRandom(1) });
  const fs = disk.mount();
  await fs.mkdirp('/d');
  const h = await fs.openAppend('/d/f');
  disk.crash();
  await assert.rejects(h.append(enc('x')), SimCrashError);
  await assert.rejects(fs.list('/d'), SimCrashError);
});

test('crashAfter(n) crashes just before the n-th operation', async () => {
  const disk = new SimDisk({ random: new SeededRandom(1), tornWriteProbability: 0 });
  const fs = disk.mount();
  await fs.mkdirp('/d');
  const h = await fs.openAppend('/d/f');
  await fs.syncDir('/d');
  disk.crashAfter(3);
  await h.append(enc('1')); // op 1
  await h.sync(); // op 2
  await assert.rejects(h.append(enc('2')), SimCrashError); // op 3: the crash
  assert.equal(dec(await disk.mount().readFile('/d/f')), '1');
});

test('flipByte corrupts stored data; locks are exclusive until released or crashed', async () => {
  const disk = new SimDisk({ random: new SeededRandom(1) });
  const fs = disk.mount();
  await fs.mkdirp('/d');
  const h = await fs.openAppend('/d/f');
  await h.append(enc('aaaa'));
  await h.sync();
  disk.flipByte('/d/f', 2, 0x03);
  assert.equal(dec(await fs.readFile('/d/f')), 'aaba');
  const lock = await fs.lock('/d');
  await assert.rejects(fs.lock('/d'), LockedError);
  await lock.release();
  await fs.lock('/d');
  disk.crash();
  await disk.mount().lock('/d'); // the dead process's lock is gone
});
