/** The replay page rings the nodes a failure names, in the simulator's words and the lab tester's. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { suspectNodes } from '../../src/web/replay/recording.js';

test('suspectNodes: the nodes and servers a failure message names', () => {
  assert.deepEqual([...suspectNodes('node 3 applied index 7 as x, but node 1 applied y')].sort(), [1, 3]);
  assert.deepEqual([...suspectNodes('leader 0 of term 4 lacks committed index 9')], [0]);
  assert.deepEqual([...suspectNodes('apply error: commit index=20 server=4 3581 != server=2 8148')].sort(), [2, 4]);
  assert.deepEqual([...suspectNodes('server 2 apply out of order, expected index 2, got 3')], [2]);
  assert.deepEqual([...suspectNodes('term 2 has two leaders: 1 and 2')].sort(), [1, 2]);
  assert.deepEqual([...suspectNodes('one(106) failed to reach agreement')], []);
});
