import { PROFILES } from '../core/config.js';
import { LockedError } from '../storage/fs.js';
import { StorageRecoveryError } from '../storage/file-storage.js';
import { WalCorruptionError } from '../storage/wal/record.js';
import { ConfigError, parseHostPort, parsePeers, readConfigFile, type ServerConfig } from '../server/config.js';
import { TsraftServer } from '../server/server.js';

export interface ServeFlags {
  id?: string;
  data?: string;
  listen?: string;
  api?: string;
  peers?: string;
  clusterId?: string;
  config?: string;
  logLevel?: string;
  heartbeatMs?: string;
  electionMs?: string;
}

const TICK_MS = PROFILES.production.tickMs;

/** A duration flag in ticks; undefined (the profile's) when not given. */
function msToTicks(v: string | number | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const ms = Number(v);
  if (!Number.isFinite(ms) || ms < TICK_MS) throw new ConfigError(`${flag}: expected a number of milliseconds >= ${TICK_MS}, got '${v}'`);
  return Math.round(ms / TICK_MS);
}

/** Builds the server configuration from flags, on top of a --config file if given. */
export function serveConfig(f: ServeFlags): ServerConfig {
  const file = f.config !== undefined ? readConfigFile(f.config) : {};
  const pick = <T>(flag: T | undefined, fromFile: T | undefined, name: string): T => {
    const v = flag ?? fromFile;
    if (v === undefined) throw new ConfigError(`--${name} is required (or set it in --config)`);
    return v;
  };
  const fileListen = typeof file.listen === 'string' ? file.listen : undefined;
  const fileApi = typeof file.api === 'string' ? file.api : undefined;
  const heartbeatTicks = msToTicks(f.heartbeatMs ?? (file as { heartbeatMs?: number }).heartbeatMs, '--heartbeat-ms');
  const electionTicks = msToTicks(f.electionMs ?? (file as { electionMs?: number }).electionMs, '--election-ms');
  if ((electionTicks ?? PROFILES.production.electionTicks) <= (heartbeatTicks ?? PROFILES.production.heartbeatTicks)) throw new ConfigError('--election-ms must be larger than --heartbeat-ms (etcd uses 1000 and 100)');
  return {
    name: pick(f.id, file.name ?? (file as { id?: string }).id, 'id'),
    clusterId: f.clusterId ?? file.clusterId ?? 'tsraft',
    dataDir: pick(f.data, file.dataDir ?? (file as { data?: string }).data, 'data'),
    listen: parseHostPort(pick(f.listen, fileListen, 'listen'), '--listen'),
    api: parseHostPort(pick(f.api, fileApi, 'api'), '--api'),
    members: parsePeers(pick(f.peers, file.peers, 'peers')),
    // Overrides of the production profile (src/core/config.ts); undefined: the profile's.
    heartbeatTicks,
    electionTicks,
    ...((f.logLevel ?? file.logLevel) !== undefined && { logLevel: f.logLevel ?? file.logLevel }),
  };
}

/** `tsraft serve`: runs one node until SIGTERM or SIGINT. Returns the exit code. */
export async function serve(f: ServeFlags, err: (l: string) => void = (l) => console.error(l)): Promise<number> {
  let server: TsraftServer;
  try {
    server = await TsraftServer.start(serveConfig(f));
  } catch (e) {
    if (e instanceof ConfigError || e instanceof StorageRecoveryError || e instanceof WalCorruptionError || e instanceof LockedError) {
      err(`tsraft serve: ${e.message}`);
      if (e instanceof WalCorruptionError || e instanceof StorageRecoveryError) err('tsraft serve: the data directory is damaged; see docs/OPERATIONS.md, "Recovering a node that refuses to start"');
      return 1;
    }
    if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      err(`tsraft serve: ${(e as Error).message}: another process uses that port`);
      return 1;
    }
    throw e;
  }
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      server.logger.info({ signal }, 'signal received');
      void server.stop().then(() => resolve(process.exitCode === 1 ? 1 : 0));
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
}
