/**
 * Three pure Raft cores in one process, every message delivered at once
 * (bench/core.ts and bench/budget.ts): the algorithm's own cost, with no
 * driver, storage or network.
 */
import { Raft, type Ready } from '../src/core/raft.js';
import type { Message } from '../src/core/types.js';
import { EMPTY_STATE } from '../src/storage/types.js';
import { SeededRandom } from '../src/util/random.js';

export interface PureCores {
  /** Core 0, elected. */
  readonly leader: Raft;
  /** The last index each core has been handed as committed. */
  readonly applied: number[];
  /** Processes every Ready and delivers every message until nothing is left. */
  pump(): void;
}

export function pureCores(seed: number): PureCores {
  const ids = [0, 1, 2];
  const rnd = new SeededRandom(seed);
  const cores = ids.map((id) => new Raft({ id, voters: ids, electionTicks: 10, heartbeatTicks: 1, random: rnd.fork(), maxInflight: 256 }, EMPTY_STATE));
  const applied = [0, 0, 0];
  const pump = (): void => {
    for (let busy = true; busy; ) {
      busy = false;
      const out: Message[] = [];
      for (const c of cores) {
        if (!c.hasReady()) continue;
        busy = true;
        const rd: Ready = c.ready();
        out.push(...rd.messages);
        const last = rd.committedEntries[rd.committedEntries.length - 1];
        if (last !== undefined) applied[c.id] = last.index;
        c.advance(rd);
      }
      for (const m of out) cores[m.to]!.step(m);
    }
  };
  while (cores[0]!.role !== 'leader') {
    cores[0]!.tick();
    pump();
  }
  return { leader: cores[0]!, applied, pump };
}
