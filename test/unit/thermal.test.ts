import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  createThermalCollector,
  isPlausibleReading,
  parseMillidegrees,
  parseTripPoints,
  plausibleLimit,
  temperatureInputs,
} from '../../src/collectors/thermal.js';
import { type CollectContext, Unsupported } from '../../src/collectors/types.js';
import type { HostPaths } from '../../src/host/paths.js';
import type { TemperatureSample } from '../../src/model/snapshot.js';

const fixtures = fileURLToPath(new URL('../fixtures/', import.meta.url));
const fixtureSys = join(fixtures, 'sys');

/**
 * Reads a `path = 'value'` sample (hwmon-tree.txt, thermal-zones.txt) into a map from sysfs path to file
 * content; `#` comment lines, `## ` block headers and symlink lines are left out.
 */
function sysfsSample(name: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of readFileSync(join(fixtures, 'samples', name), 'utf8').split('\n')) {
    if (line.startsWith('#')) continue;
    const match = /^(\S+) = '(.*)'$/.exec(line);
    if (match) values.set(match[1]!, match[2]!);
  }
  return values;
}

function contextFor(sysfs: string): CollectContext {
  const paths: HostPaths = { procfs: join(fixtures, 'proc'), sysfs, etc: '/etc', rootfs: '/' };
  return {
    paths,
    nowMs: 1_700_000_000_000,
    monoMs: 1000,
    nvidiaSmi: 'nvidia-smi',
    journal: { kind: 'system' },
    journalSince: '-1h',
    commandTimeoutMs: 1000,
  };
}

async function collect(sysfs: string): Promise<{ samples: TemperatureSample[]; skipped: string[] }> {
  const skipped: string[] = [];
  const samples = await createThermalCollector().collect(contextFor(sysfs), {
    skip: (reason) => skipped.push(reason),
  });
  return { samples, skipped };
}

const temporaryDirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-thermal-'));
  temporaryDirs.push(dir);
  return dir;
}
/** A copy of the fixture sysfs tree whose relative symlinks still point inside the copy. */
function copyOfFixtureSys(): string {
  const sys = join(tempDir(), 'sys');
  cpSync(fixtureSys, sys, { recursive: true, verbatimSymlinks: true });
  return sys;
}
function writeTree(root: string, files: Record<string, string>): void {
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), `${content}\n`);
  }
}
after(() => {
  for (const dir of temporaryDirs) rmSync(dir, { recursive: true, force: true });
});

describe('parsing sysfs temperatures', () => {
  it('reads millidegrees as degrees Celsius, with or without the trailing newline', () => {
    assert.equal(parseMillidegrees('43850\n'), 43.85);
    assert.equal(parseMillidegrees('55000'), 55);
  });

  it('reads negative millidegrees such as the nvme minimum of -273.15 °C', () => {
    const hwmon = sysfsSample('hwmon-tree.txt');
    const min = hwmon.get('sys/devices/pci0000:00/0000:00:02.1/0000:01:00.0/nvme/nvme0/hwmon3/temp2_min')!;
    assert.equal(parseMillidegrees(min), -273.15);
  });

  it('returns null for an empty or garbled value instead of a zero reading', () => {
    assert.equal(parseMillidegrees(''), null);
    assert.equal(parseMillidegrees('N/A'), null);
    assert.equal(parseMillidegrees('12.5'), null);
  });

  it("treats the nvme 'max' of 65261.85 °C as no limit, and keeps the real Composite limits", () => {
    const hwmon = sysfsSample('hwmon-tree.txt');
    const nvme = 'sys/devices/pci0000:00/0000:00:02.1/0000:01:00.0/nvme/nvme0/hwmon3';
    assert.equal(plausibleLimit(parseMillidegrees(hwmon.get(`${nvme}/temp2_max`)!)), null);
    assert.equal(plausibleLimit(parseMillidegrees(hwmon.get(`${nvme}/temp1_max`)!)), 84.85);
    assert.equal(plausibleLimit(parseMillidegrees(hwmon.get(`${nvme}/temp1_crit`)!)), 94.85);
  });

  it('treats a limit of 0 °C as no limit', () => {
    assert.equal(plausibleLimit(0), null);
  });

  it('flags the acpitz zone at -44 °C as bogus and keeps the bcm2835 zone at 49.925 °C', () => {
    const zones = sysfsSample('thermal-zones.txt');
    const acpitz = parseMillidegrees(zones.get('sys/class/thermal/thermal_zone1/temp')!)!;
    const bcm = parseMillidegrees(zones.get('sys/class/thermal/thermal_zone0/temp')!)!;
    assert.equal(acpitz, -44);
    assert.equal(isPlausibleReading(acpitz), false);
    assert.equal(bcm, 49.925);
    assert.equal(isPlausibleReading(bcm), true);
  });

  it('accepts the edges of the plausible range and rejects a disconnected probe at 255 °C', () => {
    assert.equal(isPlausibleReading(-40), true);
    assert.equal(isPlausibleReading(150), true);
    assert.equal(isPlausibleReading(255), false);
  });

  it('finds temperature inputs only, ignoring bogus1_*, fans, voltages and pwm auto-point temps', () => {
    const hwmon = sysfsSample('hwmon-tree.txt');
    const filesOf = (dir: string) =>
      [...hwmon.keys()].filter((path) => dirname(path) === dir).map((path) => path.slice(dir.length + 1));
    assert.deepEqual(temperatureInputs(filesOf('sys/devices/platform/bogus.0/hwmon/hwmon5')), []);
    assert.deepEqual(temperatureInputs(filesOf('sys/devices/platform/nct6775.656/hwmon/hwmon3')), []);
    assert.deepEqual(
      temperatureInputs(filesOf('sys/devices/pci0000:00/0000:00:02.1/0000:01:00.0/nvme/nvme0/hwmon3')),
      [1, 2, 3, 9],
    );
  });

  it('takes the hot and critical trip points of a thermal zone as its max and crit', () => {
    const trips = new Map([
      ['trip_point_0_type', 'critical'],
      ['trip_point_0_temp', '105000'],
      ['trip_point_1_type', 'hot'],
      ['trip_point_1_temp', '95000'],
      ['trip_point_2_type', 'passive'],
      ['trip_point_2_temp', '85000'],
    ]);
    assert.deepEqual(parseTripPoints(trips), { maxCelsius: 95, critCelsius: 105 });
  });
});

