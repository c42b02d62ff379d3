#!/usr/bin/env node
/** The `tsraft` command. */
import { Command, CommanderError } from 'commander';
import { alarmDisarm, alarmList } from './alarm.js';
import { authDisable, authEnable, authStatus, roleAdd, roleList, roleRemove, tokenCreate, tokenList, tokenRevoke, type AuthFlags } from './auth.js';
import { backupCommand, restoreCommand, type RestoreFlags } from './backup.js';
import { runCheck } from './check.js';
import { cluster } from './cluster.js';
import { certsCa, certsNode } from './certs.js';
import { kvCommand } from './kv.js';
import { labInit, labTest } from './lab.js';
import { leaseGrant, leaseKeepAlive, leaseList, leaseRevoke } from './lease.js';
import { leaderTransfer, memberAdd, memberList, memberPromote, memberRemove } from './member.js';
import { FlagFileError } from './output.js';
import { serve } from './serve.js';
import { statusCommand } from './status.js';

const CACERT_HELP = 'the CA certificate to trust for https:// endpoints (default: TSRAFT_CACERT; `tsraft cluster --tls` writes <data>/ca.pem)';
const TOKEN_HELP = 'a file holding the bearer token to send (default: the token in TSRAFT_TOKEN)';

const ENDPOINTS_HELP = 'node API URLs, comma-separated (default: TSRAFT_ENDPOINTS, else the local cluster of `tsraft cluster`)';

/** `--endpoints`, `--cacert`, `--token-file` and `--json`: what every admin command (member, leader, alarm, auth) takes. */
function connectFlags(c: Command, jsonHelp = 'print the JSON answer'): Command {
  return c
    .option('--endpoints <urls>', ENDPOINTS_HELP)
    .option('--cacert <file>', CACERT_HELP)
    .option('--token-file <file>', TOKEN_HELP)
    .option('--json', jsonHelp);
}

const program = new Command();
program.name('tsraft').description('Raft consensus and a replicated, linearizable key-value store').exitOverride().showHelpAfterError();

program
  .command('serve')
  .description('run one node')
  .option('--id <name>', "this node's name, one of --peers (e.g. n1)")
  .option('--data <dir>', 'data directory (WAL and snapshots)')
  .option('--listen <host:port>', 'where to accept Raft traffic from peers')
  .option('--api <host:port>', 'where to serve the HTTP API')
  .option('--peers <list>', 'every member: n1=HOST:PORT,n2=HOST:PORT,... (Raft addresses, this node included)')
  .option('--cluster-id <id>', 'peers of another cluster are refused', undefined)
  .option('--config <file>', 'a JSON file with the same settings (id, data, listen, api, peers, clusterId, logLevel, heartbeatMs, electionMs, tlsDir, insecurePeers, quotaBytes, apiCert, apiKey, apiCacert, authExempt, tokenFile, maxClientConnections, headerTimeoutMs, bodyTimeoutMs, leaseReads, maxClockDriftPpm, readConsistency, watchHistory, maxLeases, heapGrowthPercent, maxRaftState: the snapshot threshold in bytes of log, default 16 MiB)')
  .option('--heartbeat-ms <ms>', 'leader heartbeat interval (default 100)')
  .option('--election-ms <ms>', 'election timeout, randomized up to twice this (default 1000)')
  .option('--log-level <level>', 'trace, debug, info, warn, error (default info, or TSRAFT_LOG_LEVEL)')
  .option('--join <url>', 'with an empty --data: ask the cluster at this member API URL to add this node (no --peers needed)')
  .option('--learner', 'with --join: stay a learner (otherwise promoted to voter once caught up)')
  .option('--tls-dir <dir>', "peer TLS credentials: node.pem (CN = --id), node.key, ca.pem (make them with tsraft certs)")
  .option('--insecure-peers', 'no peer authentication: plain TCP between peers (development only; logs a warning)')
  .option('--quota-bytes <n>', 'space quota: writes that would take the keys and values above N bytes get 507 and raise the NOSPACE alarm (default 2147483648, 2 GiB)')
  .option('--api-cert <file>', 'serve the API over HTTPS only, with this certificate (PEM); needs --api-key')
  .option('--api-key <file>', "the API certificate's private key (PEM)")
  .option('--api-cacert <file>', "the CA trusted for other members' HTTPS APIs (default: ca.pem next to --api-cert, else the one in --tls-dir)")
  .option('--auth-exempt <list>', "routes served without a token while auth is on: healthz,metrics (default both; '' protects both)")
  .option('--token-file <file>', 'with --join: a file holding an admin token (needed when the cluster has auth on)')
  .option('--max-client-connections <n>', 'API connections open at once; above it a client gets 503 (default 1000, lowered to stay below the open-file limit)')
  .option('--header-timeout-ms <ms>', 'a request line and headers must arrive within this, else 408 (default 10000)')
  .option('--body-timeout-ms <ms>', 'a request body that sends no byte for this long is cut with 408 (default 10000)')
  .option('--lease-reads', 'as leader, serve ?consistency=lease reads from a lease without a heartbeat round (give it to every member; docs/OPERATIONS.md)')
  .option('--max-clock-drift-ppm <n>', 'the bound on any member\'s clock drift that lease reads assume, in parts per million (default 10000)')
  .option('--read-consistency <mode>', 'reads without ?consistency=: linearizable (default) or lease (needs --lease-reads)')
  .option('--watch-history <n>', 'keep the changes of at least the last N revisions in memory, for watchers that start from a past revision (default 10000)')
  .option('--max-leases <n>', 'refuse a lease grant (429 too-many-leases) once the store holds N leases (default 10000; give every member the same)')
  .option('--heap-growth-percent <n>', "how far the JavaScript heap may grow past what the last full garbage collection kept before the next one (default 100; 0: V8's own policy, which uses more memory under load)")
  .action(async (opts: Record<string, string | undefined>) => {
    process.exitCode = await serve(opts);
  });

