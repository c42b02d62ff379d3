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

test('positional writes and resizes are volatile until synced; a crash undoes them, restoring what they overwrote', async () => {
  const disk = new SimDisk({ random: new SeededRandom(1), tornWriteProbability: 0 });
  const fs = disk.mount();
  await fs.mkdirp('/d');
  const h = await fs.openWrite('/d/f');
  await fs.syncDir('/d');
  await h.write(enc('abcdef'), 0);
  await h.resize(10);
  await h.sync();
  assert.deepEqual([...(await fs.readFile('/d/f'))], [...enc('abcdef'), 0, 0, 0, 0]);
  await h.write(enc('XY'), 2);
  await h.write(enc('zz'), 8);
  await h.resize(100_000); // sparse: zeros up to the new end
  assert.equal(disk.fileSize('/d/f'), 100_000);
  const report = disk.crash();
  assert.equal(report.lostBytes, 4);
  assert.deepEqual([...(await disk.mount().readFile('/d/f'))], [...enc('abcdef'), 0, 0, 0, 0]);
});

test('a torn positional write keeps a prefix of the unsynced bytes in the order written', async () => {
  const disk = new SimDisk({ random: new SeededRandom(1) });
  const fs = disk.mount();
  await fs.mkdirp('/d');
  const h = await fs.openWrite('/d/f');
  await fs.syncDir('/d');
  await h.resize(12);
  await h.sync();
  await h.write(enc('AAAA'), 8); // first: kept whole
  await h.write(enc('BBBB'), 0); // second: cut after 2 bytes
  await h.write(enc('CC'), 4); // third: lost
  disk.keepUnsynced = (_file, unsynced) => {
    assert.equal(unsynced, 10);
    return 6;
  };
  const report = disk.crash();
  assert.deepEqual(report.tornFiles, ['/d/f']);
  assert.equal(report.lostBytes, 4);
  assert.equal(dec(await disk.mount().readFile('/d/f')), 'BB\0\0\0\0\0\0AAAA');
});

test('random writes, resizes, syncs and crashes: the disk keeps exactly the synced image plus a prefix of the later writes', async () => {
  const seed = Number(process.env['TSRAFT_TEST_SEED'] ?? 1);
  for (let trial = 0; trial < 300; trial++) {
    const r = new SeededRandom(seed * 1000 + trial);
    const at = `seed ${seed * 1000 + trial}`;
    const disk = new SimDisk({ random: r.fork() });
    const fs = disk.mount();
    await fs.mkdirp('/d');
    const h = await fs.openWrite('/d/f');
    await fs.syncDir('/d');
    // The model: the image as of the last sync, and the operations since.
    let synced: Uint8Array = new Uint8Array(0);
    let ops: ({ kind: 'write'; data: Uint8Array; at: number } | { kind: 'resize'; size: number })[] = [];
    const apply = (img: Uint8Array, op: (typeof ops)[number], bytes = Infinity): Uint8Array => {
      // A resize cuts or extends with zeros; a write extends the file if it ends past it.
      if (op.kind === 'resize') {
        const out = new Uint8Array(op.size);
        out.set(img.subarray(0, Math.min(img.length, op.size)));
        return out;
      }
      const data = op.data.subarray(0, Math.min(op.data.length, bytes));
      const out = new Uint8Array(Math.max(img.length, op.at + data.length));
      out.set(img);
      out.set(data, op.at);
      return out;
    };
    let current: Uint8Array = synced;
    for (let i = 0; i < 1 + r.int(30); i++) {
      const x = r.int(10);
      if (x < 6) {
        const data = Uint8Array.from({ length: 1 + r.int(20) }, () => 1 + r.int(255));
        const op = { kind: 'write' as const, data, at: r.int(current.length + 10) };
        await h.write(data, op.at);
        ops.push(op);
        current = apply(current, op);
      } else if (x < 8) {
        const op = { kind: 'resize' as const, size: r.int(current.length + 40) };
        await h.resize(op.size);
        ops.push(op);
        current = apply(current, op);
      } else {
        await h.sync();
        synced = current;
        ops = [];
      }
      assert.deepEqual([...(await fs.readFile('/d/f'))], [...current], `${at}: what the process sees`);
    }
    const unsynced = ops.reduce((n, op) => n + (op.kind === 'write' ? op.data.length : 0), 0);
    const keep = unsynced === 0 ? 0 : r.int(unsynced + 1);
    disk.keepUnsynced = () => keep;
    disk.crash();
    let want = synced;
    let budget = keep;
    for (const op of keep === 0 ? [] : ops) {
      if (op.kind === 'resize') {
        want = apply(want, op);
        continue;
      }
      if (budget === 0) break; // nothing of this write, nor anything after it
      want = apply(want, op, budget);
      if (op.data.length > budget) break;
      budget -= op.data.length;
    }
    assert.deepEqual([...(await disk.mount().readFile('/d/f'))], [...want], `${at}: kept ${keep} of ${unsynced} unsynced bytes`);
  }
});
