#!/usr/bin/env node
/** The `tsraft` command. */
import { Command, CommanderError } from 'commander';
import { runCheck } from './check.js';

const program = new Command();
program.name('tsraft').description('Raft consensus and a replicated key-value store').exitOverride();

program
  .command('check')
  .description('check a key-value history (a JSON array of operations) for linearizability')
  .argument('<history>', 'the history file: [{ clientId, op, key, value?, expected?, output?, call, return, status }]')
  .option('--timeout <seconds>', 'time budget; past it the verdict is unknown', '60')
  .option('--html <dir>', 'directory for the HTML report of a non-linearizable history (default: the temp directory)')
  .action((history: string, opts: { timeout: string; html?: string }) => {
    process.exitCode = runCheck(history, opts);
  });

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) process.exitCode = e.exitCode === 0 ? 0 : 3;
  else throw e;
}
