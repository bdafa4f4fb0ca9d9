import { isIPv4, isIPv6 } from 'node:net';

/**
 * `[metrics] listen`: where `/metrics` is served. Kept apart from the server so the config schema (or
 * `vigil config validate`) can check a value without loading the HTTP and Prometheus code.
 *
 * Accepted forms: `HOST:PORT` with an IPv4 address or a host name (`127.0.0.1:9633`, `localhost:9633`),
 * `[IPV6]:PORT` (`[::1]:9633`), and a bare `PORT` or `:PORT`, which mean loopback (127.0.0.1): vigil never
 * listens beyond the machine unless the address says so (`0.0.0.0:9633`, `[::]:9633`). Empty: off.
 */

export interface ListenAddress {
  /** What to bind: an IPv4 or IPv6 address (without brackets) or a host name. */
  readonly host: string;
  readonly port: number;
}

/** A host name as RFC 1123 allows it: dot-separated labels of letters, digits and inner hyphens. */
const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** Parses a listen value; throws an Error whose message says what is wrong and what to write instead. */
export function parseListen(value: string): ListenAddress {
  const text = value.trim();
  const hint = 'write HOST:PORT, e.g. "127.0.0.1:9633" or "[::1]:9633"';
  let host: string;
  let portText: string;
  if (/^:?\d+$/.test(text)) {
    host = '127.0.0.1';
    portText = text.replace(':', '');
  } else if (text.startsWith('[')) {
    const match = text.match(/^\[([^\]]*)\]:(\d+)$/);
    if (!match) throw new Error(`${JSON.stringify(value)} is not an address: ${hint}`);
    host = match[1]!;
    portText = match[2]!;
    if (!isIPv6(host)) throw new Error(`${JSON.stringify(host)} is not an IPv6 address`);
  } else {
    const colon = text.lastIndexOf(':');
    if (colon <= 0) throw new Error(`${JSON.stringify(value)} has no port: ${hint}`);
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (host.includes(':'))
      throw new Error(`an IPv6 address needs brackets: "[${host}]:${portText || '9633'}"`);
    if (!isIPv4(host) && (/^[\d.]+$/.test(host) || !HOSTNAME.test(host)))
      throw new Error(`${JSON.stringify(host)} is neither an IP address nor a host name: ${hint}`);
  }
  if (!/^\d+$/.test(portText)) throw new Error(`${JSON.stringify(value)} has no port: ${hint}`);
  const port = Number(portText);
  if (port < 1 || port > 65_535) throw new Error(`port ${portText} is out of range (1 to 65535)`);
  return { host, port };
}

/** Why a listen value is wrong, or null when it is fine (empty included). For a `v.check` in the schema. */
export function listenError(value: string): string | null {
  if (value.trim() === '') return null;
  try {
    parseListen(value);
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}

/** `127.0.0.1:9633`, `[::1]:9633`: an address as a URL authority. */
export function formatListen(address: ListenAddress): string {
  return `${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`;
}

/** Whether only this machine can reach the address. */
export function isLoopback(address: ListenAddress): boolean {
  return (
    address.host === 'localhost' ||
    address.host === '::1' ||
    (isIPv4(address.host) && address.host.startsWith('127.'))
  );
}
