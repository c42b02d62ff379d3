/** A state machine recording into a watch history, a hub over it, and one stream whose text the test reads. */
import { PassThrough } from 'node:stream';
import { KvStateMachine } from '../../src/kv/state-machine.js';
import { WatchHistory } from '../../src/kv/watch-history.js';
import { WatchHub } from '../../src/server/watch.js';
import { silentLogger } from '../../src/util/log.js';

/** One event-loop turn (the hub delivers on the next turn). */
export const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

export function watchSetup(): { sm: KvStateMachine; hub: WatchHub; history: WatchHistory; out: PassThrough; text: () => string } {
  const history = new WatchHistory();
  const sm = new KvStateMachine({ changes: history });
  const hub = new WatchHub({ history, revision: () => sm.revision, logger: silentLogger(), progressMs: 60_000 });
  const out = new PassThrough();
  let text = '';
  out.setEncoding('utf8');
  out.on('data', (d: string) => (text += d));
  return { sm, hub, history, out, text: () => text };
}
