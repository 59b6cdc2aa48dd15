// Lint: typescript-eslint's recommended rules, a function-length limit, and the import boundary that keeps
// workflow code deterministic (see WORKFLOW_CODE). Formatting is Prettier's (eslint-config-prettier turns
// off the stylistic rules that would fight it). `npm run lint` runs both; `.ci/run` runs `npm run lint`.
import js from '@eslint/js';
import boundaries from 'eslint-plugin-boundaries';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';

/**
 * Files that run inside the Temporal workflow sandbox, and every module they import by value. They may
 * import only each other, @temporalio/workflow and @temporalio/common: no zod, no node:*, no
 * @temporalio/client — so nothing non-deterministic or heavy is reachable from workflow code.
 * (`import type` is erased at build time and allowed.)
 */
export const WORKFLOW_CODE = [
  'src/workflows.ts',
  'src/rollout/workflow.ts',
  'src/rollout/machine.ts',
  'src/rollout/controls.ts',
  'src/rollout/contract.ts',
  'src/rollout/web-ui.ts',
  'src/experiment/workflow.ts',
  'src/experiment/contract.ts',
  'src/experiment/plan.ts',
  'src/experiment/aggregate.ts',
  'src/experiment/render.ts',
  'src/experiment/web-ui.ts',
  'src/decision/arm-stats.ts',
  'src/decision/cs.ts',
  'src/decision/defaults.ts',
  'src/decision/histogram.ts',
  'src/decision/paired.ts',
  'src/decision/probe-guards.ts',
  'src/decision/index.ts',
  'src/decision/seed-rule.ts',
  'src/decision/shadow.ts',
  'src/decision/verdict.ts',
  'src/format.ts',
  'src/shadow/contract.ts',
  'src/spec/duration.ts',
  'src/stats/percentile.ts',
  'src/catalog/prices.ts',
];

export default tseslint.config(
  { ignores: ['node_modules/**', 'test/histories/**', '.modelshift/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        URL: 'readonly',
        performance: 'readonly',
        AbortController: 'readonly',
        AbortSignal: 'readonly',
        fetch: 'readonly',
        structuredClone: 'readonly',
        NodeJS: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' },
      ],
      'max-lines-per-function': ['error', { max: 100, skipBlankLines: true, skipComments: true, IIFEs: true }],
    },
  },
  {
    // Tests: describe/it callbacks hold many cases; the function-length limit is for product code.
    files: ['test/**/*.ts'],
    rules: { 'max-lines-per-function': 'off' },
  },
  {
    files: ['src/**/*.ts'],
    plugins: { boundaries },
    settings: {
      'import/resolver': { typescript: { project: './tsconfig.json' } },
      'boundaries/include': ['src/**/*.ts'],
      'boundaries/elements': [
        { type: 'workflow', mode: 'full', pattern: WORKFLOW_CODE },
        { type: 'app', mode: 'full', pattern: ['src/**/*.ts'] },
      ],
    },
    rules: {
      'boundaries/dependencies': [
        'error',
        {
          default: 'allow',
          policies: [
            {
              from: { element: { type: 'workflow' } },
              disallow: [{ to: { element: { type: 'app' } }, dependency: { kind: 'value' } }],
              message: 'workflow code may import only workflow-safe modules (WORKFLOW_CODE in eslint.config.js)',
            },
          ],
        },
      ],
    },
  },
  {
    // …and of packages only these two (not zod, node:*, @temporalio/client or anything else).
    files: WORKFLOW_CODE,
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(?!@temporalio/(workflow|common)$)[^.]',
              allowTypeImports: true,
              message: 'workflow code may import only @temporalio/workflow and @temporalio/common (and `import type` of anything)',
            },
          ],
        },
      ],
    },
  },
  prettier,
);
