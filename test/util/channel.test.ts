import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Channel } from '../../src/util/channel.js';

test('an unbuffered send completes only when a receiver takes the value', async () => {
  const ch = new Channel<number>();
  let delivered = false;
  const p = ch.send(1).then((ok) => {
    delivered = ok;
  });
  await Promise.resolve();
  assert.equal(delivered, false);
  assert.deepEqual(await ch.receive(), { value: 1, done: false });
  await p;
  assert.equal(delivered, true);
});

test('a buffered channel accepts up to its capacity without a receiver', async () => {
  const ch = new Channel<number>(2);
  assert.equal(await ch.send(1), true);
  assert.equal(await ch.send(2), true);
  let third = false;
  void ch.send(3).then(() => {
    third = true;
  });
  await Promise.resolve();
  assert.equal(third, false);
  assert.equal((await ch.receive()).value, 1);
  await Promise.resolve();
  assert.equal(third, true);
  assert.equal((await ch.receive()).value, 2);
  assert.equal((await ch.receive()).value, 3);
});

test('closing wakes receivers with done and senders with false; iteration ends', async () => {
  const ch = new Channel<string>();
  const r = ch.receive();
  const values: string[] = [];
  ch.close();
  assert.deepEqual(await r, { value: undefined, done: true });
  assert.equal(await ch.send('late'), false);
  for await (const v of ch) values.push(v);
  assert.deepEqual(values, []);
});

test('values arrive in send order through async iteration', async () => {
  const ch = new Channel<number>();
  const got: number[] = [];
  const reader = (async () => {
    for await (const v of ch) got.push(v);
  })();
  for (let i = 0; i < 5; i++) await ch.send(i);
  ch.close();
  await reader;
  assert.deepEqual(got, [0, 1, 2, 3, 4]);
});