program
  .command('cluster')
  .description('run a local cluster of child processes on loopback (npm start); Ctrl-C stops it')
  .option('--nodes <n>', 'number of nodes', '3')
  .option('--data <dir>', 'data directory of the cluster (one subdirectory per node)', './data')
  .option('--base-port <port>', 'node i takes Raft port base+i and API port base+100+i', '7000')
  .option('--cluster-id <id>', 'cluster id', 'local')
  .option('--host <host>', 'address to listen on', '127.0.0.1')
  .option('--tls', "serve every node's API over HTTPS with certificates of a development CA; writes <data>/ca.pem")
  .option('--auth', 'enable auth once the cluster is up; writes the root token to <data>/root.token (0600)')
  .action(async (opts: { nodes: string; data: string; basePort: string; clusterId: string; host: string; tls?: boolean; auth?: boolean }) => {
    process.exitCode = await cluster(opts);
  });

const lab = program.command('lab').description('the 6.824 Raft lab for learners: your Raft, our tester, in seeded virtual time (docs/LEARN.md)');
lab
  .command('init')
  .description('write a project for your own Raft in TypeScript (src/raft.ts, the lab\'s skeleton), tested by `npm test`')
  .argument('<dir>', 'a new or empty directory')
  .action((dir: string) => {
    process.exitCode = labInit(dir);
  });
lab
  .command('test')
  .description('in a project made by `tsraft lab init`: type-check src/, compile it, run the 28 Raft tests against it (npm test); takes the options of npm run lab (--grep, --seed, --runs, --trace, ...)')
  .helpOption(false)
  .allowUnknownOption()
  .allowExcessArguments()
  .argument('[options...]', 'options of npm run lab, e.g. --grep 2A --seed 7')
  .action(async (options: string[]) => {
    process.exitCode = await labTest(options);
  });

const certs = program.command('certs').description('a cluster CA and member certificates for peer TLS (docs/SECURITY.md)');
certs
  .command('ca')
  .description('create a new CA: DIR/ca.pem and DIR/ca.key')
  .option('--out <dir>', 'where to write the CA (refuses to replace an existing one)')
  .action(async (opts: { out?: string }) => {
    process.exitCode = await certsCa(opts);
  });