describe('the thermal collector on the fixture sysfs tree', () => {
  it('reports the two coretemp chips separately, keyed by their device paths', async () => {
    const { samples } = await collect(fixtureSys);
    const coretemp = samples.filter((s) => s.chip === 'coretemp');
    assert.equal(coretemp.length, 10);
    const paths = [...new Set(coretemp.map((s) => s.path))];
    assert.deepEqual(paths, [
      join(fixtureSys, 'devices/platform/coretemp.0/hwmon/hwmon0'),
      join(fixtureSys, 'devices/platform/coretemp.1/hwmon/hwmon1'),
    ]);
  });

  it("keeps labels with spaces such as 'Physical id 0' and 'Core 3'", async () => {
    const { samples } = await collect(fixtureSys);
    const first = samples.filter((s) => s.path.endsWith('hwmon0'));
    assert.deepEqual(
      first.map((s) => [s.label, s.tempCelsius, s.maxCelsius, s.critCelsius]),
      [
        ['Physical id 0', 55, 84, 100],
        ['Core 0', 54, 84, 100],
        ['Core 1', 52, 84, 100],
        ['Core 2', 53, 84, 100],
        ['Core 3', 50, 84, 100],
      ],
    );
    assert.ok(first.every((s) => s.source === 'hwmon'));
  });

  it('names a chip without a name file after its hwmon directory', async () => {
    const { samples } = await collect(fixtureSys);
    const hwmon4 = samples.filter((s) => s.chip === 'hwmon4');
    assert.deepEqual(
      hwmon4.map((s) => [s.label, s.tempCelsius]),
      [
        ['foosensor', 55],
        ['foosensor', 54],
      ],
    );
    assert.equal(hwmon4[0]!.path, join(fixtureSys, 'class/hwmon/hwmon4'));
  });

  it('finds the sensors of an old-style applesmc driver in the parent device directory', async () => {
    const { samples } = await collect(fixtureSys);
    const applesmc = samples.find((s) => s.chip === 'applesmc');
    assert.deepEqual(applesmc, {
      chip: 'applesmc',
      label: 'TC0P',
      input: 'temp1',
      tempCelsius: 41.25,
      maxCelsius: null,
      critCelsius: null,
      source: 'hwmon',
      path: join(fixtureSys, 'devices/platform/applesmc.768'),
    });
  });

  it('reports nvme sensors with a null max where the drive claims 65261.85 °C', async () => {
    const { samples } = await collect(fixtureSys);
    const nvme = samples.filter((s) => s.chip === 'nvme');
    assert.deepEqual(
      nvme.map((s) => [s.label, s.tempCelsius, s.maxCelsius, s.critCelsius]),
      [
        ['Composite', 43.85, 84.85, 94.85],
        ['Sensor 1', 43.85, null, null],
        ['Sensor 2', 45.85, null, null],
        ['Sensor 8', 43.85, null, null],
      ],
    );
  });

  it('labels an unlabelled input by its name and keeps three same-model wifi chips apart', async () => {
    const { samples } = await collect(fixtureSys);
    const wifi = samples.filter((s) => s.chip.startsWith('mt7996'));
    assert.deepEqual(
      wifi.map((s) => [s.chip, s.label, s.tempCelsius]),
      [
        ['mt7996_phy0_0', 'temp1', 55],
        ['mt7996_phy0_1', 'temp1', 56],
        ['mt7996_phy0_2', 'temp1', 57],
      ],
    );
  });

  it('ignores chips with only fans, voltages, pwm or unknown bogus1_* files', async () => {
    const { samples } = await collect(fixtureSys);
    const chips = new Set(samples.map((s) => s.chip));
    for (const chip of ['bogus', 'nct6779', 'asus', 'asus_wmi_sensors']) assert.ok(!chips.has(chip), chip);
  });

  it('reports the cpu-thermal zone and drops the acpitz zone at -44 °C with a reason', async () => {
    const { samples, skipped } = await collect(fixtureSys);
    const zones = samples.filter((s) => s.source === 'thermal_zone');
    assert.deepEqual(zones, [
      {
        chip: 'cpu-thermal',
        label: 'thermal_zone0',
        input: 'temp',
        tempCelsius: 12.376,
        maxCelsius: null,
        critCelsius: null,
        source: 'thermal_zone',
        path: join(fixtureSys, 'devices/virtual/thermal/thermal_zone0'),
      },
    ]);
    assert.equal(skipped.length, 1);
    assert.match(skipped[0]!, /acpitz thermal_zone1 .*-44 °C is outside the plausible range -40\.\.150 °C/);
  });

  it('skips a garbled reading with a reason and still reports every other sensor', async () => {
    const sys = copyOfFixtureSys();
    writeFileSync(join(sys, 'devices/platform/coretemp.0/hwmon/hwmon0/temp2_input'), 'garbage\n');
    const { samples, skipped } = await collect(sys);
    assert.ok(skipped.some((r) => r.includes('temp2_input') && r.includes('"garbage"')));
    const first = samples.filter((s) => s.path.endsWith('coretemp.0/hwmon/hwmon0'));
    assert.deepEqual(
      first.map((s) => s.label),
      ['Physical id 0', 'Core 1', 'Core 2', 'Core 3'],
    );
    assert.equal(samples.filter((s) => s.chip === 'nvme').length, 4);
  });

  it('drops a probe reading 255 °C as a sensor fault', async () => {
    const sys = copyOfFixtureSys();
    writeFileSync(
      join(sys, 'devices/platform/soc/18000000.wifi/ieee80211/phy0/hwmon/hwmon9/temp1_input'),
      '255000\n',
    );
    const { samples, skipped } = await collect(sys);
    assert.ok(!samples.some((s) => s.chip === 'mt7996_phy0_1'));
    assert.ok(skipped.some((r) => r.startsWith('mt7996_phy0_1 temp1') && r.includes('255 °C')));
  });
});

