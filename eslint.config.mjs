// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { createNodeResolver, importX } from 'eslint-plugin-import-x';
import { builtinModules } from 'node:module';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      '.pgferry/**',
      'test-artifacts/**',
      'bin/**',
      'scripts/**',
      'docs/**',
      'eslint.config.mjs',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { 'import-x': importX },
    settings: {
      // Our imports name .ts files without an extension, as TypeScript resolves them; import-x
      // parses the modules it follows (for no-cycle) with the TypeScript parser.
      'import-x/extensions': ['.ts', '.mts', '.js', '.mjs', '.cjs'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts', '.mts'] },
      'import-x/resolver-next': [
        createNodeResolver({ extensions: ['.ts', '.d.ts', '.js', '.mjs', '.cjs', '.json', '.node'] }),
      ],
    },
    rules: {
      // Layers import downward only (DESIGN.md): a cycle is a layer, or a module, that knows too much.
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      // One import statement per module; `import { a, type B }` keeps a type with its values.
      'import-x/no-duplicates': ['error', { 'prefer-inline': true }],
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      '@typescript-eslint/only-throw-error': 'error',
      // Interfaces such as PayloadCodec ask for promises even where the work is synchronous.
      '@typescript-eslint/require-await': 'off',
      'no-restricted-syntax': [
        'error',
        { selector: 'ExportAllDeclaration', message: 'Named exports only: no `export *` barrels.' },
      ],
    },
  },
  {
    // Workflows are deterministic: no Node builtins, no pg, no activity values, no clock or randomness.
    files: ['workflows/**/*.ts', 'domain/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            ...nodeBuiltins.map((name) => ({
              name,
              message: 'Workflows and domain code must not use Node builtins.',
            })),
            { name: 'pg', message: 'Database access belongs in activities.' },
            { name: '@temporalio/activity', message: 'Workflows call activities through proxyActivities.' },
            { name: '@temporalio/worker', message: 'Worker code does not belong in workflows.' },
            { name: '@temporalio/client', message: 'Client code does not belong in workflows.' },
          ],
          patterns: [
            {
              group: ['../activities', '../activities/*', '../activities/**', '../worker/**', '../client/**'],
              allowTypeImports: true,
              message: 'Import activities as types only (import type).',
            },
          ],
        },
      ],
      'no-restricted-properties': [
        'error',
        { object: 'Math', property: 'random', message: 'Use the workflow-safe uuid4() or none at all.' },
        { object: 'Date', property: 'now', message: 'Workflow time comes from the history, not the clock.' },
      ],
    },
  },
  {
    files: [
      'test/**/*.ts',
      'bench/**/*.ts',
      'chaos/**/*.ts',
      'examples/**/*.ts',
      'vitest.config.mts',
      'vitest.record.config.mts',
      'vitest.long.config.mts',
    ],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
);
