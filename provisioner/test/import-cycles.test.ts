// Layering guard (DESIGN.md "Layout"): the product's modules form no runtime import cycle, and
// the lower layers never reach up — firmware-js imports nothing of ours, certs only firmware-js,
// provisioner never the virtual board (sim:// boards register themselves from hil-tests).
// Type-only imports are erased at run time and do not count.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../scripts/lib/oracles.ts';

const ROOTS = ['firmware-js', 'certs', 'provisioner', 'hil-tests/virtual-esp32', 'hil-tests/mjs'];

function productFiles(): string[] {
  const files: string[] = [];
  for (const dir of ROOTS) {
    for (const name of readdirSync(join(repoRoot, dir), { recursive: true }) as string[]) {
      if (name.endsWith('.ts') && !name.split('/').includes('test')) files.push(join(dir, name));
    }
  }
  return files;
}

/** Static and dynamic runtime imports of one file, as repo-relative paths. */
function runtimeImports(file: string): string[] {
  const text = readFileSync(join(repoRoot, file), 'utf8');
  const out: string[] = [];
  const patterns = [/^\s*import\s+(?!type\b)[^'"]*?from\s+'([^']+)'/gm, /^\s*import\s+'([^']+)'/gm, /^\s*export\s+(?!type\b)[^'"]*?from\s+'([^']+)'/gm];
  for (const re of patterns) {
    for (const m of text.matchAll(re)) {
      const spec = m[1] as string;
      // `import { type A, type B } from` erases too.
      if (/^\s*(import|export)\s*\{\s*(type\s+\w+(\s+as\s+\w+)?\s*,?\s*)+\}/.test(m[0])) continue;
      if (spec.startsWith('.')) out.push(relative(repoRoot, resolve(dirname(join(repoRoot, file)), spec)));
    }
  }
  return out;
}

describe('module layering', () => {
  const files = productFiles();
  const graph = new Map(files.map((f) => [f, runtimeImports(f)]));

  it('sees the product: every module and its imports', () => {
    expect(files.length).toBeGreaterThan(200);
    expect([...graph.values()].reduce((n, d) => n + d.length, 0)).toBeGreaterThan(500);
    expect(graph.get('provisioner/cli/program.ts')).toContain('provisioner/cli/exit.ts');
  });

  it('has no runtime import cycle in the product', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const stack: string[] = [];
    const visit = (f: string): void => {
      state.set(f, 'open');
      stack.push(f);
      for (const dep of graph.get(f) ?? []) {
        if (state.get(dep) === 'open') cycles.push([...stack.slice(stack.indexOf(dep)), dep].join(' → '));
        else if (!state.has(dep) && graph.has(dep)) visit(dep);
      }
      stack.pop();
      state.set(f, 'done');
    };
    for (const f of files) if (!state.has(f)) visit(f);
    expect(cycles).toEqual([]);
  });

  it('keeps the lower layers from reaching up', () => {
    const offences: string[] = [];
    for (const [file, deps] of graph) {
      for (const dep of deps) {
        const bad =
          (file.startsWith('firmware-js/') && !dep.startsWith('firmware-js/')) ||
          (file.startsWith('certs/') && !dep.startsWith('certs/') && !dep.startsWith('firmware-js/')) ||
          (file.startsWith('provisioner/') && dep.startsWith('hil-tests/virtual-esp32/') && !file.startsWith('provisioner/cli/commands/sim/'));
        if (bad) offences.push(`${file} → ${dep}`);
      }
    }
    expect(offences).toEqual([]);
  });
});
