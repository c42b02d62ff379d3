import { setFlagsFromString } from 'node:v8';
import { PROFILES } from '../core/config.js';
import { ConfigError, DEFAULT_QUOTA_BYTES, parseHostPort, parsePeers, parseQuotaBytes, readConfigFile, type ServerConfig } from '../server/config.js';
import { PeerIdentityError } from '../server/errors.js';
import { ExitCode, exitCodeFor, exitMeaning } from '../server/exit-codes.js';
import { stopThenExit } from '../server/fatal-exit.js';
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
  join?: string;
  learner?: boolean;
  quotaBytes?: string;
  apiCert?: string;
  apiKey?: string;
  apiCacert?: string;
  authExempt?: string;
  tokenFile?: string;
  maxClientConnections?: string;
  headerTimeoutMs?: string;
  bodyTimeoutMs?: string;
  tlsDir?: string;
  insecurePeers?: boolean;
  leaseReads?: boolean;
  maxClockDriftPpm?: string;
  readConsistency?: string;
  watchHistory?: string;
  maxLeases?: string;
  heapGrowthPercent?: string;
}

/** `--auth-exempt healthz,metrics` (or the same as a JSON array in --config); '' exempts nothing. */
function exemptList(v: unknown): string[] | undefined {
  if (v === undefined) return undefined;
  if (Array.isArray(v)) return v.map(String);
  if (typeof v !== 'string') throw new ConfigError(`authExempt: expected a comma-separated list or an array, got ${JSON.stringify(v)}`);
  return v
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x.length > 0);
}


/** A flag's value as a number: a JSON number as it is, digits as their value; NaN for anything else. */
function wholeNumber(v: unknown): number {
  return typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v.trim()) ? Number(v) : NaN;
}

/** A positive integer flag (a count, or milliseconds); undefined when not given. */
function positiveInt(v: string | number | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const n = wholeNumber(v);
  if (!Number.isSafeInteger(n) || n < 1) throw new ConfigError(`${flag}: expected a positive integer, got '${v}'`);
  return n;
}

/** `--max-clock-drift-ppm`: a whole number of parts per million (range checked with the rest of the configuration). */
function driftPpm(v: string | number | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = wholeNumber(v);
  if (!Number.isSafeInteger(n)) throw new ConfigError(`--max-clock-drift-ppm: expected a whole number of parts per million, got '${v}'`);
  return n;
}

const TICK_MS = PROFILES.production.tickMs;

/** A duration flag in ticks; undefined (the profile's) when not given. */
function msToTicks(v: string | number | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const ms = Number(v);
  if (!Number.isFinite(ms) || ms < TICK_MS) throw new ConfigError(`${flag}: expected a number of milliseconds >= ${TICK_MS}, got '${v}'`);
  return Math.round(ms / TICK_MS);
}

