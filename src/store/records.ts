import type { ProcessSample, Snapshot } from '../model/snapshot.js';
import { redact } from '../redact/redact.js';
import type { Finding } from '../rules/types.js';
import { sensorKind } from '../understand/facts.js';
import type { FactSet, ProcessFacts } from '../understand/facts-schema.js';
import type { ProcessRecord, SnapshotRecord } from './types.js';

/** How many processes by CPU and by memory a history snapshot keeps (plus those in findings). */
export const TOP_PROCESSES = 10;

/**
 * The history row of a snapshot: system metrics, the top processes by CPU and by memory, and every
 * process involved in a firing finding — with kinds and groups from the facts, cmdlines redacted.
 */
export function snapshotRecord(
  snapshot: Snapshot,
  facts: FactSet,
  findings: readonly Finding[],
  groupOf: (p: ProcessSample) => string,
): SnapshotRecord {
  const processes = snapshot.processes ?? [];
  const byPid = new Map<number, ProcessFacts>();
  for (const subject of facts.subjects.process ?? []) {
    const f = subject.facts as ProcessFacts;
    byPid.set(f.pid, f);
  }
  const keep = new Set<ProcessSample>();
  const byCpu = [...processes].sort((a, b) => (b.cpuPercent ?? 0) - (a.cpuPercent ?? 0));
  const byMem = [...processes].sort((a, b) => b.rssBytes - a.rssBytes);
  for (const p of byCpu.slice(0, TOP_PROCESSES)) keep.add(p);
  for (const p of byMem.slice(0, TOP_PROCESSES)) keep.add(p);
  const involved = new Set(findings.flatMap((f) => f.pids));
  for (const p of processes) if (involved.has(p.pid)) keep.add(p);

  const record = (p: ProcessSample): ProcessRecord => {
    const f = byPid.get(p.pid);
    return {
      pid: p.pid,
      startTicks: p.startTicks,
      comm: p.comm,
      name: f?.name ?? p.comm,
      cmdline: redact(p.cmdline).slice(0, 512),
      user: p.user ?? String(p.uid),
      kind: f?.kind || null,
      group: redact(groupOf(p)).slice(0, 512),
      cpuPercent: round(p.cpuPercent ?? 0),
      cpuSeconds: round(p.cpuSeconds),
      rssBytes: p.rssBytes,
      swapBytes: p.swapBytes,
      state: p.state,
      orphan: f?.orphan ?? false,
    };
  };

  const temps = snapshot.temperatures ?? [];
  const cpuTemps = temps.filter((t) => sensorKind(t.chip) === 'cpu').map((t) => t.tempCelsius);
  const gpuTemps = [
    ...temps.filter((t) => sensorKind(t.chip) === 'gpu').map((t) => t.tempCelsius),
    ...(snapshot.gpus ?? []).flatMap((g) => (g.temperatureCelsius === null ? [] : [g.temperatureCelsius])),
  ];
  const m = snapshot.memory;
  const c = snapshot.cpu;
  return {
    takenAt: snapshot.takenAt,
    memUsedPercent: m ? round(m.usedPercent) : null,
    memAvailableBytes: m?.availableBytes ?? null,
    swapUsedPercent: m ? round(m.swapUsedPercent) : null,
    load1: c?.load[0] ?? null,
    load5: c?.load[1] ?? null,
    load15: c?.load[2] ?? null,
    cpuPercent: c?.usagePercent === null || c?.usagePercent === undefined ? null : round(c.usagePercent),
    psiMemSomeAvg10: m?.pressure?.some?.avg10 ?? null,
    psiMemFullAvg10: m?.pressure?.full?.avg10 ?? null,
    psiCpuSomeAvg10: c?.pressure?.some?.avg10 ?? null,
    psiIoFullAvg10: snapshot.ioPressure?.full?.avg10 ?? null,
    cpuTempCelsius: cpuTemps.length > 0 ? Math.max(...cpuTemps) : null,
    gpuTempCelsius: gpuTemps.length > 0 ? Math.max(...gpuTemps) : null,
    disks: Object.fromEntries((snapshot.disks ?? []).map((d) => [d.mount, round(d.usedPercent)])),
    processes: [...keep].map(record),
  };
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}
