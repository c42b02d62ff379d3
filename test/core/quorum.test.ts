// Direct tests of MajorityConfig: quorum size, committed index and election results.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MajorityConfig, type VoteResult } from '../../src/core/quorum.js';
import { checkProperty } from '../util/property.js';

describe('MajorityConfig', () => {
  test('voters are deduplicated and sorted; an empty configuration is rejected', () => {
    const c = new MajorityConfig([3, 1, 2, 1]);
    assert.deepEqual(c.voters, [1, 2, 3]);
    assert.equal(c.has(2), true);
    assert.equal(c.has(4), false);
    assert.throws(() => new MajorityConfig([]), RangeError);
  });

  test('quorum is a strict majority', () => {
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6, 7].map((n) => new MajorityConfig(Array.from({ length: n }, (_, i) => i + 1)).quorum()),
      [1, 2, 2, 3, 3, 4, 4],
    );
  });

  const committed: Array<[number[], Record<number, number>, number]> = [
    [[1], { 1: 7 }, 7],
    [[1, 2], { 1: 7, 2: 3 }, 3],
    [[1, 2, 3], { 1: 5, 2: 3, 3: 1 }, 3],
    [[1, 2, 3], { 1: 5, 2: 5, 3: 1 }, 5],
    [[1, 2, 3], { 1: 5 }, 0], // unknown counts as 0
    [[1, 2, 3, 4], { 1: 5, 2: 3, 3: 1, 4: 0 }, 1],
    [[1, 2, 3, 4, 5], { 1: 1, 2: 2, 3: 3, 4: 4, 5: 5 }, 3],
    [[1, 2, 3, 4, 5], { 1: 9, 2: 9, 3: 2, 4: 2, 5: 9 }, 9],
  ];
  for (const [voters, acked, want] of committed) {
    test(`committedIndex of ${voters.length} voters acked ${JSON.stringify(acked)} = ${want}`, () => {
      assert.equal(new MajorityConfig(voters).committedIndex((id) => acked[id] ?? 0), want);
    });
  }

  test('committedIndex is the quorum-th highest acknowledged index, for any voters and indexes, call after call', () => {
    const index = fc.oneof(fc.nat({ max: 20 }), fc.nat({ max: Number.MAX_SAFE_INTEGER }));
    checkProperty(
      import.meta.url,
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 9 }), fc.array(fc.array(index, { minLength: 9, maxLength: 9 }), { minLength: 1, maxLength: 4 }), (voters, rounds) => {
        const c = new MajorityConfig(voters);
        for (const r of rounds) {
          const acked = (id: number): number => r[c.voters.indexOf(id)]!;
          const want = c.voters.map(acked).sort((a, b) => b - a)[c.quorum() - 1];
          assert.equal(c.committedIndex(acked), want);
        }
      }),
      { numRuns: 300 },
    );
  });

  const votes: Array<[number[], Array<[number, boolean]>, VoteResult]> = [
    [[1], [[1, true]], 'won'],
    [[1, 2, 3], [], 'pending'],
    [[1, 2, 3], [[1, true]], 'pending'],
    [[1, 2, 3], [[1, true], [2, true]], 'won'],
    [[1, 2, 3], [[1, true], [2, false]], 'pending'],
    [[1, 2, 3], [[1, true], [2, false], [3, false]], 'lost'],
    [[1, 2, 3], [[1, true], [9, true]], 'pending'], // a non-member's vote does not count
    [[1, 2, 3, 4], [[1, true], [2, true]], 'pending'],
    [[1, 2, 3, 4], [[1, true], [2, true], [3, true]], 'won'],
    [[1, 2, 3, 4], [[1, true], [2, false], [3, false]], 'lost'],
    [[1, 2, 3, 4, 5], [[1, true], [2, false], [3, false]], 'pending'],
    [[1, 2, 3, 4, 5], [[1, true], [2, false], [3, false], [4, false]], 'lost'],
  ];
  for (const [voters, given, want] of votes) {
    test(`voteResult of ${voters.length} voters with ${JSON.stringify(given)} = ${want}`, () => {
      assert.equal(new MajorityConfig(voters).voteResult(new Map(given)), want);
    });
  }
});
