import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hasLoneSurrogate, invalidUtf8Offset } from '../../src/util/utf8.js';
import { SeededRandom } from '../../src/util/random.js';

const strict = new TextDecoder('utf-8', { fatal: true });
const valid = (b: Uint8Array): boolean => {
  try {
    strict.decode(b);
    return true;
  } catch {
    return false;
  }
};

test('invalid UTF-8 is found at the offset of its first bad byte', () => {
  const cases: [number[], number][] = [
    [[0x61, 0x62], -1],
    [[0xc3, 0xa9], -1],
    [[0xe2, 0x82, 0xac], -1],
    [[0xf0, 0x9f, 0x98, 0x80], -1],
    [[0x61, 0xc3, 0x28], 1],
    [[0x80], 0],
    [[0xc0, 0xaf], 0], // overlong '/'
    [[0xe0, 0x80, 0xaf], 0], // overlong
    [[0xed, 0xa0, 0x80], 0], // surrogate
    [[0xf4, 0x90, 0x80, 0x80], 0], // above U+10FFFF
    [[0xf5, 0x80, 0x80, 0x80], 0],
    [[0x61, 0x62, 0xe2, 0x82], 2], // truncated
    [[0xff], 0],
  ];
  for (const [bytes, at] of cases) assert.equal(invalidUtf8Offset(Uint8Array.from(bytes)), at, JSON.stringify(bytes));
});

test('the validator agrees with a fatal TextDecoder on random byte strings', () => {
  const rnd = new SeededRandom(11);
  for (let i = 0; i < 20_000; i++) {
    const n = rnd.int(12);
    // Mostly bytes near the multi-byte ranges, so that valid and invalid both occur.
    const b = Uint8Array.from({ length: n }, () => (rnd.int(4) === 0 ? rnd.int(0x80) : 0x80 + rnd.int(0x80)));
    const at = invalidUtf8Offset(b);
    assert.equal(at === -1, valid(b), `bytes ${[...b].map((x) => x.toString(16)).join(' ')}`);
    if (at >= 0) assert.ok(valid(b.subarray(0, at)), 'everything before the offset is valid');
  }
});

test('unpaired surrogates are found; pairs are fine', () => {
  assert.equal(hasLoneSurrogate('plain é 😀'), false);
  assert.equal(hasLoneSurrogate('a\ud800'), true);
  assert.equal(hasLoneSurrogate('\udc00b'), true);
  assert.equal(hasLoneSurrogate('\ud83d\ude00'), false);
  assert.equal(hasLoneSurrogate('\ude00\ud83d'), true);
});
