// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * `--proxy-protocol-from`: connections from these sources must begin with a
 * PROXY protocol header, read here before the peek. The client address it
 * carries replaces the balancer's on the socket itself, so everything that
 * asks the socket (ctx.remoteAddress, logs, per-client limits, the admin
 * loopback rule, modules) sees the client.
 */
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { CidrList } from './cidr.ts';
import { parseProxyHeader } from './parse.ts';

/** Read on one connection: the header's bytes so far. */
interface Reading {
  data: Buffer | null;
  timer: NodeJS.Timeout;
  then: (rest: Buffer | null) => void;
}

const readings = new WeakMap<Socket, Reading>();

/**
 * Makes `socket` report the carried client address (an own property over
 * net.Socket's getters; only connections from a trusted balancer get one).
 */
export function setPeer(socket: Socket, address: string, port: number): void {
  const family = address.includes(':') ? 'IPv6' : 'IPv4';
  Object.defineProperty(socket, 'remoteAddress', { value: address, configurable: true, enumerable: true });
  Object.defineProperty(socket, 'remotePort', { value: port, configurable: true, enumerable: true });
  Object.defineProperty(socket, 'remoteFamily', { value: family, configurable: true, enumerable: true });
}

/** A socket layered on `from` (a TLS socket on its raw connection) reports the same carried address. */
export function inheritPeer(from: Socket, to: Socket): void {
  if (Object.prototype.hasOwnProperty.call(from, 'remoteAddress')) setPeer(to, from.remoteAddress!, from.remotePort ?? 0);
}

export class ProxyGate {
  private readonly trusted: CidrList;
  private headers = 0;
  /** PROXY headers from sources not trusted to send one (refused by the router). */
  refused = 0;
  private readonly failures: Record<string, number> = {};

  constructor(
    cidrs: string,
    private readonly timeoutMs: number,
    private readonly log: Logger,
  ) {
    this.trusted = CidrList.parse(cidrs);
  }

  trusts(address: string | undefined): boolean {
    return this.trusted.contains(address);
  }

  /** Reads the header, then calls `then` with the bytes after it; closes the connection if there is no valid header. */
  read(socket: Socket, then: (rest: Buffer | null) => void): void {
    const timer = setTimeout(() => this.fail(socket, 'timeout'), this.timeoutMs);
    readings.set(socket, { data: null, timer, then });
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('close', onClose);
  }

  /** @internal */
  chunk(socket: Socket, r: Reading, chunk: Buffer): void {
    r.data = r.data === null ? chunk : Buffer.concat([r.data, chunk]);
    const h = parseProxyHeader(r.data);
    if (h.state === 'incomplete') return;
    if (h.state === 'invalid') return this.fail(socket, h.reason, h.detail);
    this.stop(socket, r);
    this.headers++;
    if (h.client !== null) setPeer(socket, h.client.address, h.client.port);
    const rest = r.data.length > h.length ? r.data.subarray(h.length) : null;
    // Paused until the peek takes over (it reads from its own 'data' listener).
    r.then(rest);
  }

  /** @internal */
  fail(socket: Socket, reason: string, detail?: string): void {
    const r = readings.get(socket);
    if (r === undefined) return;
    this.stop(socket, r);
    this.failures[reason] = (this.failures[reason] ?? 0) + 1;
    this.log.debug({ reason, detail, peer: socket.remoteAddress }, 'PROXY protocol header refused');
    socket.destroy();
  }

  private stop(socket: Socket, r: Reading): void {
    clearTimeout(r.timer);
    readings.delete(socket);
    socket.removeListener('data', onData);
    socket.removeListener('end', onEnd);
    socket.removeListener('close', onClose);
  }

  status(): unknown {
    return { headers: this.headers, refused: this.refused, failures: { ...this.failures } };
  }
}

/** The gate of each reading socket (shared listeners: no closures per connection). */
const gates = new WeakMap<Socket, ProxyGate>();

export function startProxyRead(gate: ProxyGate, socket: Socket, then: (rest: Buffer | null) => void): void {
  gates.set(socket, gate);
  gate.read(socket, then);
}

function onData(this: Socket, chunk: Buffer): void {
  const r = readings.get(this);
  if (r !== undefined) gates.get(this)!.chunk(this, r, chunk);
}

function onEnd(this: Socket): void {
  gates.get(this)?.fail(this, 'truncated');
}

function onClose(this: Socket): void {
  gates.get(this)?.fail(this, 'truncated');
}