/** A string setting of the --config file. */
function fileStr(file: object, name: string): string | undefined {
  const v = (file as Record<string, unknown>)[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new ConfigError(`--config: ${name} must be a string (a file path), got ${JSON.stringify(v)}`);
  return v;
}

/** The --config file's settings, or none. */
function configFileOf(f: ServeFlags): ReturnType<typeof readConfigFile> {
  return f.config !== undefined ? readConfigFile(f.config) : {};
}

/** Builds the server configuration from flags, on top of a --config file if given (`file`: its settings, read already). */
export function serveConfig(f: ServeFlags, file = configFileOf(f)): ServerConfig {
  const pick = <T>(flag: T | undefined, fromFile: T | undefined, name: string): T => {
    const v = flag ?? fromFile;
    if (v === undefined) throw new ConfigError(`--${name} is required (or set it in --config)`);
    return v;
  };
  const fileListen = typeof file.listen === 'string' ? file.listen : undefined;
  const fileApi = typeof file.api === 'string' ? file.api : undefined;
  const heartbeatTicks = msToTicks(f.heartbeatMs ?? (file as { heartbeatMs?: number }).heartbeatMs, '--heartbeat-ms');
  const electionTicks = msToTicks(f.electionMs ?? (file as { electionMs?: number }).electionMs, '--election-ms');
  // The snapshot threshold (bytes of log), only from --config: benchmarks that need a long log (restart time) raise it.
  const fileMaxRaftState = (file as { maxRaftState?: unknown }).maxRaftState;
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
    ...(fileMaxRaftState !== undefined && { maxRaftState: positiveInt(typeof fileMaxRaftState === 'number' ? fileMaxRaftState : String(fileMaxRaftState), `--config ${f.config}: maxRaftState`)! }),
    maxClientConnections: positiveInt(f.maxClientConnections ?? (file as { maxClientConnections?: number }).maxClientConnections, '--max-client-connections'),
    headerTimeoutMs: positiveInt(f.headerTimeoutMs ?? (file as { headerTimeoutMs?: number }).headerTimeoutMs, '--header-timeout-ms'),
    bodyTimeoutMs: positiveInt(f.bodyTimeoutMs ?? (file as { bodyTimeoutMs?: number }).bodyTimeoutMs, '--body-timeout-ms'),
    ...((f.tlsDir ?? file.tlsDir) !== undefined && { tlsDir: f.tlsDir ?? file.tlsDir }),
    ...((f.insecurePeers ?? file.insecurePeers) === true && { insecurePeers: true }),
    ...((f.logLevel ?? file.logLevel) !== undefined && { logLevel: f.logLevel ?? file.logLevel }),
    quotaBytes: f.quotaBytes !== undefined ? parseQuotaBytes(f.quotaBytes) : file.quotaBytes !== undefined ? parseQuotaBytes(file.quotaBytes, `--config ${f.config}: quotaBytes`) : DEFAULT_QUOTA_BYTES,
    // HTTPS and tokens (docs/SECURITY.md); the same names in --config.
    apiCertFile: f.apiCert ?? fileStr(file, 'apiCert'),
    apiKeyFile: f.apiKey ?? fileStr(file, 'apiKey'),
    apiCaFile: f.apiCacert ?? fileStr(file, 'apiCacert'),
    authExempt: exemptList(f.authExempt ?? (file as { authExempt?: unknown }).authExempt),
    tokenFile: f.tokenFile ?? fileStr(file, 'tokenFile'),
    // Lease reads (docs/OPERATIONS.md, "Lease reads"); the same names in --config.
    ...((f.leaseReads ?? (file as { leaseReads?: boolean }).leaseReads) === true && { leaseReads: true }),
    maxClockDriftPpm: driftPpm(f.maxClockDriftPpm ?? (file as { maxClockDriftPpm?: number }).maxClockDriftPpm),
    readConsistency: (f.readConsistency ?? fileStr(file, 'readConsistency')) as ServerConfig['readConsistency'],
    watchHistory: positiveInt(f.watchHistory ?? (file as { watchHistory?: number }).watchHistory, '--watch-history'),
    maxLeases: positiveInt(f.maxLeases ?? (file as { maxLeases?: number }).maxLeases, '--max-leases'),
  };
}

/**
 * How far past what the last full collection kept V8 lets the JavaScript heap
 * grow before the next one, in percent, unless `--heap-growth-percent` says
 * otherwise. Left to itself, V8 lets a node under write load commit several
 * times its live heap (docs/PERFORMANCE.md, "Memory"). 100 and 50 held the
 * leader to the same memory after a million writes (278–280 MiB), and 100 costs
 * less: with 50, full collections came often enough to raise the write p99 by
 * 15 % at 8 and 64 connections (docs/PERFORMANCE.md, "The heap's growth, again").
 */
export const DEFAULT_HEAP_GROWTH_PERCENT = 100;

/** `--heap-growth-percent` (or `heapGrowthPercent` in --config); 0 leaves V8's own policy. */
export function heapGrowthPercent(f: ServeFlags, file = configFileOf(f)): number {
  const v: unknown = f.heapGrowthPercent ?? (file as { heapGrowthPercent?: unknown }).heapGrowthPercent;
  if (v === undefined) return DEFAULT_HEAP_GROWTH_PERCENT;
  const n = wholeNumber(v);
  if (!Number.isSafeInteger(n) || n < 0 || n > 1000) throw new ConfigError(`--heap-growth-percent: expected a whole number from 0 to 1000, got ${JSON.stringify(v)}`);
  return n;
}

