#!/usr/bin/env node
/** Entry of `npm run sim`: seeded whole-cluster simulation (see src/sim/cli.ts and docs/TESTING.md). */
import { simMain } from './cli.js';

process.exitCode = await simMain(process.argv.slice(2));
