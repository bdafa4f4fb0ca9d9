import { realpathSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { listDir, readAttribute } from '../host/files.js';
import type { TemperatureSample } from '../model/snapshot.js';
import type { Collector, CollectReport } from './types.js';
import { Unsupported } from './types.js';

/**
 * Temperatures from two sysfs sources (Documentation/hwmon/sysfs-interface.rst and
 * Documentation/driver-api/thermal/sysfs-api.rst):
 *
 * - `<sysfs>/class/hwmon/hwmonN/` — one directory per chip (usually a symlink into /sys/devices, sometimes
 *   a plain directory). `name` names the chip; `tempK_input` is a reading in millidegrees Celsius,
 *   `tempK_label`, `tempK_max` and `tempK_crit` are optional. Old-style drivers (applesmc) keep `name` and
 *   the sensor files in the parent device, reached through `hwmonN/device/`. Fans, voltages, pwm and
 *   unknown prefixes (`bogus1_*`) are ignored; so are `tempK_min`, `_lcrit` and the alarm flags.
 * - `<sysfs>/class/thermal/thermal_zoneN/` — `type` names the zone, `temp` is in millidegrees, and
 *   `trip_point_K_type`/`_temp` give the `hot` and `critical` limits. Cooling devices are ignored.
 *
 * The thermal framework also registers an hwmon chip for each zone type (under the zone's directory); that
 * chip repeats the zone's reading, so it is dropped in favour of the zone.
 */

/** Readings outside this range are sensor faults (acpitz reporting -44 °C, a disconnected probe at 255 °C). */
export const MIN_PLAUSIBLE_CELSIUS = -40;
export const MAX_PLAUSIBLE_CELSIUS = 150;
/** A max or crit limit above this is a placeholder (nvme reports 65261.85 °C for unset limits). */
export const MAX_PLAUSIBLE_LIMIT_CELSIUS = 200;

/**
 * Parses a sysfs temperature in millidegrees Celsius (`43850`, `-273150`, with or without the trailing
 * newline) into degrees. Returns null for anything that is not a whole number (empty, `N/A`, garbled).
 */
export function parseMillidegrees(text: string): number | null {
  const trimmed = text.trim();
  if (!/^-?\d+$/.test(trimmed)) return null;
  return Number(trimmed) / 1000;
}

/** True when a reading is within the plausible range (-40..150 °C, inclusive). */
export function isPlausibleReading(celsius: number): boolean {
  return celsius >= MIN_PLAUSIBLE_CELSIUS && celsius <= MAX_PLAUSIBLE_CELSIUS;
}

/**
 * A max or crit limit, or null when it is absent or meaningless: not above 0 °C (drivers write 0 for
 * "no limit") or above 200 °C (placeholders such as nvme's 65261.85 °C).
 */
export function plausibleLimit(celsius: number | null): number | null {
  if (celsius === null || celsius <= 0 || celsius > MAX_PLAUSIBLE_LIMIT_CELSIUS) return null;
  return celsius;
}

/**
 * The indices K of the `tempK_input` files in a directory listing, in numeric order. Other prefixes
 * (`fan`, `in`, `pwm`, `bogus`) and other temp attributes do not count.
 */
export function temperatureInputs(fileNames: readonly string[]): number[] {
  const indices: number[] = [];
  for (const file of fileNames) {
    const match = /^temp(\d+)_input$/.exec(file);
    if (match) indices.push(Number(match[1]));
  }
  return indices.sort((a, b) => a - b);
}

/**
 * The `hot` and `critical` limits of a thermal zone, from its `trip_point_K_type` / `trip_point_K_temp`
 * pairs given as a map from file name to content. The lowest trip of each kind wins.
 */
export function parseTripPoints(files: ReadonlyMap<string, string>): {
  maxCelsius: number | null;
  critCelsius: number | null;
} {
  let maxCelsius: number | null = null;
  let critCelsius: number | null = null;
  for (const [file, content] of files) {
    const match = /^trip_point_(\d+)_type$/.exec(file);
    if (!match) continue;
    const kind = content.trim();
    const temp = files.get(`trip_point_${match[1]}_temp`);
    const celsius = plausibleLimit(temp === undefined ? null : parseMillidegrees(temp));
    if (celsius === null) continue;
    if (kind === 'critical') critCelsius = critCelsius === null ? celsius : Math.min(critCelsius, celsius);
    else if (kind === 'hot') maxCelsius = maxCelsius === null ? celsius : Math.min(maxCelsius, celsius);
  }
  return { maxCelsius, critCelsius };
}

/**
 * The path of a sysfs entry with its symlinks resolved, expressed under the sysfs root as the caller gave
 * it (so a fixture tree yields `test/fixtures/sys/devices/...`, the live system `/sys/devices/...`). Falls
 * back to the unresolved path when the entry cannot be resolved or points outside sysfs.
 */
function resolveUnderSysfs(sysfs: string, path: string): string {
  try {
    const rel = relative(realpathSync(sysfs), realpathSync(path));
    if (rel.startsWith('..') || rel === '') return path;
    return join(sysfs, rel);
  } catch {
    return path;
  }
}

/** True for the hwmon chip the thermal framework creates inside a thermal zone's directory. */
function isThermalZoneHwmon(resolvedPath: string): boolean {
  return resolvedPath.split(sep).some((part) => /^thermal_zone\d+$/.test(part));
}

function readHwmon(sysfs: string, report: CollectReport): TemperatureSample[] {
  const classDir = join(sysfs, 'class', 'hwmon');
  const samples: TemperatureSample[] = [];
  for (const entry of listDir(classDir).sort(byTrailingNumber)) {
    const entryPath = join(classDir, entry);
    const chipPath = resolveUnderSysfs(sysfs, entryPath);
    if (isThermalZoneHwmon(chipPath)) continue;

    // Old-style drivers keep the sensor files (and often `name`) in the parent device directory.
    let sensorDir = entryPath;
    let sensorPath = chipPath;
    let inputs = temperatureInputs(listDir(entryPath));
    if (inputs.length === 0) {
      const deviceDir = join(entryPath, 'device');
      inputs = temperatureInputs(listDir(deviceDir));
      if (inputs.length === 0) continue;
      sensorDir = deviceDir;
      sensorPath = resolveUnderSysfs(sysfs, deviceDir);
    }
    const chip =
      readAttribute(join(entryPath, 'name')) || readAttribute(join(entryPath, 'device', 'name')) || entry;

    for (const index of inputs) {
      const input = `temp${index}`;
      const raw = readAttribute(join(sensorDir, `${input}_input`));
      if (raw === undefined) {
        report.skip(`${join(sensorDir, `${input}_input`)}: unreadable (the sensor may be asleep or gone)`);
        continue;
      }
      const tempCelsius = parseMillidegrees(raw);
      if (tempCelsius === null) {
        report.skip(`${join(sensorDir, `${input}_input`)}: not a millidegree value: ${JSON.stringify(raw)}`);
        continue;
      }
      const label = readAttribute(join(sensorDir, `${input}_label`)) || input;
      if (!isPlausibleReading(tempCelsius)) {
        report.skip(`${chip} ${label} (${sensorPath}): ${tempCelsius} °C is outside ${rangeText()}, ignored`);
        continue;
      }
      samples.push({
        chip,
        label,
        tempCelsius,
        maxCelsius: readLimit(join(sensorDir, `${input}_max`)),
        critCelsius: readLimit(join(sensorDir, `${input}_crit`)),
        source: 'hwmon',
        path: sensorPath,
        input,
      });
    }
  }
  return samples;
}

function readThermalZones(
  sysfs: string,
  zones: readonly string[],
  report: CollectReport,
): TemperatureSample[] {
  const classDir = join(sysfs, 'class', 'thermal');
  const samples: TemperatureSample[] = [];
  for (const zone of zones) {
    const zoneDir = join(classDir, zone);
    const path = resolveUnderSysfs(sysfs, zoneDir);
    const raw = readAttribute(join(zoneDir, 'temp'));
    if (raw === undefined) {
      report.skip(`${join(zoneDir, 'temp')}: unreadable (the zone may be disabled)`);
      continue;
    }
    const tempCelsius = parseMillidegrees(raw);
    if (tempCelsius === null) {
      report.skip(`${join(zoneDir, 'temp')}: not a millidegree value: ${JSON.stringify(raw)}`);
      continue;
    }
    const chip = readAttribute(join(zoneDir, 'type')) || zone;
    if (!isPlausibleReading(tempCelsius)) {
      report.skip(`${chip} ${zone} (${path}): ${tempCelsius} °C is outside ${rangeText()}, ignored`);
      continue;
    }
    const tripFiles = new Map<string, string>();
    for (const file of listDir(zoneDir)) {
      if (!file.startsWith('trip_point_')) continue;
      const content = readAttribute(join(zoneDir, file));
      if (content !== undefined) tripFiles.set(file, content);
    }
    const { maxCelsius, critCelsius } = parseTripPoints(tripFiles);
    samples.push({
      chip,
      label: zone,
      tempCelsius,
      maxCelsius,
      critCelsius,
      source: 'thermal_zone',
      path,
      input: 'temp',
    });
  }
  return samples;
}

function readLimit(path: string): number | null {
  const raw = readAttribute(path);
  return plausibleLimit(raw === undefined ? null : parseMillidegrees(raw));
}

function rangeText(): string {
  return `the plausible range ${MIN_PLAUSIBLE_CELSIUS}..${MAX_PLAUSIBLE_CELSIUS} °C`;
}

/** Orders `hwmon2` before `hwmon10`. */
function byTrailingNumber(a: string, b: string): number {
  const na = Number(/(\d+)$/.exec(a)?.[1] ?? Number.NaN);
  const nb = Number(/(\d+)$/.exec(b)?.[1] ?? Number.NaN);
  if (Number.isFinite(na) && Number.isFinite(nb) && na !== nb) return na - nb;
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Reads every hwmon temperature input and every thermal zone. Throws Unsupported when sysfs exposes
 * neither (virtual machines, containers without /sys/class/hwmon).
 */
export function createThermalCollector(): Collector<TemperatureSample[]> {
  return {
    name: 'thermal',
    collect(ctx, report) {
      const sysfs = ctx.paths.sysfs;
      const hwmonEntries = listDir(join(sysfs, 'class', 'hwmon'));
      const zones = listDir(join(sysfs, 'class', 'thermal'))
        .filter((entry) => /^thermal_zone\d+$/.test(entry))
        .sort(byTrailingNumber);
      if (hwmonEntries.length === 0 && zones.length === 0) {
        throw new Unsupported(`no temperature sensors exposed in ${sysfs}`);
      }
      return [...readHwmon(sysfs, report), ...readThermalZones(sysfs, zones, report)];
    },
  };
}