certs
  .command('node')
  .description("create a member's certificate signed by a CA: DIR/node.pem, DIR/node.key, DIR/ca.pem (a --tls-dir)")
  .argument('<name>', 'the member name (its --id); becomes the certificate common name')
  .option('--ca <dir>', 'the CA directory (ca.pem, ca.key), e.g. <data>/ca of tsraft cluster')
  .option('--out <dir>', 'where to write the certificate (replaces an older one)')
  .option('--host <host>', 'another host name or IP the certificate is valid for (repeatable)', (v: string, prev: string[]) => [...prev, v], [] as string[])
  .action(async (name: string, opts: { ca?: string; out?: string; host?: string[] }) => {
    process.exitCode = await certsNode(name, opts);
  });

program
  .command('kv')
  .description('one key-value operation: get KEY | put KEY VALUE | append KEY VALUE | del KEY | cas KEY EXPECTED NEW | list PREFIX | watch PREFIX | txn --if ... --then ... --else ...')
  .argument('<op>', 'get, put, append, del, cas, list, watch or txn')
  .argument('[args...]', 'key and values')
  .option('--endpoints <urls>', 'node API URLs, comma-separated (default: TSRAFT_ENDPOINTS, else the local cluster of `tsraft cluster`)')
  .option('--cacert <file>', CACERT_HELP)
  .option('--token-file <file>', TOKEN_HELP)
  .option('--stale', 'get/list: read this node\'s state without confirming with the leader')
  .option('--consistency <mode>', 'get/list: linearizable (ReadIndex), lease (a leader lease, if the cluster runs --lease-reads) or stale (default: the server\'s --read-consistency)')
  .option('--absent', 'cas: swap only if the key does not exist (cas --absent KEY NEW)')
  .option('--from-revision <r>', 'watch: start at revision R (inclusive; to resume, the last revision printed + 1); default: changes from now on')
  .option('--json', 'watch: print each change as one JSON object per line; txn: print the answer as JSON')
  .option('--if <compare>', "txn: a compare, all must hold: 'value(KEY) OP VALUE', 'mod(KEY) OP N', 'create(KEY) OP N' (OP: = != < >), 'exists(KEY)', 'missing(KEY)' (repeatable)", (v: string, prev: string[]) => [...prev, v], [] as string[])
  .option('--then <op>', "txn: an operation if every compare holds: 'put KEY VALUE', 'del KEY', 'get KEY' (repeatable, in order)", (v: string, prev: string[]) => [...prev, v], [] as string[])
  .option('--else <op>', 'txn: an operation if a compare does not hold (repeatable, in order)', (v: string, prev: string[]) => [...prev, v], [] as string[])
  .option('--file <file>', 'txn: the request as JSON {compare, success, failure} (- for stdin), instead of --if/--then/--else')
  .option('--lease <id>', 'put: attach the key to this lease (tsraft lease grant); it is deleted when the lease expires or is revoked')
  .action(async (op: string, args: string[], opts: { endpoints?: string; stale?: boolean; consistency?: string; absent?: boolean; fromRevision?: string; json?: boolean; if?: string[]; then?: string[]; else?: string[]; file?: string; lease?: string }) => {
    // watch runs until Ctrl-C: the first SIGINT ends it cleanly.
    const ac = new AbortController();
    if (op === 'watch') process.once('SIGINT', () => ac.abort());
    process.exitCode = await kvCommand(op, args, opts, undefined, ac.signal);
  });

program
  .command('status')
  .description("print every node's id, role, term, leader, commit, applied and last index, then the members (voters, learners) and each one's lag")
  .option('--endpoints <urls>', 'node API URLs, comma-separated (default: TSRAFT_ENDPOINTS, else the local cluster)')
  .option('--cacert <file>', CACERT_HELP)
  .option('--token-file <file>', TOKEN_HELP)
  .action(async (opts: { endpoints?: string }) => {
    process.exitCode = await statusCommand(opts);
  });

type AdminOpts = { endpoints?: string; json?: boolean };

