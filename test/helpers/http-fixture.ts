// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Builds the http module and a fixture site in a temp folder, and starts the
 * real server serving it.
 */
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { mkdirSync, symlinkSync, writeFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { buildModule } from './build-module.ts';
import { ROOT, startHrmr, tempDir, type Hrmr } from './hrmr.ts';

export const SECRET = 'TOPSECRET-do-not-serve';
export const HELLO = 'hello world\n';
export const BIG_SIZE = 3 * 1024 * 1024 + 123;

export interface Site {
  base: string;
  root: string;
  modules: string;
  comp: Buffer;
  compGz: Buffer;
  compBr: Buffer;
}

/** A root with one file per type, a subfolder, precompressed siblings, dotfiles, symlinks in and out, a big file. */
export async function makeSite(): Promise<Site> {
  const base = tempDir('hrmr-http-');
  const root = join(base, 'root');
  const modules = join(base, 'modules');
  mkdirSync(join(root, 'sub'), { recursive: true });
  mkdirSync(join(root, 'nodir'), { recursive: true });
  mkdirSync(join(root, '.git'), { recursive: true });
  mkdirSync(join(base, 'outside'), { recursive: true });
  writeFileSync(join(base, 'secret.txt'), SECRET);
  writeFileSync(join(base, 'outside', 'secret.txt'), SECRET);
  writeFileSync(join(root, 'index.html'), '<!doctype html><h1>home</h1>\n');
  writeFileSync(join(root, 'hello.txt'), HELLO);
  const files: Record<string, string> = {
    'style.css': 'body{color:red}',
    'app.js': 'console.log(1)',
    'data.json': '{"a":1}',
    'pic.svg': '<svg xmlns="http://www.w3.org/2000/svg"/>',
    'img.png': 'png',
    'img.jpg': 'jpg',
    'img.webp': 'webp',
    'favicon.ico': 'ico',
    'mod.wasm': 'wasm',
    'font.woff2': 'woff2',
    'blob.unknownext': 'x',
    'with space.txt': 'spaced',
  };
  for (const [n, c] of Object.entries(files)) writeFileSync(join(root, n), c);
  writeFileSync(join(root, 'sub', 'index.html'), '<p>sub index</p>');
  writeFileSync(join(root, 'sub', 'page.html'), '<p>sub page</p>');
  writeFileSync(join(root, 'sub', '.hidden'), SECRET);
  writeFileSync(join(root, '.env'), SECRET);
  writeFileSync(join(root, '.git', 'config'), SECRET);
  const comp = Buffer.from('export const x = "' + 'compress me '.repeat(200) + '";\n');
  const compGz = gzipSync(comp);
  const compBr = brotliCompressSync(comp);
  writeFileSync(join(root, 'comp.js'), comp);
  writeFileSync(join(root, 'comp.js.gz'), compGz);
  writeFileSync(join(root, 'comp.js.br'), compBr);
  writeFileSync(join(root, 'gzonly.css'), 'a{b:c}'.repeat(50));
  writeFileSync(join(root, 'gzonly.css.gz'), gzipSync('a{b:c}'.repeat(50)));
  // Big enough to be streamed (the default cache limit is 1 MiB); a byte pattern so ranges can be checked.
  const big = Buffer.alloc(BIG_SIZE);
  for (let i = 0; i < big.length; i++) big[i] = i % 251;
  writeFileSync(join(root, 'big.bin'), big);
  symlinkSync(join(base, 'secret.txt'), join(root, 'link-out'));
  symlinkSync(join(base, 'outside'), join(root, 'linkdir-out'));
  symlinkSync(join(root, 'hello.txt'), join(root, 'link-in.txt'));
  symlinkSync(join(root, '.env'), join(root, 'link-dot.txt'));
  await buildModule(join(ROOT, 'modules_src', 'http.ts'), modules);
  return { base, root, modules, comp, compGz, compBr };
}

export function startSite(site: Site, extra: string[] = []): Promise<Hrmr> {
  return startHrmr({ dir: site.modules, args: ['--set', 'http.root=' + site.root, ...extra] });
}

export function removeSite(site: Site): void {
  rmSync(site.base, { recursive: true, force: true });
}

/** Sends raw bytes, collects everything until the server closes (or `timeoutMs`, then rejects). */
export function rawExchange(port: number, data: string | Buffer, timeoutMs = 5000): Promise<{ data: Buffer; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    const chunks: Buffer[] = [];
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error(`server did not close within ${timeoutMs} ms; got ${JSON.stringify(Buffer.concat(chunks).toString('latin1').slice(0, 300))}`));
    }, timeoutMs);
    s.on('connect', () => s.write(data));
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(t);
      resolve({ data: Buffer.concat(chunks), closed: true });
    });
  });
}