describe('thermal sources that are missing or duplicated', () => {
  it('says unsupported when sysfs has neither hwmon nor thermal zones', async () => {
    const sys = join(tempDir(), 'sys');
    mkdirSync(join(sys, 'class', 'thermal'), { recursive: true });
    await assert.rejects(
      async () => collect(sys),
      (error: unknown) =>
        error instanceof Unsupported && error.message === `no temperature sensors exposed in ${sys}`,
    );
  });

  it('reports a thermal zone once, not again as the hwmon chip the kernel mirrors it to', async () => {
    const sys = join(tempDir(), 'sys');
    writeTree(sys, {
      'devices/virtual/thermal/thermal_zone0/type': 'acpitz',
      'devices/virtual/thermal/thermal_zone0/temp': '47000',
      'devices/virtual/thermal/thermal_zone0/trip_point_0_type': 'critical',
      'devices/virtual/thermal/thermal_zone0/trip_point_0_temp': '105000',
      'devices/virtual/thermal/thermal_zone0/trip_point_1_type': 'hot',
      'devices/virtual/thermal/thermal_zone0/trip_point_1_temp': '95000',
      'devices/virtual/thermal/thermal_zone0/hwmon2/name': 'acpitz',
      'devices/virtual/thermal/thermal_zone0/hwmon2/temp1_input': '47000',
      'devices/virtual/thermal/thermal_zone0/hwmon2/temp1_crit': '105000',
    });
    mkdirSync(join(sys, 'class', 'thermal'), { recursive: true });
    mkdirSync(join(sys, 'class', 'hwmon'), { recursive: true });
    symlinkSync('../../devices/virtual/thermal/thermal_zone0', join(sys, 'class/thermal/thermal_zone0'));
    symlinkSync('../../devices/virtual/thermal/thermal_zone0/hwmon2', join(sys, 'class/hwmon/hwmon2'));
    const { samples } = await collect(sys);
    assert.deepEqual(
      samples.map((s) => [s.chip, s.source, s.tempCelsius, s.maxCelsius, s.critCelsius]),
      [['acpitz', 'thermal_zone', 47, 95, 105]],
    );
  });
});
