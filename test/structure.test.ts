import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '..');

/** The TypeScript files below a folder of the repository, relative to the repository. */
function sources(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
    .map((f) => path.join(dir, f))
    .sort();
}

function lineCount(file: string): number {
  return readFileSync(path.join(ROOT, file), 'utf8').split('\n').length;
}

/** Every function, method and arrow function of a file with its name and length in lines. */
function functionLengths(file: string): { name: string; lines: number }[] {
  const text = readFileSync(path.join(ROOT, file), 'utf8');
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const found: { name: string; lines: number }[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      const start = source.getLineAndCharacterOfPosition(node.getStart()).line;
      const end = source.getLineAndCharacterOfPosition(node.getEnd()).line;
      const named = (node as { name?: ts.Node }).name;
      const line = start + 1;
      found.push({
        name: `${file}:${line} ${named ? named.getText(source) : '(anonymous)'}`,
        lines: end - start + 1,
      });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

describe('the shape of the code a reader has to hold in their head', () => {
  it('keeps the migration workflow short, with no patched() branch', () => {
    const migration = readFileSync(path.join(ROOT, 'workflows', 'migration.ts'), 'utf8');
    expect(lineCount('workflows/migration.ts')).toBeLessThan(250);
    for (const file of sources('workflows')) {
      expect(readFileSync(path.join(ROOT, file), 'utf8'), file).not.toMatch(/\bpatched\(/);
    }
    expect(migration).not.toMatch(/\blet\s/);
  });

  it('keeps every function in workflows/ and activities/ under 80 lines', () => {
    const long = [...sources('workflows'), ...sources('activities')]
      .flatMap(functionLengths)
      .filter((f) => f.lines > 80);
    expect(long).toEqual([]);
  });

  it('keeps every file in activities/ under 400 lines', () => {
    const large = sources('activities')
      .map((file) => ({ file, lines: lineCount(file) }))
      .filter((f) => f.lines > 400);
    expect(large).toEqual([]);
  });
});
