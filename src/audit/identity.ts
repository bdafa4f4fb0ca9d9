import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  sign,
  verify,
} from 'node:crypto';
import { linkSync, readFileSync, type Stats, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { errorCode } from '../host/files.js';
import {
  createPrivateFile,
  ensurePrivateDir,
  readOwnFile,
  UnsafePath,
  writeFileAtomicPrivate,
} from '../host/private-files.js';

/**
 * This machine's signing identity: an Ed25519 key pair (node:crypto) in the state directory, made the
 * first time it is needed. `identity.key` holds the private key (PKCS#8 PEM, mode 0600), `identity.pub`
 * the public key (SPKI PEM, mode 0644). As ssh does with a private key, a key file that others could read
 * or write (group or other permission bits set) or that another user owns is refused, not used: a key
 * others can read proves nothing.
 */

export interface Identity {
  /** SPKI PEM. */
  readonly publicKeyPem: string;
  /** `SHA256:` + unpadded base64 of the SHA-256 of the DER public key (SPKI): what a person compares. */
  readonly fingerprint: string;
  /** A detached Ed25519 signature (64 bytes) of `data`. */
  sign(data: Buffer): Buffer;
}

export const PRIVATE_KEY_FILE = 'identity.key';
export const PUBLIC_KEY_FILE = 'identity.pub';

/** The fingerprint of a public key in PEM: `SHA256:` + base64 of the hash of its DER form. */
export function fingerprintOf(publicKeyPem: string): string {
  const der = createPublicKey(publicKeyPem).export({ type: 'spki', format: 'der' });
  return `SHA256:${createHash('sha256').update(der).digest('base64').replace(/=+$/, '')}`;
}

/**
 * Loads the identity in `stateDir`, creating it (and the directory, mode 0700) when there is none. The
 * private key is written to a temporary file with mode 0600 and linked into place, so a reader never sees
 * a half-written key and two processes starting at once end up with one identity. `identity.pub` is
 * derived from the private key, and rewritten when it is missing or differs.
 */
export function loadOrCreateIdentity(stateDir: string): Identity {
  const keyPath = join(stateDir, PRIVATE_KEY_FILE);
  let privateKey = readPrivateKey(keyPath);
  if (privateKey === null) {
    const dir = ensurePrivateDir(stateDir, { symlink: 'own' });
    if (!dir.ok) throw new Error(`cannot make a signing identity: ${dir.reason}`);
    createPrivateKeyFile(keyPath);
    privateKey = readPrivateKey(keyPath);
    if (privateKey === null) throw new Error(`${keyPath} vanished right after it was created`);
  }
  const publicKeyPem = createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString();
  writePublicKey(join(stateDir, PUBLIC_KEY_FILE), publicKeyPem);
  const key = privateKey;
  return {
    publicKeyPem,
    fingerprint: fingerprintOf(publicKeyPem),
    sign: (data: Buffer) => sign(null, data, key),
  };
}

/** The public key of the identity in `stateDir` (PEM), or null when there is none yet. Never creates one. */
export function readPublicKey(stateDir: string): string | null {
  try {
    return readFileSync(join(stateDir, PUBLIC_KEY_FILE), 'utf8');
  } catch {
    return null;
  }
}

/** True when `signature` is an Ed25519 signature of `data` by this public key; false for anything else. */
export function verifySignature(publicKeyPem: string, data: Buffer, signature: Buffer): boolean {
  try {
    const key = createPublicKey(publicKeyPem);
    if (key.asymmetricKeyType !== 'ed25519') return false;
    return verify(null, data, key, signature);
  } catch {
    return false;
  }
}

/**
 * The private key at `path`, null when the file does not exist; refuses a file others can reach. Read
 * through the descriptor its owner and mode were checked on, never through a symbolic link.
 */
function readPrivateKey(path: string): KeyObject | null {
  let file: { text: string; stat: Stats };
  try {
    file = readOwnFile(path);
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return null;
    if (error instanceof UnsafePath) throw new Error(`the identity key: ${error.message}`, { cause: error });
    throw new Error(`cannot read the identity key ${path}: ${(error as Error).message}`, { cause: error });
  }
  const mode = file.stat.mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new Error(
      `the identity key ${path} has mode ${mode.toString(8).padStart(4, '0')}: it must be readable by you ` +
        `alone; run chmod 600 ${path} (or remove it, and a new identity is made)`,
    );
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(file.text);
  } catch (error) {
    throw new Error(`cannot load the identity key ${path}: ${(error as Error).message}`, { cause: error });
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new Error(`the identity key ${path} is ${key.asymmetricKeyType ?? 'not a key'}, not Ed25519`);
  }
  return key;
}

/** A new key, written 0600 to a temporary of an unpredictable name and linked into place (never replacing one). */
function createPrivateKeyFile(path: string): void {
  const { privateKey } = generateKeyPairSync('ed25519');
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const temporary = `${path}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  createPrivateFile(temporary, pem, { durable: true });
  try {
    linkSync(temporary, path);
  } catch (error) {
    // Another process made one first: use theirs.
    if (errorCode(error) !== 'EEXIST') throw error;
  } finally {
    unlinkSync(temporary);
  }
}

function writePublicKey(path: string, pem: string): void {
  try {
    if (readOwnFile(path).text === pem) return;
  } catch {
    // missing, unreadable or not ours: write it
  }
  try {
    writeFileAtomicPrivate(path, pem, { mode: 0o644 });
  } catch {
    // A read-only state directory: the public key is also in every bundle's manifest.
  }
}
