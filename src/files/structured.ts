/**
 * Read a JSON or YAML input file (spec, catalog, prompts, router config, simulator profile): `.json`
 * as JSON, anything else as YAML (a superset of JSON). Problems become one line naming the file,
 * thrown as the caller's own error class so each command keeps its exit code.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml, parseDocument } from 'yaml';

export function parseStructuredText(text: string, path: string, fail: (message: string) => Error): unknown {
  const json = /\.json$/i.test(path);
  let value: unknown;
  try {
    value = json ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    // The parsers' first line already says where ("… at line 2, column 1").
    throw fail(`${path}: not valid ${json ? 'JSON' : 'YAML'}: ${(e as Error).message.split('\n')[0]}`);
  }
  if (json) {
    // JSON.parse keeps the last of two equal keys; a typo'd duplicate must not silently win (YAML refuses them too).
    const dup = parseDocument(text, { uniqueKeys: true }).errors.find((e) => e.code === 'DUPLICATE_KEY');
    if (dup) throw fail(`${path}: not valid JSON: ${dup.message.split('\n')[0]}`);
  }
  return value;
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
