// ESLint (flat config): @eslint/js and typescript-eslint's syntax-only `recommended` sets.
// Type-aware linting would build the whole program and is too slow for CI on 2 cores.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

export default defineConfig(
  { ignores: ['dist/', 'node_modules/', 'bench/results/', 'scratch/', 'data/', '**/.tsraft/'] },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    rules: {
      // The codebase marks deliberately unused names with a leading underscore (as tsc's
      // noUnusedParameters does), and drops fields by destructuring them into a rest.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', ignoreRestSiblings: true }],
      // `self` is kept where a callback runs with its own `this` (prom-client's collect())
      // or a hoisted function declaration needs the instance.
      '@typescript-eslint/no-this-alias': ['error', { allowedNames: ['self'] }],
    },
  },
);
