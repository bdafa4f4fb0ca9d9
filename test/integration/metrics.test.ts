import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { defaultConfig } from '../../src/config/schema.js';
import { MetricsServer } from '../../src/metrics/server.js';
import { daemonHome, RunningDaemon } from '../helpers/daemon.js';
import {
  eventually,
  freePort,
  http,
  PROMETHEUS_MISSING,
  promtoolCheckMetrics,
  type RealServer,
  startPrometheus,
  which,
} from '../helpers/prometheus.js';

const homes: Array<ReturnType<typeof daemonHome>> = [];
const daemons: RunningDaemon[] = [];
const servers: RealServer[] = [];
after(async () => {
  for (const d of daemons) if (d.child.exitCode === null) d.child.kill('SIGKILL');
  for (const s of servers) await s.cleanup();
  for (const h of homes) h.cleanup();
});

/** A daemon home whose config serves metrics on `listen`. */
function homeWith(config: string) {
  const h = daemonHome();
  homes.push(h);
  writeFileSync(join(h.configDir, 'config.toml'), config);
  return h;
}

function daemon(h: ReturnType<typeof daemonHome>) {
  const d = new RunningDaemon(h, ['--interval', '1']);
  daemons.push(d);
  return d;
}

function configWith(listen: string) {
  const text = `[metrics]\nlisten = "${listen}"\n`;
  return { config: { ...defaultConfig(), metrics: { listen } }, path: '/tmp/vigil.toml', text };
}

/** A scrape once the first full cycle is in (vigil_last_cycle_timestamp_seconds set). */
async function scrape(port: number): Promise<string> {
  return eventually(async () => {
    const answer = await http(`http://127.0.0.1:${port}/metrics`);
    return answer.status === 200 && /^vigil_last_cycle_timestamp_seconds [1-9]/m.test(answer.body)
      ? answer.body
      : undefined;
  }, `a scrape of 127.0.0.1:${port} with a full cycle in it`);
}

