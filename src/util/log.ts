import { pino, type Logger as PinoLogger } from 'pino';

/** The structured logger used across tsraft (pino). Child loggers carry fields such as the node id. */
export type Logger = PinoLogger;

/** A JSON logger to stderr at `level` (default from TSRAFT_LOG_LEVEL, else 'info'). */
export function createLogger(opts: { level?: string; name?: string; bindings?: Record<string, unknown> } = {}): Logger {
  const level = opts.level ?? process.env['TSRAFT_LOG_LEVEL'] ?? 'info';
  const base = pino({ level, ...(opts.name !== undefined && { name: opts.name }) }, pino.destination(2));
  return opts.bindings !== undefined ? base.child(opts.bindings) : base;
}

/** A logger that writes nothing (tests, benchmarks, simulations). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
