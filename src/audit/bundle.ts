import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { errorCode } from '../host/files.js';
import { writeOutputFile } from '../host/private-files.js';
import { vigilVersion } from '../host/version.js';
import { redactData, redactText } from '../redact/data.js';
import type { Report } from '../report/build.js';
import { reportJson, reportMarkdown } from '../report/render.js';
import { type AuditEntry, type ChainVerdict, canonicalJson, verifyEntries } from '../store/audit-chain.js';
import type { AlertRecord, SnapshotRecord } from '../store/types.js';
import { fingerprintOf, type Identity, verifySignature } from './identity.js';
import { createTarGz, readTar } from './tar.js';

/**
 * Bundles: a `.tar.gz` of one directory, made to be handed to someone else and checked by them.
 *
 *     vigil-bundle-devbox-20261121T095812Z/
 *       report.md, report.json, …   the content (see `supportBundleFiles`, `evidenceFiles`)
 *       README.txt                  what this is and how to check it, with or without vigil
 *       manifest.json               every other file's SHA-256, when, which host, which vigil, who signed
 *       manifest.sig                base64 Ed25519 signature of manifest.json's exact bytes
 *
 * The signature covers the manifest and the manifest covers every file, so `verifyBundle` can say which
 * file was changed, added or removed, or that the manifest itself was. The signer's public key travels in
 * the manifest: a valid signature proves the bundle is as its signer made it, and the fingerprint (which
 * the signer can read from `vigil bundle`'s output or `identity.pub`) says who that was.
 */

export const BUNDLE_FORMAT = 'vigil-bundle/1';
export const MANIFEST_FILE = 'manifest.json';
export const SIGNATURE_FILE = 'manifest.sig';

export type BundleKind = 'support' | 'evidence';

export interface BundleManifest {
  readonly format: typeof BUNDLE_FORMAT;
  readonly kind: BundleKind;
  /** What is inside, in a few words (`support bundle`, `signed report`, `audit log export`). */
  readonly title: string;
  /** ISO 8601, UTC. */
  readonly created: string;
  readonly createdAt: number;
  readonly host: string;
  readonly vigilVersion: string;
  /** The stretch of history the content covers, ms since the epoch; null when it is not about one. */
  readonly window: { from: number; to: number } | null;
  /** The audit chain when the bundle was made: its verdict and head (seq and hash of the last entry). */
  readonly audit?: { ok: boolean; entries: number; head: { seq: number; hash: string } | null } | null;
  readonly signer: { fingerprint: string; publicKey: string };
  /** File name → lowercase hex SHA-256 of its bytes. */
  readonly files: Record<string, string>;
}

export interface BundleFile {
  /** A plain file name (no directory). */
  readonly name: string;
  readonly content: string | Buffer;
}

export interface WrittenBundle {
  /** Absolute path of the `.tar.gz`. */
  readonly path: string;
  readonly manifest: BundleManifest;
  readonly sizeBytes: number;
}

export function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** `20261121T095812Z`: a time for file names. */
export function fileStamp(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/\.\d+Z$/, 'Z')
    .replace(/[-:]/g, '');
}

/** `vigil-<what>-<host>-<stamp>.tar.gz` in `directory`. */
export function defaultBundleName(what: string, now: number, host = hostname()): string {
  const safeHost = host.replace(/[^A-Za-z0-9.-]+/g, '_').slice(0, 40) || 'host';
  return `vigil-${what}-${safeHost}-${fileStamp(now)}.tar.gz`;
}

/**
 * Where to write: `output` as given, or inside it when it is an existing directory or ends with `/`, or
 * `defaultName` in `cwd` when no output was given.
 */
export function resolveOutput(output: string | undefined, defaultName: string, cwd = process.cwd()): string {
  if (output === undefined || output === '') return resolve(cwd, defaultName);
  const path = resolve(cwd, output);
  let isDirectory = output.endsWith('/');
  try {
    isDirectory ||= statSync(path).isDirectory();
  } catch {
    // does not exist: a file name
  }
  return isDirectory ? join(path, defaultName) : path;
}

