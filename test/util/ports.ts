import net from 'node:net';

/**
 * Ports for servers a test starts later (child processes, addresses given in
 * advance). Port 0 would be safest, but these ports must be known before the
 * server binds them, and a port the kernel hands out as free is in its
 * ephemeral range (32768–60999 on Linux): between the check and the bind, an
 * outgoing connection of any test running in parallel may take it as its
 * local port (CI saw EADDRINUSE that way). So: a random port below that range,
 * checked free, never handed out twice by this process.
 */
const LOW = 20_000;
const HIGH = 32_000;
const handedOut = new Set<number>();

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** A free TCP port on 127.0.0.1 outside the ephemeral range. */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 1000; i++) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW));
    if (handedOut.has(port)) continue;
    if (await bindable(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free port in ${LOW}..${HIGH} after 1000 tries`);
}