const member = program.command('member').description('list, add, promote and remove the members of a running cluster (docs/OPERATIONS.md)');
connectFlags(
  member
    .command('list')
    .description('every member: name, role (voter or learner), leader, addresses, match index and lag'),
  'print the JSON of GET /v1/members',
).action(async (opts: AdminOpts) => {
  process.exitCode = await memberList(opts);
});
connectFlags(
  member
    .command('add')
    .description('add a node (as a learner, promoted to voter once caught up unless --learner); then start it with `tsraft serve --join`')
    .argument('<name>', "the new node's name (A-Z a-z 0-9 . _ -, at most 64; never a former member's)")
    .requiredOption('--peer <host:port>', 'where the new node accepts Raft traffic')
    .requiredOption('--api <url>', "the new node's HTTP API URL (http://HOST:PORT)")
    .option('--learner', 'keep it a learner (it receives the log but never votes)')
).action(async (name: string, opts: AdminOpts & { peer: string; api: string; learner?: boolean }) => {
  process.exitCode = await memberAdd(name, opts);
});
connectFlags(
  member
    .command('promote')
    .description('make a learner a voter (it must have caught up with the leader)')
    .argument('<name>', 'the learner')
).action(async (name: string, opts: AdminOpts) => {
  process.exitCode = await memberPromote(name, opts);
});
connectFlags(
  member
    .command('remove')
    .description('remove a member, the leader included (it hands over leadership first)')
    .argument('<name>', 'the member')
).action(async (name: string, opts: AdminOpts) => {
  process.exitCode = await memberRemove(name, opts);
});

const leader = program.command('leader').description('leadership of a running cluster');
connectFlags(
  leader
    .command('transfer')
    .description('hand leadership to another voter (before maintenance on the leader); prints the new leader')
    .option('--to <name>', 'the voter to hand it to (default: the most up-to-date one)')
).action(async (opts: AdminOpts & { to?: string }) => {
  process.exitCode = await leaderTransfer(opts);
});

const alarm = program.command('alarm').description('the store\'s alarms: NOSPACE when the space quota (--quota-bytes) is reached (docs/OPERATIONS.md)');
connectFlags(alarm.command('list').description('the active alarms (the JSON of GET /v1/alarms with --json)')).action(async (opts: AdminOpts) => {
  process.exitCode = await alarmList(opts);
});
connectFlags(alarm.command('disarm').description('disarm the alarms (admin; after freeing space: delete keys); the next write above the quota raises NOSPACE again')).action(async (opts: AdminOpts) => {
  process.exitCode = await alarmDisarm(opts);
});

const lease = program.command('lease').description('leases: keys that are deleted when their lease expires or is revoked (docs/API.md "Leases")');
connectFlags(lease.command('grant').description('grant a lease of TTL seconds; prints its id').argument('<ttl>', 'time to live, seconds')).action(async (ttl: string, opts: AdminOpts) => {
  process.exitCode = await leaseGrant(ttl, opts);
});
connectFlags(lease.command('keepalive').description('keep a lease alive: a renewal every third of its TTL until Ctrl-C (--once: one renewal)').argument('<id>', 'the lease id').option('--once', 'renew once and exit')).action(async (id: string, opts: AdminOpts & { once?: boolean }) => {
  const ac = new AbortController();
  process.once('SIGINT', () => ac.abort());
  process.exitCode = await leaseKeepAlive(id, opts, undefined, ac.signal);
});
connectFlags(lease.command('revoke').description('revoke a lease: its keys are deleted at once').argument('<id>', 'the lease id')).action(async (id: string, opts: AdminOpts) => {
  process.exitCode = await leaseRevoke(id, opts);
});
connectFlags(lease.command('list').description('every lease: id, TTL, seconds remaining, keys (the JSON of GET /v1/leases with --json)')).action(async (opts: AdminOpts) => {
  process.exitCode = await leaseList(opts);
});