/** The directory name inside the archive: the file name without `.tar.gz`. */
function directoryName(path: string): string {
  const name = basename(path)
    .replace(/\.(tar\.gz|tgz|tar)$/i, '')
    .replace(/[^A-Za-z0-9._-]+/g, '_')
    .slice(0, 80);
  return name === '' || name === '.' || name === '..' ? 'vigil-bundle' : name;
}

/**
 * Writes a signed bundle to `path`, mode 0600 whatever the umask: written beside it to a temporary of an
 * unpredictable name created with `O_EXCL | O_NOFOLLOW` and renamed into place, so a reader never sees
 * half a bundle; a symbolic link or special file at `path` (planted in /tmp, say) is refused.
 * `files` must not use the manifest's own names.
 */
export function writeBundle(options: {
  readonly path: string;
  readonly kind: BundleKind;
  readonly title: string;
  readonly files: readonly BundleFile[];
  readonly identity: Identity;
  readonly window: { from: number; to: number } | null;
  readonly audit?: BundleManifest['audit'];
  readonly now?: number;
  readonly host?: string;
}): WrittenBundle {
  const now = options.now ?? Date.now();
  const seen = new Set<string>();
  const contents: Array<{ name: string; data: Buffer }> = [];
  for (const file of options.files) {
    if (file.name === MANIFEST_FILE || file.name === SIGNATURE_FILE || seen.has(file.name))
      throw new Error(`bundle: ${file.name} is given twice or is a reserved name`);
    seen.add(file.name);
    contents.push({
      name: file.name,
      data: Buffer.isBuffer(file.content) ? file.content : Buffer.from(file.content),
    });
  }
  const manifest: BundleManifest = {
    format: BUNDLE_FORMAT,
    kind: options.kind,
    title: options.title,
    created: new Date(now).toISOString(),
    createdAt: now,
    host: options.host ?? hostname(),
    vigilVersion: vigilVersion(),
    window: options.window,
    ...(options.audit === undefined ? {} : { audit: options.audit }),
    signer: { fingerprint: options.identity.fingerprint, publicKey: options.identity.publicKeyPem },
    files: Object.fromEntries(contents.map((f) => [f.name, sha256Hex(f.data)])),
  };
  const manifestBytes = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
  const signature = Buffer.from(`${options.identity.sign(manifestBytes).toString('base64')}\n`);
  const archive = createTarGz(
    directoryName(options.path),
    [...contents, { name: MANIFEST_FILE, data: manifestBytes }, { name: SIGNATURE_FILE, data: signature }],
    now,
  );
  try {
    writeOutputFile(options.path, archive);
  } catch (error) {
    throw new Error(`cannot write ${options.path}: ${(error as Error).message}`, { cause: error });
  }
  return { path: options.path, manifest, sizeBytes: archive.length };
}

// -- verification -------------------------------------------------------------------------------------------

export interface BundleVerdict {
  readonly ok: boolean;
  /** Everything found wrong, each naming the file and what is wrong with it. Empty when ok. */
  readonly problems: readonly string[];
  /** The manifest, when it could be read (whether or not its signature holds). */
  readonly manifest: BundleManifest | null;
  /** The fingerprint of the key that signed it (computed from the public key in the manifest). */
  readonly fingerprint: string | null;
  /** The content files found (not the manifest and signature). */
  readonly files: readonly string[];
}

