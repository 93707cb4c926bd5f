// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Checks a module's default export against the contract and compiles its
 * routes. Pure: no I/O. Every problem is reported, not just the first.
 */
import type { Module, Route, SetupContext, Context, Reply } from '../../shared/index.ts';
import type { Socket } from 'node:net';
import { prefixBytes } from '../router/prefix-table.ts';
import { shadowedWord } from '../admin/reserved.ts';
import { ModuleShapeError } from '../errors.ts';

export interface CompiledRoute {
  readonly index: number;
  readonly prefix: Buffer;
  /** Printable form for logs and STATUS. */
  readonly label: string;
  readonly kind: 'stream' | 'message';
  readonly framing: 'line' | 'whole';
  readonly pool: boolean;
  readonly maxConnections: number;
  /** ms; undefined = use the server default. */
  readonly idleTimeout: number | undefined;
  readonly connection?: (socket: Socket, ctx: Context) => void;
  readonly message?: (msg: Buffer, ctx: Context) => Reply | Promise<Reply>;
}

export interface ModuleSpec {
  readonly name: string;
  readonly routes: readonly CompiledRoute[];
  readonly setup?: (ctx: SetupContext) => void | Promise<void>;
  readonly dispose?: () => void | Promise<void>;
}

/** A prefix as text for humans: JSON string escapes for control bytes. */
export function prefixLabel(prefix: Buffer): string {
  return JSON.stringify(prefix.toString('latin1'));
}

export function validateModule(exported: unknown, fileBase: string): ModuleSpec {
  const problems: string[] = [];
  const m = exported as Partial<Module> | null;
  if (m === null || typeof m !== 'object') {
    throw new ModuleShapeError(fileBase, ['default export must be an object { routes, setup?, dispose? }']);
  }
  let name = fileBase;
  if (m.name !== undefined) {
    if (typeof m.name !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(m.name)) problems.push('name must be 1-64 characters of A-Z a-z 0-9 _ . -');
    else name = m.name;
  }
  for (const hook of ['setup', 'dispose'] as const) {
    if (m[hook] !== undefined && typeof m[hook] !== 'function') problems.push(`${hook} must be a function`);
  }
  const routes: CompiledRoute[] = [];
  if (!Array.isArray(m.routes)) problems.push('routes must be an array');
  else {
    const seen = new Set<string>();
    m.routes.forEach((r: Route, i: number) => {
      const where = `routes[${i}]`;
      const compiled = compileRoute(r, i, where, problems);
      if (!compiled) return;
      const key = compiled.prefix.toString('latin1');
      if (seen.has(key)) problems.push(`${where}: prefix ${compiled.label} appears twice in this module`);
      seen.add(key);
      routes.push(compiled);
    });
  }
  if (problems.length > 0) throw new ModuleShapeError(name, problems);
  return {
    name,
    routes,
    ...(m.setup ? { setup: m.setup.bind(m) } : {}),
    ...(m.dispose ? { dispose: m.dispose.bind(m) } : {}),
  };
}

function compileRoute(r: Route, index: number, where: string, problems: string[]): CompiledRoute | null {
  if (r === null || typeof r !== 'object') {
    problems.push(`${where} must be an object`);
    return null;
  }
  if (typeof r.prefix !== 'string' && !(r.prefix instanceof Uint8Array)) {
    problems.push(`${where}.prefix must be a string or Uint8Array`);
    return null;
  }
  const prefix = prefixBytes(r.prefix);
  const label = prefixLabel(prefix);
  const word = shadowedWord(prefix);
  if (word) problems.push(`${where}: prefix ${label} shadows the built-in command ${word}`);
  const hasConn = typeof r.connection === 'function';
  const hasMsg = typeof r.message === 'function';
  if (hasConn === hasMsg) {
    problems.push(`${where} needs exactly one of connection(socket, ctx) or message(msg, ctx)`);
    return null;
  }
  const framing = (r as { framing?: unknown }).framing ?? 'line';
  if (framing !== 'line' && framing !== 'whole') problems.push(`${where}.framing must be 'line' or 'whole'`);
  const pool = (r as { pool?: unknown }).pool ?? false;
  if (typeof pool !== 'boolean') problems.push(`${where}.pool must be a boolean`);
  if (hasConn && (pool === true || (r as { framing?: unknown }).framing !== undefined)) problems.push(`${where}: pool and framing apply to message routes only`);
  const maxConnections = r.maxConnections ?? Infinity;
  if (typeof maxConnections !== 'number' || !(maxConnections >= 1)) problems.push(`${where}.maxConnections must be a number >= 1`);
  const idleTimeout = r.idleTimeout;
  if (idleTimeout !== undefined && (typeof idleTimeout !== 'number' || !(idleTimeout >= 0))) problems.push(`${where}.idleTimeout must be a number of ms >= 0`);
  return {
    index,
    prefix,
    label,
    kind: hasConn ? 'stream' : 'message',
    framing: framing as 'line' | 'whole',
    pool: pool === true,
    maxConnections,
    idleTimeout,
    ...(hasConn ? { connection: r.connection!.bind(r) } : { message: (r.message as NonNullable<typeof r.message>).bind(r) }),
  };
}
