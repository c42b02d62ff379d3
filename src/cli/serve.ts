import { PROFILES } from '../core/config.js';
import { LockedError } from '../storage/fs.js';
import { StorageRecoveryError } from '../storage/file-storage.js';
import { WalCorruptionError } from '../storage/wal/record.js';
import { ConfigError, parseHostPort, parsePeers, readConfigFile, type ServerConfig } from '../server/config.js';
import { PeerIdentityError, TsraftServer } from '../server/server.js';

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
  join?: string;
  learner?: boolean;
  tlsDir?: string;
  insecurePeers?: boolean;
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
    // The bootstrap configuration of a brand-new cluster; not needed to join one, nor once the data directory holds a cluster.
    members: (f.peers ?? file.peers) !== undefined ? parsePeers((f.peers ?? file.peers)!) : [],
    ...((f.join ?? (file as { join?: string }).join) !== undefined && { join: f.join ?? (file as { join?: string }).join }),
    ...((f.learner ?? (file as { learner?: boolean }).learner) === true && { learner: true }),
    // Overrides of the production profile (src/core/config.ts); undefined: the profile's.
    heartbeatTicks,
    electionTicks,
    ...((f.tlsDir ?? file.tlsDir) !== undefined && { tlsDir: f.tlsDir ?? file.tlsDir }),
    ...((f.insecurePeers ?? file.insecurePeers) === true && { insecurePeers: true }),
    ...((f.logLevel ?? file.logLevel) !== undefined && { logLevel: f.logLevel ?? file.logLevel }),
  };
}

/** `tsraft serve`: runs one node until SIGTERM or SIGINT. Returns the exit code. */
export async function serve(f: ServeFlags, err: (l: string) => void = (l) => console.error(l)): Promise<number> {
  let server: TsraftServer | undefined;
  // A fatal error (a refused identity, a failed disk) ends the process with a non-zero exit.
  let fatal: ((code: number) => void) | null = null;
  let fatalBeforeStart = false;
  const onFatal = (e: unknown): void => {
    if (e instanceof PeerIdentityError) err(`tsraft serve: ${e.message}`);
    else err(`tsraft serve: stopped: ${e instanceof Error ? e.message : String(e)}`);
    process.exitCode = 1;
    if (fatal !== null) fatal(1);
    else fatalBeforeStart = true;
  };
  try {
    server = await TsraftServer.start(serveConfig(f), { onFatal });
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
  const running = server;
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (why: string, code: number | null): void => {
      if (stopping) return;
      stopping = true;
      running.logger.info({ why }, code === null ? 'signal received' : 'stopping after a fatal error');
      void running.stop().then(() => resolve(code ?? (process.exitCode === 1 ? 1 : 0)));
    };
    fatal = (code) => stop('fatal error', code);
    if (fatalBeforeStart) fatal(1);
    process.on('SIGTERM', () => stop('SIGTERM', null));
    process.on('SIGINT', () => stop('SIGINT', null));
  });
}