/** How long a clean stop after SIGTERM or SIGINT may take before the process exits anyway (ms). */
export const SIGNAL_STOP_DEADLINE_MS = 10_000;

/** `tsraft serve`: runs one node until SIGTERM or SIGINT. Returns the exit code (docs/OPERATIONS.md, "Exit codes"). */
export async function serve(f: ServeFlags, err: (l: string) => void = (l) => console.error(l), exit: (code: number) => void = (code) => process.exit(code)): Promise<number> {
  let server: TsraftServer | undefined;
  // A fatal error (a refused identity, a failed disk, a broken invariant) ends the process with its
  // exit code within a second: one error-level log line naming the cause, a clean stop if it is quick, then exit.
  let dying = false;
  let fatalBeforeStart: unknown;
  const die = (e: unknown): void => {
    if (dying) return;
    dying = true;
    const code = exitCodeFor(e);
    const cause = exitMeaning(code);
    const running = server!;
    running.logger.error({ err: e, exitCode: code, cause }, `fatal: ${cause}: ${e instanceof Error ? e.message : String(e)}; exiting with code ${code}`);
    err(`tsraft serve: ${e instanceof PeerIdentityError ? e.message : `stopped: ${cause}: ${e instanceof Error ? e.message : String(e)}`} (exit code ${code})`);
    stopThenExit(code, () => running.stop(`fatal: ${cause}`), {
      exit: (c) => {
        running.logger.flush();
        exit(c);
      },
      onDeadline: (ms) => err(`tsraft serve: the clean stop did not finish within ${ms} ms; exiting anyway`),
      onStopError: (se) => err(`tsraft serve: the clean stop failed: ${se instanceof Error ? se.message : String(se)}`),
    });
  };
  const onFatal = (e: unknown): void => {
    if (server === undefined) fatalBeforeStart ??= e;
    else die(e);
  };
  try {
    const file = configFileOf(f);
    const config = serveConfig(f, file);
    const growth = heapGrowthPercent(f, file);
    // The process is the node's own: its heap policy is set here, not by TsraftServer, which may share a process.
    if (growth > 0) setFlagsFromString(`--heap-growing-percent=${growth}`);
    server = await TsraftServer.start(config, { onFatal });
  } catch (e) {
    const code = exitCodeFor(e);
    if (code !== ExitCode.internal) {
      const why = (e as NodeJS.ErrnoException).code === 'EADDRINUSE' ? `${(e as Error).message}: another process uses that port` : (e as Error).message;
      err(`tsraft serve: ${why} (exit code ${code}, ${exitMeaning(code)})`);
      if (code === ExitCode.dataDamaged) err('tsraft serve: the data directory is damaged; see docs/OPERATIONS.md, "Recovering a node that refuses to start"');
      return code;
    }
    throw e;
  }
  if (fatalBeforeStart !== undefined) die(fatalBeforeStart);
  const running = server;
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (why: string): void => {
      if (dying) return;
      if (stopping) {
        // A second signal: the operator does not want to wait for the clean stop.
        err(`tsraft serve: ${why} again: exiting without waiting for the clean stop`);
        exit(ExitCode.internal);
        return;
      }
      stopping = true;
      running.logger.info({ why }, 'signal received');
      // A clean stop waits for the write in flight; a wedged disk must not keep the process alive for ever.
      setTimeout(() => {
        err(`tsraft serve: the clean stop did not finish within ${SIGNAL_STOP_DEADLINE_MS} ms; exiting anyway`);
        running.logger.flush();
        exit(ExitCode.internal);
      }, SIGNAL_STOP_DEADLINE_MS).unref();
      running.stop(why).then(
        () => resolve(ExitCode.ok),
        (e: unknown) => {
          err(`tsraft serve: the clean stop failed: ${e instanceof Error ? e.message : String(e)}`);
          resolve(exitCodeFor(e) === ExitCode.internal ? ExitCode.internal : exitCodeFor(e));
        },
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
}