/** The files of a bundle: its archive's (tar.gz or tar) or an extracted directory's, by plain name. */
function readBundleFiles(path: string, problems: string[]): Map<string, Buffer> | null {
  const files = new Map<string, Buffer>();
  let stat: ReturnType<typeof statSync>;
  try {
    stat = statSync(path);
  } catch (error) {
    problems.push(
      errorCode(error) === 'ENOENT' ? `${path}: no such file` : `${path}: ${(error as Error).message}`,
    );
    return null;
  }
  if (stat.isDirectory()) {
    for (const name of readdirSync(path).sort()) {
      const entry = lstatSync(join(path, name));
      if (entry.isFile()) files.set(name, readFileSync(join(path, name)));
      else problems.push(`${name}: not a regular file (a bundle holds regular files only)`);
    }
    return files;
  }
  let entries: ReturnType<typeof readTar>;
  try {
    entries = readTar(readFileSync(path));
  } catch (error) {
    problems.push(`${path}: ${(error as Error).message}`);
    return null;
  }
  const names = entries.map((e) => e.name.replace(/^(\.\/)+/, ''));
  // One top directory (as vigil writes it), or the files at the top (re-packed from inside it).
  const first = names[0]?.split('/')[0] ?? '';
  const strip = names.length > 0 && names.every((n) => n.startsWith(`${first}/`)) ? `${first}/` : '';
  entries.forEach((entry, i) => {
    const name = names[i]!.slice(strip.length);
    if (name === '' || name.includes('/') || name === '.' || name === '..')
      problems.push(`${entries[i]!.name}: not a file at the top of the bundle`);
    else if (files.has(name)) problems.push(`${name}: appears twice in the archive`);
    else files.set(name, entry.data);
  });
  return files;
}

function parseManifest(bytes: Buffer, problems: string[]): BundleManifest | null {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    problems.push(`${MANIFEST_FILE}: not valid JSON (${(error as Error).message})`);
    return null;
  }
  const m = value as Partial<BundleManifest> | null;
  if (m === null || typeof m !== 'object' || m.format !== BUNDLE_FORMAT) {
    problems.push(`${MANIFEST_FILE}: not a ${BUNDLE_FORMAT} manifest`);
    return null;
  }
  const filesOk =
    m.files !== null &&
    typeof m.files === 'object' &&
    Object.entries(m.files).every(
      ([name, hash]) => typeof hash === 'string' && /^[0-9a-f]{64}$/.test(hash) && !name.includes('/'),
    );
  if (!filesOk) {
    problems.push(`${MANIFEST_FILE}: "files" must map plain file names to SHA-256 hex digests`);
    return null;
  }
  if (typeof m.signer?.publicKey !== 'string' || typeof m.signer.fingerprint !== 'string') {
    problems.push(`${MANIFEST_FILE}: "signer" lacks the public key or fingerprint`);
    return null;
  }
  return m as BundleManifest;
}

/**
 * Checks a bundle (`.tar.gz`, `.tar` or an extracted directory): the manifest's signature, every file's
 * SHA-256 against the manifest, files missing or added, and — when it holds `audit.json` — that the
 * exported entries chain together. `fingerprint`, when given, is the signer the bundle must come from.
 */
