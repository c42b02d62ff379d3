// Node globals the shared modules use, for the browser bundles (esbuild `inject`).
import { Buffer } from 'buffer';

// setTimeout(0) is clamped to 4 ms once nested, which would make the simulator's scheduler
// (one macrotask per event) crawl: a MessageChannel posts a macrotask without the clamp.
const channel = new MessageChannel();
const queue: Array<() => void> = [];
channel.port1.onmessage = () => {
  const fn = queue.shift();
  fn?.();
};
function setImmediate(fn: () => void): void {
  queue.push(fn);
  channel.port2.postMessage(0);
}

const process = { env: {} as Record<string, string | undefined>, platform: 'browser', version: 'v20.0.0', versions: {}, cwd: () => '/' };

export { Buffer, setImmediate, process };
