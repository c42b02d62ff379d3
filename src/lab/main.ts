/** Entry of `npm run lab`: the lab suites on the lab runner (see src/lab/cli.ts). */
import { isLabWorker, labMain, labWorker } from './cli.js';
import { kvTests } from './suite/kv.js';
import { raftExtensionTests, raftTests } from './suite/raft.js';

const suite = [...raftTests, ...raftExtensionTests, ...kvTests];

if (isLabWorker()) labWorker(suite);
else process.exitCode = await labMain(suite, new URL(import.meta.url), process.argv.slice(2));