export function verifyBundle(path: string, options: { fingerprint?: string } = {}): BundleVerdict {
  const problems: string[] = [];
  const files = readBundleFiles(path, problems);
  if (files === null) return { ok: false, problems, manifest: null, fingerprint: null, files: [] };
  const content = [...files.keys()].filter((n) => n !== MANIFEST_FILE && n !== SIGNATURE_FILE);
  const manifestBytes = files.get(MANIFEST_FILE);
  if (manifestBytes === undefined) {
    problems.push(`${MANIFEST_FILE} is missing: this is not a vigil bundle, or it was removed`);
    return { ok: false, problems, manifest: null, fingerprint: null, files: content };
  }
  const manifest = parseManifest(manifestBytes, problems);
  if (manifest === null) return { ok: false, problems, manifest: null, fingerprint: null, files: content };

  let fingerprint: string | null = null;
  try {
    fingerprint = fingerprintOf(manifest.signer.publicKey);
  } catch (error) {
    problems.push(`${MANIFEST_FILE}: the signer's public key cannot be read (${(error as Error).message})`);
  }
  const signature = files.get(SIGNATURE_FILE);
  if (signature === undefined) problems.push(`${SIGNATURE_FILE} is missing: the bundle is not signed`);
  else if (fingerprint !== null) {
    const text = signature.toString('ascii').trim();
    const bytes = Buffer.from(text, 'base64');
    if (!/^[A-Za-z0-9+/]+=*$/.test(text) || bytes.length !== 64)
      problems.push(`${SIGNATURE_FILE}: not a base64 Ed25519 signature`);
    else if (!verifySignature(manifest.signer.publicKey, manifestBytes, bytes))
      problems.push(
        `${SIGNATURE_FILE} does not match ${MANIFEST_FILE}: the manifest was changed after it was signed (or the signature was replaced)`,
      );
  }
  if (fingerprint !== null && fingerprint !== manifest.signer.fingerprint)
    problems.push(
      `${MANIFEST_FILE}: the signer fingerprint ${manifest.signer.fingerprint} is not that of the public key beside it (${fingerprint})`,
    );
  if (options.fingerprint !== undefined && fingerprint !== null && fingerprint !== options.fingerprint)
    problems.push(`signed by ${fingerprint}, not by the expected ${options.fingerprint}`);

  for (const [name, expected] of Object.entries(manifest.files)) {
    const data = files.get(name);
    if (data === undefined) {
      problems.push(`${name} is listed in the manifest but missing from the bundle`);
      continue;
    }
    const actual = sha256Hex(data);
    if (actual !== expected)
      problems.push(`${name} was modified: its SHA-256 is ${actual}, the manifest says ${expected}`);
  }
  for (const name of content) {
    if (!(name in manifest.files))
      problems.push(`${name} is not in the manifest: it was added after signing`);
  }

  const audit = files.get('audit.json');
  if (audit !== undefined && manifest.files['audit.json'] === sha256Hex(audit)) {
    const verdict = exportedChainVerdict(audit);
    if (verdict !== null && !verdict.ok)
      problems.push(
        `audit.json: the exported audit chain is broken at seq ${verdict.seq}: ${verdict.reason}`,
      );
  }
  return { ok: problems.length === 0, problems, manifest, fingerprint, files: content };
}

/** Re-checks the links and hashes of the entries in an exported audit.json (null when it has none). */
function exportedChainVerdict(bytes: Buffer): ChainVerdict | null {
  try {
    const doc = JSON.parse(bytes.toString('utf8')) as { entries?: AuditEntry[] };
    if (!Array.isArray(doc.entries)) return null;
    return verifyEntries(doc.entries, { fromGenesis: doc.entries[0]?.seq === 1 });
  } catch {
    return { ok: false, seq: 0, reason: 'not valid JSON', entries: 0 };
  }
}

// -- contents -----------------------------------------------------------------------------------------------

const json = (value: unknown) => `${JSON.stringify(redactData(value, { urls: true }), null, 2)}\n`;

/**
 * audit.json: the entries of a window, and the verdict on the whole chain at export. Entries were
 * redacted when appended and their hashes cover that text, so they normally pass through unchanged and
 * a reader can re-check every hash. One whose data redaction would still change (a secret written by
 * something other than `AuditLog.append`) is masked anyway and marked `maskedInExport`: its place in the
 * chain can still be checked, its own hash no longer.
 */
export interface AuditDocument {
  readonly from: number;
  readonly to: number;
  readonly chain: ChainVerdict;
  readonly entries: ReadonlyArray<AuditEntry & { maskedInExport?: true }>;
}

export function auditDocument(input: {
  from: number;
  to: number;
  chain: ChainVerdict;
  entries: readonly AuditEntry[];
}): AuditDocument {
  const entries = input.entries.map((entry) => {
    const masked = redactData(entry.data, { urls: true }) as Record<string, unknown>;
    return canonicalJson(masked) === canonicalJson(entry.data)
      ? entry
      : { ...entry, data: masked, maskedInExport: true as const };
  });
  return { from: input.from, to: input.to, chain: input.chain, entries };
}

const auditJson = (doc: unknown) => `${JSON.stringify(doc, null, 2)}\n`;

export interface SupportBundleInput {
  readonly from: number;
  readonly to: number;
  readonly report: Report;
  readonly snapshots: readonly SnapshotRecord[];
  /** Snapshots in the window before the ones given were left out. */
  readonly snapshotsLeftOut: number;
  readonly alerts: readonly AlertRecord[];
  readonly actions: readonly Record<string, unknown>[] | { error: string };
  readonly health: unknown;
  /**
   * The configuration file, already through `sanitizeConfigToml` (which masks it as TOML: a second pass
   * of `redact` over the text could eat a closing quote).
   */
  readonly configToml: string;
  /** audit.json: `auditDocument`, or why the audit log could not be read. */
  readonly audit: AuditDocument | { error: string };
}

