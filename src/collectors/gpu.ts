import { join } from 'node:path';
import { CommandNotFound, type CommandResult, CommandTimedOut, runCommand } from '../host/command.js';
import { readAttribute } from '../host/files.js';
import type { GpuProcessSample, GpuSample, GpuSlice } from '../model/snapshot.js';
import { printable } from '../model/text.js';
import { redact } from '../redact/redact.js';
import { type CollectContext, type Collector, Unsupported } from './types.js';

/** The columns of `--query-gpu`, in the order asked for; a header line, if any, overrides the order. */
export const GPU_QUERY_FIELDS = [
  'index',
  'uuid',
  'name',
  'temperature.gpu',
  'utilization.gpu',
  'utilization.memory',
  'memory.used',
  'memory.total',
  'power.draw',
  'power.limit',
  'fan.speed',
] as const;

/** The columns of `--query-compute-apps`, in the order asked for. */
export const COMPUTE_APPS_QUERY_FIELDS = ['gpu_uuid', 'pid', 'used_memory'] as const;

const CSV_FORMAT = '--format=csv,noheader,nounits';

/** `nvidia-smi --query-gpu=... --format=csv,noheader,nounits`: one row per GPU. */
export function gpuQueryArgs(program: string): string[] {
  return [program, `--query-gpu=${GPU_QUERY_FIELDS.join(',')}`, CSV_FORMAT];
}

/** `nvidia-smi --query-compute-apps=... --format=csv,noheader,nounits`: one row per process and GPU. */
export function computeAppsQueryArgs(program: string): string[] {
  return [program, `--query-compute-apps=${COMPUTE_APPS_QUERY_FIELDS.join(',')}`, CSV_FORMAT];
}

type GpuField = (typeof GPU_QUERY_FIELDS)[number];

/** Other spellings nvidia-smi accepts for a query column, or prints in a header (`gpu_name` -> `name`). */
const GPU_ALIASES: Record<string, GpuField> = {
  gpu_name: 'name',
  gpu_uuid: 'uuid',
  'enforced.power.limit': 'power.limit',
};

const MIB = 1024 * 1024;
const MEMORY_UNITS: Record<string, number> = { '': MIB, KiB: 1024, MiB: MIB, GiB: 1024 * MIB };

/**
 * Parses `nvidia-smi --query-gpu=index,uuid,name,temperature.gpu,utilization.gpu,utilization.memory,
 * memory.used,memory.total,power.draw,power.limit,fan.speed --format=csv,noheader,nounits`
 * (see `nvidia-smi --help-query-gpu`).
 *
 * Cells are separated by `, `; names contain spaces (`NVIDIA GeForce RTX 4080 SUPER`). A value the card
 * does not report is `[N/A]`, `N/A`, `[Not Supported]` or another bracketed word (`[Unknown Error]`) and
 * becomes null, never 0: with MIG enabled an H100 under load reports utilisation `[N/A]`. Memory is in
 * MiB and becomes bytes. For output that went through a user's wrapper, unit suffixes (`41 %`,
 * `81559 MiB`, `69.85 W`) are tolerated, and a header line (`index, name, memory.total [MiB], ...`) maps
 * columns by name, so a capture with other columns in another order still parses; columns it lacks are null.
 *
 * A line that is not a GPU row (wrong number of cells, no integer index) is skipped with a reason: it is
 * usually nvidia-smi's own error text, which the collector reports.
 */
export function parseGpuCsv(text: string): { gpus: GpuSample[]; skipped: string[] } {
  const gpus: GpuSample[] = [];
  const skipped: string[] = [];
  let columns: readonly (GpuField | null)[] = GPU_QUERY_FIELDS;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    const cells = line.split(',').map((cell) => cell.trim());
    const header = headerColumns(cells, (name) => (isGpuField(name) ? name : (GPU_ALIASES[name] ?? null)));
    if (header !== null) {
      columns = header;
      continue;
    }
    if (cells.length !== columns.length) {
      skipped.push(
        `nvidia-smi line ${i + 1}: expected ${columns.length} cells, found ${cells.length}: ${line}`,
      );
      continue;
    }
    const cell = (field: GpuField): string | null => {
      const at = columns.indexOf(field);
      return at < 0 ? null : cells[at]!;
    };
    const indexText = cell('index');
    const index = indexText === null ? gpus.length : Number(indexText);
    if (!Number.isInteger(index) || index < 0) {
      skipped.push(
        `nvidia-smi line ${i + 1}: GPU index ${JSON.stringify(indexText)} is not a number: ${line}`,
      );
      continue;
    }
    gpus.push({
      index,
      uuid: textCell(cell('uuid')),
      name: textCell(cell('name')) ?? '',
      temperatureCelsius: numberCell(cell('temperature.gpu'), ['', 'C']),
      utilizationPercent: numberCell(cell('utilization.gpu'), ['', '%']),
      memoryUtilizationPercent: numberCell(cell('utilization.memory'), ['', '%']),
      memoryUsedBytes: memoryCell(cell('memory.used')),
      memoryTotalBytes: memoryCell(cell('memory.total')),
      powerWatts: numberCell(cell('power.draw'), ['', 'W']),
      powerLimitWatts: numberCell(cell('power.limit'), ['', 'W']),
      fanPercent: numberCell(cell('fan.speed'), ['', '%']),
    });
  }
  return { gpus, skipped };
}

