/**
 * Read a JSON or YAML input file (spec, catalog, prompts, router config, simulator profile): `.json`
 * as JSON, anything else as YAML (a superset of JSON). Problems become one line naming the file,
 * thrown as the caller's own error class so each command keeps its exit code.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';

export function parseStructuredText(text: string, path: string, fail: (message: string) => Error): unknown {
  const json = /\.json$/i.test(path);
  try {
    return json ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    // The parsers' first line already says where ("… at line 2, column 1").
    throw fail(`${path}: not valid ${json ? 'JSON' : 'YAML'}: ${(e as Error).message.split('\n')[0]}`);
  }
}

export function readStructuredFile(path: string, what: string, fail: (message: string) => Error): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw fail(`${path}: cannot read ${what} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return parseStructuredText(text, path, fail);
}