/** The files of a support bundle; every one through redaction (JSON value by value, text line by line). */
export function supportBundleFiles(input: SupportBundleInput): BundleFile[] {
  const window = { from: input.from, to: input.to };
  return [
    { name: 'README.txt', content: readme('support', input.from, input.to) },
    { name: 'report.md', content: redactText(reportMarkdown(input.report)) },
    { name: 'report.json', content: json(reportJson(input.report)) },
    {
      name: 'snapshots.json',
      content: json({ ...window, leftOut: input.snapshotsLeftOut, snapshots: input.snapshots }),
    },
    { name: 'alerts.json', content: json({ ...window, alerts: input.alerts }) },
    {
      name: 'actions.json',
      content: json(Array.isArray(input.actions) ? { ...window, actions: input.actions } : input.actions),
    },
    { name: 'health.json', content: json(input.health) },
    { name: 'config.toml', content: input.configToml },
    { name: 'audit.json', content: auditJson(input.audit) },
  ];
}

/** The files of a signed report (`vigil report --sign`). */
export function reportEvidenceFiles(report: Report): BundleFile[] {
  return [
    { name: 'README.txt', content: readme('report', report.from, report.to) },
    { name: 'report.md', content: redactText(reportMarkdown(report)) },
    { name: 'report.json', content: json(reportJson(report)) },
  ];
}

/** The files of a signed audit export (`vigil audit export --sign`). */
export function auditEvidenceFiles(audit: AuditDocument): BundleFile[] {
  return [
    { name: 'README.txt', content: readme('audit', audit.from, audit.to) },
    { name: 'audit.json', content: auditJson(audit) },
  ];
}

function readme(what: 'support' | 'report' | 'audit', from: number, to: number): string {
  const window = `${new Date(from).toISOString()} to ${new Date(to).toISOString()}`;
  const intro = {
    support: [
      'A vigil support bundle: what the watchdog saw on this machine, to show someone who can help.',
      '',
      '  report.md, report.json   the report (alerts, peaks, top offenders, gaps), as `vigil report` gives it',
      '  snapshots.json           the latest history rows: system metrics and the top processes',
      '  alerts.json              alerts raised or resolved in the window',
      '  actions.json             actions vigil proposed or took',
      '  health.json              `vigil health`: daemon, database, collectors, config and rules',
      '  config.toml              the configuration, with every secret value masked (comments dropped)',
      '  audit.json               the audit log (hash chain) in the window, and whether the chain is intact',
      '',
      'Secrets are masked (‹redacted›): secret-looking options and tokens in cmdlines, values under key-like',
      'names, and the credentials, tokens and query values of URLs. Look it over before you send it.',
    ],
    report: ['A signed vigil report: report.md and report.json, as `vigil report` gives them.'],
    audit: [
      "A signed export of vigil's audit log: audit.json holds the entries, each with the SHA-256 of the",
      'one before it and its own, so the entries can be re-checked; `chain` is the verdict on the whole',
      'chain when it was exported.',
    ],
  }[what];
  return [
    ...intro,
    '',
    `Window: ${window}.`,
    '',
    'manifest.json lists every other file with its SHA-256; manifest.sig is the Ed25519 signature of',
    "manifest.json (base64) by the signer's key, whose public key and fingerprint are in the manifest.",
    '',
    'To check it: vigil verify-bundle <this .tar.gz or directory>',
    'Without vigil (OpenSSL 3):',
    '  sha256sum report.md …                 compare with manifest.json',
    '  node -e \'process.stdout.write(JSON.parse(require("fs").readFileSync("manifest.json")).signer.publicKey)\' > signer.pem',
    '  base64 -d manifest.sig > manifest.sig.bin',
    '  openssl pkeyutl -verify -pubin -inkey signer.pem -rawin -in manifest.json -sigfile manifest.sig.bin',
    '',
  ].join('\n');
}
