/** Entry of `npm run lab`: the lab suites on the lab runner (see src/lab/cli.ts). */
import { isLabWorker, labMain, labWorker } from '../../src/lab/cli.js';
import { kvTests } from './kv-tests.js';
import { raftTests } from './raft-tests.js';

const suite = [...raftTests, ...kvTests];

if (isLabWorker()) labWorker(suite);
else process.exitCode = await labMain(suite, new URL(import.meta.url), process.argv.slice(2));
