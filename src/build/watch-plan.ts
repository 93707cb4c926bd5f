// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Which modules a batch of file changes affects. Pure: the watcher feeds it
 * paths and the dependency map it learnt from esbuild's metafiles.
 */
import { isEntry, moduleName } from './build.ts';

export type ChangeKind = 'add' | 'change' | 'unlink';

export interface Plan {
  /** Entries to build (new or affected), by module name → entry file. */
  build: Map<string, string>;
  /** Modules whose entry was deleted. */
  remove: Set<string>;
}

export interface PlanState {
  srcDir: string;
  /** Known entries: module name → entry file. */
  entries: ReadonlyMap<string, string>;
  /** Module name → absolute paths its last good build read. */
  inputs: ReadonlyMap<string, ReadonlySet<string>>;
  /** Modules whose last build failed: any change may fix them. */
  failing: ReadonlySet<string>;
}

/**
 * Plans one rebuild for a batch of changes (last event per path wins).
 * A changed file rebuilds the entries whose last build read it, plus every
 * failing entry; a working build cannot depend on a file it did not read.
 */
export function planChanges(changes: ReadonlyMap<string, ChangeKind>, s: PlanState): Plan {
  const build = new Map<string, string>();
  const remove = new Set<string>();
  for (const [path, kind] of changes) {
    if (isEntry(s.srcDir, path)) {
      const name = moduleName(path);
      if (kind === 'unlink') {
        remove.add(name);
        build.delete(name);
      } else {
        build.set(name, path);
        remove.delete(name);
      }
    }
    // Entries may import each other, and helpers from subfolders or shared/.
    for (const [name, files] of s.inputs) {
      const entry = s.entries.get(name);
      if (entry !== undefined && files.has(path) && !remove.has(name)) build.set(name, entry);
    }
  }
  // A failing build read nothing we know of: any change may fix it.
  for (const name of s.failing) {
    const entry = s.entries.get(name);
    if (entry !== undefined && !remove.has(name)) build.set(name, entry);
  }
  return { build, remove };
}
