import { readFileSync } from 'node:fs';
import { ConfigError } from '../core/config.js';

/** Where something listens or can be reached. */
export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** A cluster member: its name (e.g. "n1") and its Raft address. */
export interface Member {
  readonly name: string;
  readonly raft: HostPort;
}

/** Everything a node needs to start. */
export interface ServerConfig {
  /** This node's name; one of `members`. */
  readonly name: string;
  /** Nodes of another cluster are refused at the handshake. */
  readonly clusterId: string;
  readonly dataDir: string;
  /** Where this node listens for Raft traffic. */
  readonly listen: HostPort;
  /** Where this node serves its HTTP API. */
  readonly api: HostPort;
  /**
   * The bootstrap configuration of a brand-new cluster (`--peers`), this node
   * included. Ignored once the data directory holds a cluster (addresses then
   * come from meta.json and the replicated configuration); empty when joining.
   */
  readonly members: readonly Member[];
  /** `--join URL`: an empty node asks the cluster at this API URL to add it. Ignored once the data directory holds a cluster. */
  readonly join?: string | undefined;
  /** With `join`: stay a learner instead of being promoted once caught up. */
  readonly learner?: boolean | undefined;
  /**
   * Timing, overriding the `production` profile's (src/core/config.ts): 10 ms ticks,
   * heartbeats every 10 ticks, elections after 100–200 (etcd's 100 ms / 1 s).
   */
  readonly tickMs?: number | undefined;
  readonly heartbeatTicks?: number | undefined;
  readonly electionTicks?: number | undefined;
  /** Snapshot once the log since the last snapshot holds this many bytes. Default 16 MiB. */
  readonly maxRaftState?: number;
  /** pino level. */
  readonly logLevel?: string;
  /**
   * `--tls-dir DIR`: this node's peer credentials (node.pem, node.key, ca.pem;
   * see src/security/certs.ts). Peer connections are then mutually
   * authenticated TLS, and the certificate's common name must be {@link name}.
   * Either this or {@link insecurePeers} is required.
   */
  readonly tlsDir?: string | undefined;
  /**
   * `--insecure-peers`: plain TCP between peers, where a hello's claimed
   * identity is taken on trust, so any process that reaches the Raft port can
   * act as a member (docs/SECURITY.md). The node logs a warning when it starts.
   * For development, benchmarks of the difference, and in-process tests whose
   * subject is not peer authentication.
   */
  readonly insecurePeers?: boolean | undefined;
  /** HTTPS for the API (`--api-cert`, `--api-key`: PEM files); both or neither. */
  readonly apiCertFile?: string | undefined;
  readonly apiKeyFile?: string | undefined;
  /**
   * The CA trusted for calls to other members' APIs (membership forwarding, `--join`):
   * `--api-cacert`; default the `ca.pem` next to `--api-cert`, else the one in `--tls-dir`, if any.
   */
  readonly apiCaFile?: string | undefined;
  /** Routes served without a token while auth is on (`--auth-exempt`): among `healthz`, `metrics`. Default both. */
  readonly authExempt?: readonly string[] | undefined;
  /** A token file (`--token-file`) sent with `--join`: an admin token when the cluster has auth on. */
  readonly tokenFile?: string | undefined;
  /**
   * The space quota (`--quota-bytes`): a write that would take the store's keys and values above
   * this many bytes is refused with 507 and raises the NOSPACE alarm. Default {@link DEFAULT_QUOTA_BYTES}.
   */
  readonly quotaBytes?: number | undefined;
  /** `--max-client-connections`: API connections open at once (default 1000, lowered below the file limit). */
  readonly maxClientConnections?: number | undefined;
  /** `--header-timeout-ms`: the request line and headers must arrive within this (default 10 s). */
  readonly headerTimeoutMs?: number | undefined;
  /** `--body-timeout-ms`: a request body that sends no byte for this long is cut with 408 (default 10 s). */
  readonly bodyTimeoutMs?: number | undefined;
  /**
   * `--lease-reads`: this node, as leader, serves lease reads (`?consistency=lease`) without a heartbeat
   * round while its lease holds (core option `leaseReads`; check quorum is on in the production profile).
   * Give it to every member: a member with it also refuses votes for one election timeout after it starts.
   */
  readonly leaseReads?: boolean | undefined;
  /** `--max-clock-drift-ppm`: the bound on any member's clock drift that lease reads assume (default 10000, 1%). */
  readonly maxClockDriftPpm?: number | undefined;
  /** `--read-consistency`: how reads without `?consistency=` are served; `lease` needs {@link leaseReads}. Default linearizable. */
  readonly readConsistency?: 'linearizable' | 'lease' | undefined;
  /** `--watch-history`: the changes of at least this many recent revisions are kept for watchers (default 10,000). */
  readonly watchHistory?: number | undefined;
  /** `--max-leases`: a lease grant that finds this many leases is refused with 429 `too-many-leases` (default 10,000: `DEFAULT_MAX_LEASES`). */
  readonly maxLeases?: number | undefined;
}

/** The default space quota: 2 GiB, like etcd's. */
export const DEFAULT_QUOTA_BYTES = 2 * 1024 * 1024 * 1024;

/** Parses `--quota-bytes` (a flag's string or a config file's number): an integer number of bytes >= 1. */
export function parseQuotaBytes(v: unknown, what = '--quota-bytes'): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v.trim()) ? Number(v.trim()) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw new ConfigError(`${what}: expected a whole number of bytes >= 1 (default ${DEFAULT_QUOTA_BYTES}, 2 GiB), got ${JSON.stringify(v)}`);
  return n;
}

/** The routes `--auth-exempt` may name. */
export const AUTH_EXEMPTABLE = ['healthz', 'metrics'] as const;

export { ConfigError };