describe('the /metrics endpoint', () => {
  it('serves the Prometheus text format on /metrics and nothing else', async () => {
    const lines: string[] = [];
    const server = new MetricsServer({ log: (line) => lines.push(line) });
    const port = await freePort();
    try {
      assert.equal(await server.start(`127.0.0.1:${port}`), true);
      assert.match(lines.join('\n'), new RegExp(`metrics: serving http://127\\.0\\.0\\.1:${port}/metrics`));
      const answer = await http(`http://127.0.0.1:${port}/metrics`);
      assert.equal(answer.status, 200);
      assert.match(String(answer.headers['content-type']), /^text\/plain; version=0\.0\.4/);
      assert.match(answer.body, /^# TYPE vigil_alerts_total counter$/m);
      assert.equal((await http(`http://127.0.0.1:${port}/other`)).status, 404);
      assert.equal(
        (await http(`http://127.0.0.1:${port}/metrics`, { method: 'POST', body: '{}' })).status,
        405,
      );
    } finally {
      await server.close();
    }
    await assert.rejects(http(`http://127.0.0.1:${port}/metrics`), /ECONNREFUSED/);
  });

  it('turns only itself off when the port is taken, and says so', async () => {
    const port = await freePort();
    const squatter: Server = createServer();
    await new Promise<void>((resolve) => squatter.listen(port, '127.0.0.1', resolve));
    const lines: string[] = [];
    const server = new MetricsServer({ log: (line) => lines.push(line) });
    try {
      assert.equal(await server.start(`127.0.0.1:${port}`), false);
      assert.match(
        lines.join('\n'),
        new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: the port is in use; /metrics is off`),
      );
      assert.equal(server.address, null);
    } finally {
      await server.close();
      await new Promise((resolve) => squatter.close(resolve));
    }
  });

  it('follows a new config: moves to another port, refuses a bad value with its line, stops when emptied', async () => {
    const lines: string[] = [];
    const server = new MetricsServer({ log: (line) => lines.push(line) });
    const [first, second] = [await freePort(), await freePort()];
    try {
      await server.apply(configWith(`127.0.0.1:${first}`));
      assert.equal(server.address, `127.0.0.1:${first}`);
      await server.apply(configWith(`127.0.0.1:${second}`));
      assert.equal(server.address, `127.0.0.1:${second}`);
      await assert.rejects(http(`http://127.0.0.1:${first}/metrics`), /ECONNREFUSED/);
      await server.apply(configWith('localhost'));
      assert.match(
        lines.at(-1)!,
        new RegExp(
          `^metrics: /tmp/vigil\\.toml:2: metrics\\.listen: "localhost" has no port.*still serving 127\\.0\\.0\\.1:${second}`,
        ),
      );
      assert.equal((await http(`http://127.0.0.1:${second}/metrics`)).status, 200);
      await server.apply(configWith(''));
      assert.equal(server.address, null);
      assert.equal(lines.at(-1), 'metrics: off');
    } finally {
      await server.close();
    }
  });
});

describe('a vigil daemon with [metrics] listen', () => {
  it('serves its live metrics, which promtool check metrics finds clean', async (t) => {
    const port = await freePort();
    const h = homeWith(`[metrics]\nlisten = "127.0.0.1:${port}"\n`);
    const d = daemon(h);
    await d.waitFor(new RegExp(`metrics: serving http://127\\.0\\.0\\.1:${port}/metrics`));
    const text = await scrape(port);
    for (const name of [
      'vigil_memory_total_bytes',
      'vigil_memory_available_bytes',
      'vigil_swap_total_bytes',
      'vigil_load1',
      'vigil_cpu_cores',
      'vigil_filesystem_size_bytes',
      'vigil_collector_success',
      'vigil_collector_duration_seconds',
      'vigil_findings_firing',
      'process_resident_memory_bytes',
    ])
      assert.match(text, new RegExp(`^${name}(\\{.*\\})? \\d`, 'm'), `${name} has a value`);
    const check = promtoolCheckMetrics(text);
    if (check === null) t.diagnostic('promtool not found: install the Debian package prometheus');
    else assert.deepEqual(check, { status: 0, output: '' });
    assert.equal((await d.stop()).code, 0);
    await assert.rejects(http(`http://127.0.0.1:${port}/metrics`), /ECONNREFUSED/);
  });

  it('keeps watching when the port is taken, with a line that says so', async () => {
    const port = await freePort();
    const squatter: Server = createServer();
    await new Promise<void>((resolve) => squatter.listen(port, '127.0.0.1', resolve));
    try {
      const h = homeWith(`[metrics]\nlisten = "127.0.0.1:${port}"\n`);
      const d = daemon(h);
      await d.waitFor(
        /metrics: cannot listen on .*the port is in use; \/metrics is off, everything else goes on/,
      );
      await d.waitFor(/started/);
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(d.child.exitCode, null, 'the daemon is still running');
      assert.equal((await d.stop()).code, 0);
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
  });

  it('refuses a bad listen value at start, naming file:line: key (exit 2), as any config error', async () => {
    const h = homeWith('[general]\ninterval_secs = 1\n\n[metrics]\nlisten = "127.0.0.1:http"\n');
    const d = daemon(h);
    assert.equal((await d.exited).code, 2);
    assert.match(d.stderr, /config\.toml:5: metrics\.listen: "127\.0\.0\.1:http" has no port/);
  });

  it('starts serving on SIGHUP when listen is added to the config', async () => {
    const h = homeWith('[general]\ninterval_secs = 1\n');
    const d = daemon(h);
    await d.waitFor(/started/);
    assert.doesNotMatch(d.stderr, /metrics:/);
    const port = await freePort();
    writeFileSync(join(h.configDir, 'config.toml'), `[metrics]\nlisten = "127.0.0.1:${port}"\n`);
    d.child.kill('SIGHUP');
    await d.waitFor(new RegExp(`metrics: serving http://127\\.0\\.0\\.1:${port}/metrics`));
    await scrape(port);
    assert.equal((await d.stop()).code, 0);
  });
});

describe('Prometheus scraping vigil', () => {
  it("finds vigil's series through its query API", async (t) => {
    if (!which('prometheus')) return t.skip(PROMETHEUS_MISSING);
    const port = await freePort();
    const h = homeWith(`[metrics]\nlisten = "127.0.0.1:${port}"\n`);
    const d = daemon(h);
    await d.waitFor(/metrics: serving/);
    const prometheus = await startPrometheus([`127.0.0.1:${port}`]);
    servers.push(prometheus);
    const query = async (promql: string) => {
      const answer = await http(`${prometheus.url}/api/v1/query?query=${encodeURIComponent(promql)}`);
      const json = JSON.parse(answer.body) as {
        status: string;
        data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> };
      };
      assert.equal(json.status, 'success', answer.body);
      return json.data.result;
    };
    const up = await eventually(async () => {
      const result = await query('up{job="vigil"}');
      return result[0]?.value[1] === '1' ? result[0] : undefined;
    }, 'Prometheus to scrape vigil (up == 1)');
    assert.equal(up.metric['instance'], `127.0.0.1:${port}`);
    const total = await eventually(
      async () => (await query('vigil_memory_total_bytes'))[0],
      'vigil_memory_total_bytes in Prometheus',
    );
    assert.ok(Number(total.value[1]) > 64 * 1024 * 1024, `memory total ${total.value[1]}`);
    const collectors = await eventually(async () => {
      const result = await query('vigil_collector_success');
      return result.length > 0 ? result : undefined;
    }, 'vigil_collector_success in Prometheus');
    assert.ok(collectors.some((r) => r.metric['collector'] === 'processes'));
    const cores = await eventually(async () => (await query('vigil_cpu_cores'))[0], 'vigil_cpu_cores');
    assert.ok(Number(cores.value[1]) >= 1);
    assert.equal((await d.stop()).code, 0);
  });
});