type AppsField = 'gpu_uuid' | 'pid' | 'process_name' | 'used_memory';

const APPS_ALIASES: Record<string, AppsField> = {
  gpu_uuid: 'gpu_uuid',
  pid: 'pid',
  process_name: 'process_name',
  name: 'process_name',
  used_memory: 'used_memory',
  used_gpu_memory: 'used_memory',
};

/**
 * Parses `nvidia-smi --query-compute-apps=gpu_uuid,pid,used_memory --format=csv,noheader,nounits`: one
 * row per process and GPU. An idle machine prints nothing (or only a header, or "No running processes
 * found" on old drivers). `used_memory` is MiB and becomes bytes; on Windows (WDDM) it is `[N/A]`, which
 * becomes null. The query names no process, so `name` is empty unless a `process_name` column is present:
 * a 4-cell row is read as `gpu_uuid, pid, process_name, used_memory`, and a header maps columns by name.
 * A process name may contain `, ` (a path): the cells beyond the expected count are given back to it.
 * A row without an integer pid is skipped with a reason.
 */
export function parseComputeAppsCsv(text: string): { processes: GpuProcessSample[]; skipped: string[] } {
  const processes: GpuProcessSample[] = [];
  const skipped: string[] = [];
  let columns: readonly (AppsField | null)[] | null = null;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || /^no running processes found$/i.test(line)) continue;
    const raw = line.split(',');
    const header = headerColumns(
      raw.map((cell) => cell.trim()),
      (name) => APPS_ALIASES[name] ?? null,
    );
    if (header !== null) {
      columns = header;
      continue;
    }
    const layout: readonly (AppsField | null)[] =
      columns ??
      (raw.length >= 4 ? ['gpu_uuid', 'pid', 'process_name', 'used_memory'] : COMPUTE_APPS_QUERY_FIELDS);
    const cells = foldExtraCells(raw, layout.indexOf('process_name'), layout.length);
    if (cells.length !== layout.length) {
      skipped.push(
        `nvidia-smi apps line ${i + 1}: expected ${layout.length} cells, found ${cells.length}: ${line}`,
      );
      continue;
    }
    const cell = (field: AppsField): string | null => {
      const at = layout.indexOf(field);
      return at < 0 ? null : cells[at]!;
    };
    const pidText = cell('pid');
    const pid = Number(pidText);
    if (pidText === null || !/^\d+$/.test(pidText) || pid <= 0) {
      skipped.push(`nvidia-smi apps line ${i + 1}: pid ${JSON.stringify(pidText)} is not a number: ${line}`);
      continue;
    }
    processes.push({
      gpuUuid: textCell(cell('gpu_uuid')),
      pid,
      // A process name is a path its owner chose: secrets masked where it enters vigil.
      name: redact(textCell(cell('process_name')) ?? ''),
      usedMemoryBytes: memoryCell(cell('used_memory')),
    });
  }
  return { processes, skipped };
}

/**
 * GPUs and their compute processes from `nvidia-smi`, the two queries run at once. No nvidia-smi program
 * means no NVIDIA driver: unsupported, not an error. A driver that is installed but fails (exit 9 "couldn't
 * communicate with the NVIDIA driver", "Failed to initialize NVML: Driver/library version mismatch") is
 * an error carrying nvidia-smi's own words. If only the process query fails, the GPUs are kept and
 * `processes` is empty, with the reason reported as a skip. A process row without a name is named from
 * `/proc/[pid]/comm` when that pid is visible here.
 */
export function createGpuCollector(): Collector<GpuSlice> {
  return {
    name: 'gpu',
    async collect(ctx, report) {
      const timeoutMs = ctx.commandTimeoutMs;
      const run = { timeoutMs, signal: ctx.signal };
      const [gpuRun, appsRun] = await Promise.allSettled([
        runCommand(gpuQueryArgs(ctx.nvidiaSmi), run),
        runCommand(computeAppsQueryArgs(ctx.nvidiaSmi), run),
      ]);
      if (gpuRun.status === 'rejected') {
        const error = gpuRun.reason;
        if (error instanceof CommandNotFound && error.code === 'ENOENT') {
          throw new Unsupported('nvidia-smi not found: no NVIDIA driver installed');
        }
        throw new Error(`cannot run ${ctx.nvidiaSmi}: ${(error as Error).message}`, { cause: error });
      }
      const gpus = readGpus(gpuRun.value, timeoutMs);
      for (const reason of gpus.skipped) report.skip(reason);

      let processes: GpuProcessSample[] = [];
      try {
        if (appsRun.status === 'rejected') throw appsRun.reason;
        const apps = readApps(appsRun.value, timeoutMs);
        for (const reason of apps.skipped) report.skip(reason);
        processes = apps.processes.map((p) => (p.name === '' ? { ...p, name: commOf(ctx, p.pid) } : p));
      } catch (error) {
        report.skip(`GPU processes unknown: ${(error as Error).message}`);
      }
      return { gpus: gpus.gpus, processes };
    },
  };
}