/** Parses `HOST:PORT` (IPv6 hosts in brackets). */
export function parseHostPort(s: string, what: string): HostPort {
  const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(s.trim());
  if (m === null) throw new ConfigError(`${what}: expected HOST:PORT, got '${s}'`);
  const port = Number(m[2]);
  if (port > 65535) throw new ConfigError(`${what}: port ${port} is out of range`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}

/** Parses `n1=HOST:PORT,n2=HOST:PORT,...`. */
export function parsePeers(s: string): Member[] {
  const members = s
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p.length > 0)
    .map((p): Member => {
      const eq = p.indexOf('=');
      if (eq <= 0) throw new ConfigError(`--peers: expected NAME=HOST:PORT, got '${p}'`);
      const name = p.slice(0, eq);
      return { name, raft: parseHostPort(p.slice(eq + 1), `--peers ${name}`) };
    });
  if (members.length === 0) throw new ConfigError('--peers: no members given');
  return members;
}

/**
 * A member's numeric Raft id, derived from its name (FNV-1a, 31 bits), so it is
 * the same on every node and across restarts whatever the order of `--peers`.
 */
export function nodeIdOf(name: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(name, 'utf8')) h = Math.imul(h ^ b, 0x01000193);
  return (h >>> 1) || 1;
}

/** Checks a configuration; throws {@link ConfigError} naming the problem. */
export function validateConfig(c: ServerConfig): ServerConfig {
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(c.name)) throw new ConfigError(`--id: a name of letters, digits, '.', '_' or '-' is required, got '${c.name}'`);
  if (c.clusterId.length === 0) throw new ConfigError('--cluster-id must not be empty');
  if (c.dataDir.length === 0) throw new ConfigError('--data is required');
  if (c.quotaBytes !== undefined) parseQuotaBytes(c.quotaBytes);
  const names = new Set<string>();
  const ids = new Map<number, string>();
  for (const m of c.members) {
    if (names.has(m.name)) throw new ConfigError(`--peers: member ${m.name} is listed twice`);
    names.add(m.name);
    const id = nodeIdOf(m.name);
    const other = ids.get(id);
    if (other !== undefined) throw new ConfigError(`--peers: members ${other} and ${m.name} hash to the same id; rename one`);
    ids.set(id, m.name);
  }
  if (c.tlsDir === undefined && c.insecurePeers !== true) throw new ConfigError('peer credentials are required: give --tls-dir DIR (node.pem, node.key, ca.pem; see tsraft certs), or --insecure-peers to run without peer authentication');
  if (c.tlsDir !== undefined && c.insecurePeers === true) throw new ConfigError('--tls-dir and --insecure-peers exclude each other');
  if ((c.apiCertFile === undefined) !== (c.apiKeyFile === undefined)) throw new ConfigError('--api-cert and --api-key go together: give both (HTTPS) or neither (HTTP)');
  for (const r of c.authExempt ?? []) {
    if (!(AUTH_EXEMPTABLE as readonly string[]).includes(r)) throw new ConfigError(`--auth-exempt: '${r}' is not a route that can be exempt; expected a comma-separated list of ${AUTH_EXEMPTABLE.join(', ')} (or nothing)`);
  }
  for (const [flag, v] of [['--max-client-connections', c.maxClientConnections], ['--header-timeout-ms', c.headerTimeoutMs], ['--body-timeout-ms', c.bodyTimeoutMs], ['--watch-history', c.watchHistory], ['--max-leases', c.maxLeases]] as const) {
    if (v !== undefined && (!Number.isSafeInteger(v) || v < 1)) throw new ConfigError(`${flag}: expected a positive integer, got '${String(v)}'`);
  }
  if (c.readConsistency !== undefined && c.readConsistency !== 'linearizable' && c.readConsistency !== 'lease') {
    throw new ConfigError(`--read-consistency: expected linearizable or lease, got '${String(c.readConsistency)}'`);
  }
  if (c.readConsistency === 'lease' && c.leaseReads !== true) throw new ConfigError('--read-consistency lease needs --lease-reads (on every member): without it every read takes a ReadIndex round');
  if (c.maxClockDriftPpm !== undefined && (!Number.isSafeInteger(c.maxClockDriftPpm) || c.maxClockDriftPpm < 0 || c.maxClockDriftPpm > 100_000)) {
    throw new ConfigError(`--max-clock-drift-ppm: expected an integer from 0 to 100000 (parts per million), got '${String(c.maxClockDriftPpm)}'`);
  }
  if (c.join !== undefined) {
    let u: URL | null = null;
    try {
      u = new URL(c.join);
    } catch {
      // reported below
    }
    if (u === null || (u.protocol !== 'http:' && u.protocol !== 'https:')) throw new ConfigError(`--join: expected the API URL of a member (http://HOST:PORT), got '${c.join}'`);
  }
  return c;
}

/** Checks that `--peers` can bootstrap a brand-new cluster that includes this node. */
export function validateBootstrap(c: ServerConfig): void {
  if (c.members.length === 0) throw new ConfigError(`${c.dataDir} holds no cluster yet: give --peers to start a new cluster, or --join URL to join one`);
  const names = c.members.map((m) => m.name);
  if (!names.includes(c.name)) throw new ConfigError(`--id ${c.name} is not among the --peers (${names.join(', ')})`);
}

/** Reads a JSON configuration file: the same fields as the command line (see docs/API.md). */
export function readConfigFile(file: string): Partial<ServerConfig> & { peers?: string } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`--config ${file}: ${(e as Error).message}`);
  }
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('expected a JSON object');
    return v as Partial<ServerConfig> & { peers?: string };
  } catch (e) {
    throw new ConfigError(`--config ${file}: ${(e as Error).message}`);
  }
}
