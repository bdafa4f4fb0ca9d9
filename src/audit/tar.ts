import { gunzipSync, gzipSync } from 'node:zlib';

/**
 * Just enough of the tar format for vigil's bundles, so they need no dependency and no external program:
 * writing a gzip-compressed POSIX ustar archive of one directory of small regular files (which `tar xzf`
 * and every archive manager open), and reading one back in memory — nothing from an untrusted archive
 * touches the disk. The header layout is POSIX.1-1988 ustar (pax(1), "ustar Interchange Format"):
 * 512-byte blocks; name[100] mode[8] uid[8] gid[8] size[12] mtime[12] chksum[8] typeflag[1]
 * linkname[100] magic[6] version[2] uname[32] gname[32] devmajor[8] devminor[8] prefix[155]; numbers in
 * octal; the checksum is the byte sum of the header with the checksum field read as eight spaces.
 *
 * Reading accepts what GNU tar or bsdtar write when a person re-packs an extracted bundle: `./` prefixes,
 * directory entries, pax (`x`, `g`) and GNU long-name (`L`) headers. Links, devices and FIFOs are refused:
 * a bundle holds regular files only.
 */

const BLOCK = 512;

export interface TarFile {
  /** Path inside the archive, `/`-separated. */
  readonly name: string;
  readonly data: Buffer;
}

/** Refuses to inflate an archive beyond this: a bundle is small; a gzip bomb is not a bundle. */
export const MAX_TAR_BYTES = 1024 * 1024 * 1024;

function writeString(header: Buffer, offset: number, length: number, value: string): void {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length > length) throw new Error(`tar: ${JSON.stringify(value)} is longer than ${length} bytes`);
  bytes.copy(header, offset);
}

function writeOctal(header: Buffer, offset: number, length: number, value: number): void {
  // length - 1 digits, then NUL.
  const digits = Math.floor(value)
    .toString(8)
    .padStart(length - 1, '0');
  if (digits.length > length - 1) throw new Error(`tar: ${value} does not fit in ${length - 1} octal digits`);
  writeString(header, offset, length, `${digits}\0`);
}