function readGpus(result: CommandResult, timeoutMs: number): { gpus: GpuSample[]; skipped: string[] } {
  checkRun(result, timeoutMs);
  const parsed = parseGpuCsv(result.stdout);
  if (parsed.gpus.length === 0 && parsed.skipped.length > 0) {
    const said = firstLine(result.stdout) ?? firstLine(result.stderr) ?? '';
    throw new Error(`nvidia-smi did not answer with CSV: ${said}`);
  }
  return parsed;
}

function readApps(
  result: CommandResult,
  timeoutMs: number,
): { processes: GpuProcessSample[]; skipped: string[] } {
  checkRun(result, timeoutMs);
  const parsed = parseComputeAppsCsv(result.stdout);
  if (parsed.processes.length === 0 && parsed.skipped.length > 0) {
    throw new Error(`nvidia-smi did not answer with CSV: ${firstLine(result.stdout) ?? ''}`);
  }
  return parsed;
}

/** Throws on a timeout or a failed exit, with nvidia-smi's own first line (it prints errors on stdout). */
function checkRun(result: CommandResult, timeoutMs: number): void {
  if (result.timedOut) throw new CommandTimedOut('nvidia-smi', timeoutMs);
  if (result.exitCode === 0) return;
  const said = firstLine(result.stdout) ?? firstLine(result.stderr) ?? 'no output';
  if (/^no devices were found/i.test(said)) throw new Unsupported('nvidia-smi found no NVIDIA GPU');
  const how = result.exitCode === null ? `killed by ${result.signal}` : `exit ${result.exitCode}`;
  throw new Error(`nvidia-smi failed (${how}): ${said}`);
}

function commOf(ctx: CollectContext, pid: number): string {
  return readAttribute(join(ctx.paths.procfs, String(pid), 'comm')) ?? '';
}

function firstLine(text: string): string | null {
  const line = text.split('\n').find((l) => l.trim() !== '');
  return line === undefined ? null : line.trim();
}

function isGpuField(name: string): name is GpuField {
  return (GPU_QUERY_FIELDS as readonly string[]).includes(name);
}

/**
 * Column names when `cells` is a header line (`index, name, memory.total [MiB]`), else null. A header is
 * recognised by its cells all being lower-case query names, at least one of them known; unknown columns
 * map to null and are ignored.
 */
function headerColumns<F>(cells: string[], known: (name: string) => F | null): (F | null)[] | null {
  const names = cells.map((cell) => cell.replace(/\s*\[[^\]]*\]$/, ''));
  if (!names.every((name) => /^[a-z][a-z0-9_.]*$/.test(name))) return null;
  const columns = names.map(known);
  return columns.some((column) => column !== null) ? columns : null;
}

/** Splits back to `count` cells, giving the surplus (commas inside a process name) to cell `at`. */
function foldExtraCells(raw: string[], at: number, count: number): string[] {
  const extra = raw.length - count;
  if (extra <= 0 || at < 0) return raw.map((cell) => cell.trim());
  const folded = [...raw.slice(0, at), raw.slice(at, at + extra + 1).join(','), ...raw.slice(at + extra + 1)];
  return folded.map((cell) => cell.trim());
}

/** A value nvidia-smi could not give: `[N/A]`, `N/A`, `[Not Supported]`, `[Unknown Error]`... */
function isMissing(cell: string): boolean {
  return cell === '' || /^\[.*\]$/.test(cell) || /^n\/a$/i.test(cell);
}

function textCell(cell: string | null): string | null {
  return cell === null || isMissing(cell) ? null : printable(cell);
}

/** A number with an optional unit among `units` (`''` = none); anything else is null. */
function numberCell(cell: string | null, units: readonly string[]): number | null {
  if (cell === null || isMissing(cell)) return null;
  const match = /^(-?\d+(?:\.\d+)?)\s*([A-Za-z%]*)$/.exec(cell);
  if (match === null || !units.includes(match[2]!)) return null;
  return Number(match[1]);
}

function memoryCell(cell: string | null): number | null {
  if (cell === null || isMissing(cell)) return null;
  const match = /^(\d+(?:\.\d+)?)\s*([A-Za-z]*)$/.exec(cell);
  const factor = match === null ? undefined : MEMORY_UNITS[match[2]!];
  if (match === null || factor === undefined) return null;
  return Math.round(Number(match[1]) * factor);
}
