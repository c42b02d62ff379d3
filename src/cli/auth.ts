/** `tsraft auth ...`: turn auth on and off, manage roles and tokens (docs/SECURITY.md, "Clients: HTTPS and tokens"). */
import { KvClient, KvClientError, type AuthRole } from '../client/index.js';
import { connectOptions, endpointsFrom, stdio, table, type ConnectFlags, type Io } from './output.js';

export interface AuthFlags extends ConnectFlags {
  readonly endpoints?: string;
  readonly json?: boolean;
}

function client(flags: AuthFlags): KvClient {
  return new KvClient({ endpoints: endpointsFrom(flags.endpoints), discover: false, ...connectOptions(flags) });
}

async function run<T>(what: string, flags: AuthFlags, io: Io, op: (c: KvClient) => Promise<T>, human: (r: T) => string[]): Promise<number> {
  try {
    const r = await op(client(flags));
    if (flags.json === true) io.out(JSON.stringify(r ?? {}, null, 2));
    else for (const l of human(r)) io.out(l);
    return 0;
  } catch (e) {
    if (e instanceof KvClientError) {
      io.err(`tsraft auth ${what}: ${e.message}${e.status > 0 ? ` (HTTP ${e.status} ${e.code})` : ''}`);
      return 1;
    }
    throw e;
  }
}

/** `tsraft auth status`. */
export function authStatus(flags: AuthFlags, io: Io = stdio): Promise<number> {
  return run('status', flags, io, (c) => c.authStatus(), (s) => [`auth is ${s.enabled ? 'enabled' : 'disabled'}${s.token !== null ? `; this token is ${s.token}` : ''}`]);
}

/** `tsraft auth enable`: prints the root token once. */
export function authEnable(flags: AuthFlags, io: Io = stdio): Promise<number> {
  return run('enable', flags, io, (c) => c.authEnable(), (r) => [
    'auth enabled; the root token (shown only now):',
    r.token,
    ...(r.file !== null ? [`the node that handled the request also wrote it to ${r.file} (mode 0600)`] : []),
  ]);
}

/** `tsraft auth disable`. */
export function authDisable(flags: AuthFlags, io: Io = stdio): Promise<number> {
  return run('disable', flags, io, (c) => c.authDisable(), () => ['auth disabled: every request is allowed; roles and tokens are kept']);
}

/** `tsraft auth role add NAME [--read PREFIX]... [--write PREFIX]... [--admin]`. */
export function roleAdd(name: string, flags: AuthFlags & { read?: string[]; write?: string[]; admin?: boolean }, io: Io = stdio): Promise<number> {
  const role: AuthRole = { name, read: flags.read ?? [], write: flags.write ?? [], admin: flags.admin === true };
  return run('role add', flags, io, (c) => c.addRole(role), () => [`role ${name}: ${describeRole(role)}`]);
}

function describeRole(r: AuthRole): string {
  const list = (ps: readonly string[]): string => (ps.length === 0 ? 'nothing' : ps.map((p) => (p === '' ? 'every key' : JSON.stringify(p) + '*')).join(', '));
  return `read ${list(r.read)}; write ${list(r.write)}${r.admin ? '; admin' : ''}`;
}

/** `tsraft auth role list`. */
export function roleList(flags: AuthFlags, io: Io = stdio): Promise<number> {
  return run('role list', flags, io, (c) => c.roles(), (roles) => table([['ROLE', 'READ', 'WRITE', 'ADMIN'], ...roles.map((r) => [r.name, r.read.map((p) => JSON.stringify(p)).join(' '), r.write.map((p) => JSON.stringify(p)).join(' '), r.admin ? 'yes' : ''])]));
}

/** `tsraft auth role remove NAME`. */
export function roleRemove(name: string, flags: AuthFlags, io: Io = stdio): Promise<number> {
  return run('role remove', flags, io, (c) => c.removeRole(name), () => [`role ${name} removed; tokens that had it lost it`]);
}

/** `tsraft auth token create NAME --role ROLE[,ROLE]`: prints the token once. */
export function tokenCreate(name: string, flags: AuthFlags & { role: string }, io: Io = stdio): Promise<number> {
  const roles = flags.role
    .split(',')
    .map((r) => r.trim())
    .filter((r) => r.length > 0);
  return run('token create', flags, io, (c) => c.createToken(name, roles), (r) => [r.token, `(token ${r.name} with role${r.roles.length > 1 ? 's' : ''} ${r.roles.join(', ')}; it is shown only now: keep it in a file of mode 0600)`]);
}

/** `tsraft auth token list`. */
export function tokenList(flags: AuthFlags, io: Io = stdio): Promise<number> {
  return run('token list', flags, io, (c) => c.tokens(), (ts) => table([['TOKEN', 'ROLES'], ...ts.map((t) => [t.name, t.roles.join(',')])]));
}

/** `tsraft auth token revoke NAME`. */
export function tokenRevoke(name: string, flags: AuthFlags, io: Io = stdio): Promise<number> {
  return run('token revoke', flags, io, (c) => c.revokeToken(name), () => [`token ${name} revoked: every node refuses it once it has applied the revocation`]);
}