const auth = program.command('auth').description('tokens and roles: enable or disable auth, manage roles and tokens (docs/SECURITY.md)');
connectFlags(auth.command('status').description('whether auth is enabled, and the name of the token used')).action(async (opts: AuthFlags) => {
  process.exitCode = await authStatus(opts);
});
connectFlags(auth.command('enable').description('enable auth: creates a root token, printed once (and written to root.token on the node that handled it)')).action(async (opts: AuthFlags) => {
  process.exitCode = await authEnable(opts);
});
connectFlags(auth.command('disable').description('disable auth (admin): every request is allowed again; roles and tokens are kept')).action(async (opts: AuthFlags) => {
  process.exitCode = await authDisable(opts);
});
const role = auth.command('role').description('roles: read and write permissions on key prefixes, and admin');
const collect = (v: string, prev: string[] = []): string[] => [...prev, v];
connectFlags(
  role
    .command('add')
    .description('add a role (or replace the one of that name)')
    .argument('<name>', 'the role name (A-Z a-z 0-9 . _ -)')
    .option('--read <prefix>', 'may read keys starting with PREFIX ("" for every key); repeatable', collect)
    .option('--write <prefix>', 'may write keys starting with PREFIX ("" for every key); repeatable', collect)
    .option('--admin', 'may change membership, transfer leadership, take backups, manage auth and disarm alarms'),
).action(async (name: string, opts: AuthFlags & { read?: string[]; write?: string[]; admin?: boolean }) => {
  process.exitCode = await roleAdd(name, opts);
});
connectFlags(role.command('list').description('every role and its permissions')).action(async (opts: AuthFlags) => {
  process.exitCode = await roleList(opts);
});
connectFlags(role.command('remove').description('remove a role (tokens that had it lose it); the built-in root role cannot be removed').argument('<name>', 'the role')).action(async (name: string, opts: AuthFlags) => {
  process.exitCode = await roleRemove(name, opts);
});
const token = auth.command('token').description('bearer tokens: each has a name and roles');
connectFlags(token.command('create').description('create a token; prints it once').argument('<name>', 'the token name').requiredOption('--role <roles>', 'its roles, comma-separated')).action(
  async (name: string, opts: AuthFlags & { role: string }) => {
    process.exitCode = await tokenCreate(name, opts);
  },
);
connectFlags(token.command('list').description('every token: name and roles (never the secret)')).action(async (opts: AuthFlags) => {
  process.exitCode = await tokenList(opts);
});
connectFlags(token.command('revoke').description('revoke a token: every node refuses it once the revocation is applied').argument('<name>', 'the token')).action(async (name: string, opts: AuthFlags) => {
  process.exitCode = await tokenRevoke(name, opts);
});

program
  .command('check')
  .description('check a key-value history (a JSON array of operations) for linearizability')
  .argument('<history>', 'the history file: [{ clientId, op, key, value?, expected?, output?, call, return, status }]')
  .option('--timeout <seconds>', 'time budget; past it the verdict is unknown', '60')
  .option('--html <dir>', 'directory for the HTML report of a non-linearizable history (default: the temp directory)')
  .action((history: string, opts: { timeout: string; html?: string }) => {
    process.exitCode = runCheck(history, opts);
  });

program
  .command('backup')
  .description('write a consistent, checksummed backup of a live cluster to FILE')
  .argument('<file>', 'the backup file to write (replaced atomically)')
  .option('--endpoints <urls>', 'node API URLs, comma-separated; the first that answers gives the backup (default: TSRAFT_ENDPOINTS, else the local cluster)')
  .option('--cacert <file>', CACERT_HELP)
  .option('--token-file <file>', TOKEN_HELP)
  .action(async (file: string, opts: { endpoints?: string }) => {
    process.exitCode = await backupCommand(file, opts);
  });

program
  .command('restore')
  .description('seed a NEW one-node cluster from a backup FILE, or (unsafe) from a stopped survivor with --from-data')
  .argument('[file]', 'a backup file written by `tsraft backup`')
  .option('--data <dir>', 'the new node\'s data directory (must not exist or be empty)')
  .option('--id <name>', "the new node's name")
  .option('--listen <host:port>', 'its Raft address')
  .option('--api <host:port>', 'its HTTP API address')
  .option('--cluster-id <id>', 'the NEW cluster id (must differ from the old one)')
  .option('--from-data <dir>', "a stopped survivor's data directory: replay its snapshot and whole log (needs --unsafe-force-new-cluster)")
  .option('--unsafe-force-new-cluster', 'accept that acknowledged writes may be lost and uncommitted ones may appear (majority lost for good)')
  .option('--tls-dir <dir>', "the new node's peer TLS directory, for the printed tsraft serve command (tsraft certs node)")
  .action(async (file: string | undefined, opts: RestoreFlags) => {
    process.exitCode = await restoreCommand(file, opts);
  });

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) process.exitCode = e.exitCode === 0 ? 0 : 2;
  else if (e instanceof FlagFileError) {
    console.error(`tsraft: ${e.message}`);
    process.exitCode = 2;
  } else throw e;
}
