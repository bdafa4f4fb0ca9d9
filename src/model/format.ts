/** Plain text formatting shared by the CLI and the dashboard: units a person reads at a glance. */

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** 1536 → "1.5 KiB"; one decimal under 10 units, none above. */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return '-';
  let value = Math.abs(bytes);
  let unit = 0;
  while (value >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  const digits = unit === 0 || value >= 10 ? 0 : 1;
  return `${bytes < 0 ? '-' : ''}${value.toFixed(digits)} ${BYTE_UNITS[unit]}`;
}

/** Bytes per second, as a rate. */
export function formatRate(bytesPerSec: number | null | undefined): string {
  return bytesPerSec === null || bytesPerSec === undefined ? '-' : `${formatBytes(bytesPerSec)}/s`;
}

export function formatPercent(value: number | null | undefined, digits = 0): string {
  return value === null || value === undefined || !Number.isFinite(value) ? '-' : `${value.toFixed(digits)}%`;
}

/** 93784 → "1d 2h", 3720 → "1h 2m", 65 → "1m 5s". */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${s % 60}s`;
  return `${s}s`;
}

/** A bar of `width` cells, `percent` of them filled. */
export function bar(percent: number | null | undefined, width: number): string {
  const p = percent === null || percent === undefined || !Number.isFinite(percent) ? 0 : percent;
  const filled = Math.round((Math.min(100, Math.max(0, p)) / 100) * width);
  return '█'.repeat(filled) + '░'.repeat(width - filled);
}

/** Cuts text to `width` characters with an ellipsis, pads it to exactly `width` when `pad` is set. */
export function fit(text: string, width: number, pad = false): string {
  const chars = [...text];
  const cut = chars.length > width ? `${chars.slice(0, Math.max(0, width - 1)).join('')}…` : text;
  return pad ? cut.padEnd(width) : cut;
}
