/**
 * Child processes and directories that a bench started, stopped by PID and deleted whatever
 * happens (at exit, on a failure, on Ctrl-C); the tools a bench needs from the system; and
 * what /proc says about a process.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** PIDs of the processes started by this bench that may still run. */
export const children = new Set<number>();
/** Temporary directories made by this bench. */
export const dirs = new Set<string>();

/** SIGKILLs every process still registered and deletes every directory. */
export function killAllNow(): void {
  for (const pid of children) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  children.clear();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs.clear();
}

/** Registers {@link killAllNow} for the process's exit and for SIGINT, SIGTERM and SIGHUP. */
export function stopChildrenOnExit(): void {
  process.on('exit', killAllNow);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      console.error(`\n${sig}: stopping every process started by the bench`);
      killAllNow();
      process.exit(130);
    });
  }
}

export function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** True when etcd, etcdctl and wrk are all on the PATH. */
export function haveEtcdTools(): boolean {
  return ['etcd', 'etcdctl', 'wrk'].every(have);
}

/** etcd, etcdctl and wrk, installed with apt-get when missing and root; else says what to run. */
export function ensureTools(): void {
  const missing = ['etcd', 'etcdctl', 'wrk'].filter((c) => !have(c));
  if (missing.length === 0) return;
  const cmd = 'apt-get install -y etcd-server etcd-client wrk';
  if (process.getuid?.() !== 0) throw new Error(`missing ${missing.join(', ')}: run \`sudo apt-get update && sudo ${cmd}\``);
  console.log(`missing ${missing.join(', ')}: running apt-get update && ${cmd}`);
  execFileSync('apt-get', ['update'], { stdio: 'inherit' });
  execFileSync('apt-get', ['install', '-y', 'etcd-server', 'etcd-client', 'wrk'], { stdio: 'inherit' });
}

/** The first line a command prints for its version. */
export function version(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return `${r.stdout}${r.stderr}`.split('\n')[0]?.trim() ?? '?';
}

/** The VmRSS line of a /proc/PID/status text, in MiB (rounded); NaN without one. */
export function rssMiBFromStatus(status: string): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(status);
  return m === null ? NaN : Math.round(Number(m[1]) / 1024);
}

/** The resident set of a running process in MiB; NaN once it has exited. */
export function rssMiB(pid: number): number {
  try {
    return rssMiBFromStatus(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return NaN;
  }
}
