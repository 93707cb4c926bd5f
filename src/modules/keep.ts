// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * State that outlives a module version (`ctx.keep`): one store per module
 * name per thread. Every version of the module gets the same values; the
 * disposers run only when the module leaves for good (file deleted, server
 * shut down), never on a reload.
 */
import type { Keep } from '../../shared/index.ts';
import { outsideVersion } from './leak-watch.ts';

interface Kept {
  value: unknown;
  dispose: ((value: unknown) => void | Promise<void>) | undefined;
}

export class KeptState {
  private readonly values = new Map<string, Kept>();

  /** The `ctx.keep` function handed to this module's versions. */
  readonly keep: Keep = <T>(key: string, init: () => T, dispose?: (value: T) => void | Promise<void>): T => {
    if (typeof key !== 'string') throw new TypeError('ctx.keep: key must be a string');
    const found = this.values.get(key);
    if (found !== undefined) return found.value as T;
    // Kept values outlive the version that made them: their timers are not that version's leaks.
    const value = outsideVersion(init);
    this.values.set(key, { value, dispose: dispose as Kept['dispose'] });
    return value;
  };

  get size(): number {
    return this.values.size;
  }

  keys(): string[] {
    return [...this.values.keys()];
  }

  /** Runs every disposer (newest first), collecting failures; the store is empty after. */
  async disposeAll(onError: (key: string, err: unknown) => void): Promise<void> {
    const entries = [...this.values].reverse();
    this.values.clear();
    for (const [key, k] of entries) {
      try {
        await k.dispose?.(k.value);
      } catch (err) {
        onError(key, err);
      }
    }
  }
}

/** One KeptState per module name. */
export class KeptStates {
  private readonly byModule = new Map<string, KeptState>();

  for(module: string): KeptState {
    let s = this.byModule.get(module);
    if (!s) this.byModule.set(module, (s = new KeptState()));
    return s;
  }

  peek(module: string): KeptState | undefined {
    return this.byModule.get(module);
  }

  async drop(module: string, onError: (key: string, err: unknown) => void): Promise<void> {
    const s = this.byModule.get(module);
    if (!s) return;
    this.byModule.delete(module);
    await s.disposeAll(onError);
  }

  async dropAll(onError: (module: string, key: string, err: unknown) => void): Promise<void> {
    for (const name of [...this.byModule.keys()]) await this.drop(name, (k, e) => onError(name, k, e));
  }
}