function header(name: string, size: number, mode: number, mtimeSecs: number, type: '0' | '5'): Buffer {
  const h = Buffer.alloc(BLOCK);
  writeString(h, 0, 100, name);
  writeOctal(h, 100, 8, mode);
  writeOctal(h, 108, 8, 0);
  writeOctal(h, 116, 8, 0);
  writeOctal(h, 124, 12, size);
  writeOctal(h, 136, 12, mtimeSecs);
  h.fill(0x20, 148, 156);
  writeString(h, 156, 1, type);
  writeString(h, 257, 6, 'ustar\0');
  writeString(h, 263, 2, '00');
  let sum = 0;
  for (const byte of h) sum += byte;
  writeString(h, 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  return h;
}

/**
 * A `.tar.gz` holding `directory/` (mode 0700) and each file under it (mode 0600, owner 0, the given
 * modification time). Names must be plain file names of at most 100 bytes with the directory.
 */
export function createTarGz(directory: string, files: readonly TarFile[], mtimeMs: number): Buffer {
  const mtime = Math.floor(mtimeMs / 1000);
  const blocks: Buffer[] = [header(`${directory}/`, 0, 0o700, mtime, '5')];
  for (const file of files) {
    if (file.name.includes('/') || file.name === '' || file.name === '.' || file.name === '..')
      throw new Error(`tar: ${JSON.stringify(file.name)} is not a plain file name`);
    blocks.push(header(`${directory}/${file.name}`, file.data.length, 0o600, mtime, '0'));
    blocks.push(file.data);
    const pad = (BLOCK - (file.data.length % BLOCK)) % BLOCK;
    if (pad > 0) blocks.push(Buffer.alloc(pad));
  }
  blocks.push(Buffer.alloc(2 * BLOCK));
  return gzipSync(Buffer.concat(blocks), { level: 9 });
}

function readString(block: Buffer, offset: number, length: number): string {
  const field = block.subarray(offset, offset + length);
  const end = field.indexOf(0);
  return field.subarray(0, end === -1 ? length : end).toString('utf8');
}

function readOctal(block: Buffer, offset: number, length: number, what: string): number {
  if ((block[offset]! & 0x80) !== 0) throw new Error(`${what}: a size in base-256 is too large for a bundle`);
  const text = readString(block, offset, length).trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new Error(`${what}: ${JSON.stringify(text)} is not an octal number`);
  return Number.parseInt(text, 8);
}

/** `path=…` from a pax extended header's records (`<length> <key>=<value>\n`). */
function paxPath(data: Buffer): string | null {
  let path: string | null = null;
  let offset = 0;
  while (offset < data.length) {
    const space = data.indexOf(0x20, offset);
    if (space === -1) break;
    const length = Number(data.subarray(offset, space).toString('ascii'));
    if (!Number.isInteger(length) || length <= 0) break;
    const record = data.subarray(space + 1, offset + length - 1).toString('utf8');
    if (record.startsWith('path=')) path = record.slice('path='.length);
    offset += length;
  }
  return path;
}

/**
 * The regular files of a tar archive, gzip-compressed or not, in archive order. Directory entries are
 * skipped; anything else (links, devices) throws, as does a damaged header.
 */
export function readTar(archive: Buffer): TarFile[] {
  let tar = archive;
  if (archive[0] === 0x1f && archive[1] === 0x8b) {
    try {
      tar = gunzipSync(archive, { maxOutputLength: MAX_TAR_BYTES });
    } catch (error) {
      throw new Error(`not a readable .tar.gz: ${(error as Error).message}`, { cause: error });
    }
  }
  if (tar.length < BLOCK) throw new Error(`not a tar archive (${tar.length} bytes, less than one header)`);
  const files: TarFile[] = [];
  let offset = 0;
  let longName: string | null = null;
  while (offset + BLOCK <= tar.length) {
    const block = tar.subarray(offset, offset + BLOCK);
    if (block.every((byte) => byte === 0)) break;
    const where = `tar header at byte ${offset}`;
    let stored: number;
    try {
      stored = readOctal(block, 148, 8, where);
    } catch (error) {
      if (offset === 0) throw new Error('not a tar archive', { cause: error });
      throw error;
    }
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
    if (sum !== stored)
      throw new Error(offset === 0 ? 'not a tar archive' : `${where}: bad checksum (a damaged archive)`);
    const size = readOctal(block, 124, 12, where);
    const type = String.fromCharCode(block[156]!);
    const prefix = readString(block, 257, 6).startsWith('ustar') ? readString(block, 345, 155) : '';
    const rawName = prefix ? `${prefix}/${readString(block, 0, 100)}` : readString(block, 0, 100);
    const dataStart = offset + BLOCK;
    const dataEnd = dataStart + size;
    if (dataEnd > tar.length) throw new Error(`${where}: ${rawName} is cut short (a truncated archive)`);
    const data = tar.subarray(dataStart, dataEnd);
    offset = dataStart + Math.ceil(size / BLOCK) * BLOCK;
    const name = longName ?? rawName;
    if (type === 'L') {
      longName = data.toString('utf8').replace(/\0+$/, '');
      continue;
    }
    if (type === 'x') {
      longName = paxPath(data) ?? longName;
      continue;
    }
    longName = null;
    if (type === 'g') continue;
    if (type === '5') continue;
    if (type !== '0' && type !== '\0' && type !== '7')
      throw new Error(`${name}: a ${describeType(type)} in the archive; a bundle holds regular files only`);
    files.push({ name, data: Buffer.from(data) });
  }
  return files;
}

function describeType(type: string): string {
  switch (type) {
    case '1':
      return 'hard link';
    case '2':
      return 'symbolic link';
    case '3':
    case '4':
      return 'device';
    case '6':
      return 'FIFO';
    default:
      return `tar entry of type ${JSON.stringify(type)}`;
  }
}
