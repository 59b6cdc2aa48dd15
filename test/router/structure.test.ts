/**
 * The router's code stays readable top-down: no function in src/router longer than 100 lines (blank
 * lines and comments not counted; a class or function declared inside a function counts toward it).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const MAX_LINES = 100;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

/** Lines of `text` that hold code: comments removed, blank lines skipped. */
function codeLines(text: string): number {
  const scanner = ts.createScanner(ts.ScriptTarget.Latest, false, ts.LanguageVariant.Standard, text);
  let code = '';
  for (let k = scanner.scan(); k !== ts.SyntaxKind.EndOfFileToken; k = scanner.scan()) {
    const token = scanner.getTokenText();
    const comment = k === ts.SyntaxKind.SingleLineCommentTrivia || k === ts.SyntaxKind.MultiLineCommentTrivia;
    code += comment ? token.replace(/[^\n]/g, '') : token;
  }
  return code.split('\n').filter((l) => l.trim() !== '').length;
}

function functionLengths(file: string): Array<{ where: string; lines: number }> {
  const src = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const out: Array<{ where: string; lines: number }> = [];
  const visit = (n: ts.Node): void => {
    if (ts.isFunctionLike(n) && 'body' in n && n.body) {
      const line = src.getLineAndCharacterOfPosition(n.getStart(src)).line + 1;
      out.push({ where: `${relative(ROOT, file)}:${line}`, lines: codeLines(n.getText(src)) });
    }
    ts.forEachChild(n, visit);
  };
  visit(src);
  return out;
}

describe('router code shape', () => {
  it(`has no function longer than ${MAX_LINES} lines`, () => {
    const all = sourceFiles(join(ROOT, 'src/router')).flatMap(functionLengths);
    expect(all.length).toBeGreaterThan(50); // the scan found the router's functions
    expect(all.filter((f) => f.lines > MAX_LINES)).toEqual([]);
  });
});
