import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  canonicalProgram,
  displayName,
  groupKeyOf,
  invocationOf,
  isRunner,
  isShellCommand,
  normalizeCmdline,
  programName,
} from '../../src/understand/normalize.js';

const words = (cmdline: string): string[] => cmdline.split(' ');
const distinct = (argvs: readonly (readonly string[])[]): Set<string> => new Set(argvs.map(normalizeCmdline));

/** A Chrome renderer as `ps` shows it; the volatile values differ between renderers and launches. */
function chromeRenderer(clientId: number, trial: string, ticks: number, handle: number): string[] {
  return words(
    '/opt/google/chrome/chrome --type=renderer --crashpad-handler-pid=2701 --enable-crash-reporter=,stable ' +
      '--change-stack-guard-on-fork=enable --ozone-platform=wayland --lang=en-US --num-raster-threads=4 ' +
      `--enable-main-frame-before-activation --renderer-client-id=${clientId} ` +
      `--time-ticks-at-unix-epoch=-${1726113339512345 + ticks} --launch-time-ticks=${2741234567 + ticks} ` +
      `--shared-files=v8_context_snapshot_data:100 --field-trial-handle=3,i,${trial},4937217428419337541,262144 ` +
      '--variations-seed-version=20240911-050132.118000 --trace-process-track-uuid=3190708989122997041 ' +
      `--mojo-platform-channel-handle=${handle}`,
  );
}

/** VS Code's extension host (an Electron utility process), from one editor session. */
function extensionHost(crashpadPid: number, reporter: string, trial: string): string[] {
  return words(
    '/usr/share/code/code --type=utility --utility-sub-type=node.mojom.NodeService --lang=en-US ' +
      '--service-sandbox-type=none --dns-result-order=ipv4first --inspect-port=0 ' +
      `--crashpad-handler-pid=${crashpadPid} --enable-crash-reporter=${reporter},no_channel ` +
      '--user-data-dir=/home/dev/.config/Code --standard-schemes=vscode-webview,vscode-file ' +
      '--shared-files=v8_context_snapshot_data:100 ' +
      `--field-trial-handle=3,i,${trial},4093046428339810513,262144 ` +
      '--disable-features=CalculateNativeWinOcclusion,SpareRendererForSitePerProcess --variations-seed-version',
  );
}

/** VS Code's tsserver; `partialSemantic` is the syntax server, the semantic server has no --serverMode. */
function tsserver(pipeDir: string, pipeId: string, syntax: boolean): string[] {
  return [
    '/usr/share/code/code',
    '--max-old-space-size=3072',
    '/usr/share/code/resources/app/extensions/node_modules/typescript/lib/tsserver.js',
    ...(syntax ? ['--serverMode', 'partialSemantic'] : []),
    '--useInferredProjectPerProjectRoot',
    '--disableAutomaticTypingAcquisition',
    '--cancellationPipeName',
    `/tmp/vscode-typescript1000/${pipeDir}/tscancellation-${pipeId}.tmp*`,
    '--locale',
    'en',
    '--noGetErrOnBackgroundUpdate',
    '--validateDefaultNpmLocation',
    '--useNodeIpc',
  ];
}

describe('grouping identical servers under one normalised command line', () => {
  it('groups eight copies of an MCP server started with different ports, temp dirs, ids and interpreters', () => {
    const interpreters = ['/usr/bin/python3.11', 'python3', '/home/dev/.venv/bin/python', 'python'];
    const servers = Array.from({ length: 8 }, (_, i) => [
      interpreters[i % interpreters.length]!,
      '-m',
      'mcp_server_fetch',
      '--port',
      String(8100 + i),
      '--cache-dir',
      `/tmp/tmp.${Math.random().toString(36).slice(2, 10)}/cache`,
      `--session-id=${crypto.randomUUID()}`,
      '--parent-pid',
      String(4000 + i * 17),
    ]);
    const keys = distinct(servers);
    assert.equal(keys.size, 1, [...keys].join('\n'));
    assert.equal(
      [...keys][0],
      'python3 -m mcp_server_fetch --port <port> --cache-dir <tmp>/cache --session-id=<id> --parent-pid <pid>',
    );
  });

  it('groups npx-launched node servers whose npx cache dir and local port differ', () => {
    const servers = ['3b7e1a2c4d5e6f70', '9f8e7d6c5b4a3921'].map((hash, i) =>
      words(
        `node /home/dev/.npm/_npx/${hash}/node_modules/.bin/mcp-server-filesystem /home/dev/projects ` +
          `--listen=localhost:${51234 + i} --inspect=127.0.0.1:${9229 + i} -p ${3000 + i}`,
      ),
    );
    assert.deepEqual(
      [...distinct(servers)],
      [
        'node /home/dev/.npm/_npx/<hex>/node_modules/.bin/mcp-server-filesystem /home/dev/projects ' +
          '--listen=localhost:<port> --inspect=127.0.0.1:<port> -p <port>',
      ],
    );
  });

  it('keeps two different servers apart', () => {
    assert.equal(
      distinct([words('python3 -m mcp_server_fetch'), words('python3 -m mcp_server_git')]).size,
      2,
    );
    assert.equal(
      distinct([
        words('npx -y @modelcontextprotocol/server-github'),
        words('npx -y @modelcontextprotocol/server-filesystem'),
      ]).size,
      2,
    );
    assert.equal(
      distinct([words('/home/dev/go/bin/gopls serve'), words('/usr/bin/clangd --background-index')]).size,
      2,
    );
  });

  it('masks UUIDs, pids, hashes, timestamps and secrets but keeps the program, subcommands and stable flags', () => {
    const argv = words(
      '/usr/local/bin/agentd serve --stdio --session 5f0c2a41-0b7e-4a9c-b2d1-6c9e8f7a3b21 --clientProcessId=48213 ' +
        '--ppid 1042 --build-hash d41d8cd98f00b204e980 --started 2024-09-12T10:11:12Z ' +
        '--log=/home/dev/.cache/agentd/run-20240912-101112.log --since 1726135872 --api-key sk-ant-0123abcd ' +
        '--cache /home/dev/.cache/agentd --workers 4',
    );
    assert.equal(
      normalizeCmdline(argv),
      'agentd serve --stdio --session <uuid> --clientProcessId=<pid> --ppid <pid> --build-hash <hex> ' +
        '--started <time> --log=/home/dev/.cache/agentd/run-<time>.log --since <time> --api-key <secret> ' +
        '--cache /home/dev/.cache/agentd --workers 4',
    );
  });

  it('masks socket and pipe paths, runtime dirs and a positional port', () => {
    assert.equal(
      normalizeCmdline(
        words(
          'node /opt/bridge.js --pipe=/tmp/bridge-9a8b7c/ipc.pipe --socket /run/user/1000/bridge-4242.sock ' +
            '--log /run/user/1000/vscode-ipc-0e0c3d32.log',
        ),
      ),
      'node /opt/bridge.js --pipe=<pipe> --socket <socket> --log <tmp>',
    );
    assert.equal(normalizeCmdline(words('python3 -m http.server 8123')), 'python3 -m http.server <n>');
  });

  it('collapses repeated whitespace, also inside a shell -c command string, which it normalises too', () => {
    assert.equal(normalizeCmdline(['sh', '-c', '  vite   --port 3000\n']), 'sh -c vite --port <port>');
    assert.equal(normalizeCmdline(['node', '', 'server.js']), 'node server.js');
  });

  it('reads a rewritten process title as its words', () => {
    assert.equal(
      normalizeCmdline(['npm exec @modelcontextprotocol/server-github', '', '']),
      'npm exec @modelcontextprotocol/server-github',
    );
  });

  it('returns an empty string for an empty argv, and groupKeyOf falls back to [comm]', () => {
    assert.equal(normalizeCmdline([]), '');
    assert.equal(groupKeyOf({ comm: 'kworker/0:1', argv: [] }), '[kworker/0:1]');
    assert.equal(groupKeyOf({ comm: 'node', argv: ['node', 'server.js'] }), 'node server.js');
  });

  it('names interpreters by what they are, whatever their version or location', () => {
    assert.deepEqual(
      [
        '/usr/bin/python3.11',
        'python3',
        'python',
        '/srv/app/.venv/bin/python',
        'python2.7',
        'nodejs',
        'node22',
        '-bash',
        'gopls',
      ].map(canonicalProgram),
      ['python3', 'python3', 'python3', 'python3', 'python2', 'node', 'node', 'bash', 'gopls'],
    );
  });
});

describe('real editor and browser helper processes stay grouped by what they are', () => {
  it('groups VS Code extension hosts from two sessions and keeps what identifies them', () => {
    const a = extensionHost(4242, '0e0c3d32-54c7-4f6b-8f0e-4a1f7b6a2d11', '2286424934427474012');
    const b = extensionHost(90177, '7b1d2e3f-0a9b-4c8d-9e7f-6a5b4c3d2e1f', '1122334455667788990');
    assert.equal(normalizeCmdline(a), normalizeCmdline(b));
    const key = normalizeCmdline(a);
    assert.match(key, /^code --type=utility --utility-sub-type=node\.mojom\.NodeService /);
    assert.match(
      key,
      /--inspect-port=<port> --crashpad-handler-pid=<pid> --enable-crash-reporter=<uuid>,no_channel/,
    );
    assert.match(key, /--user-data-dir=\/home\/dev\/\.config\/Code /);
    assert.match(key, /--field-trial-handle=<id> /);
  });

  it('groups tsservers whose cancellation pipes differ, keeping the syntax and semantic servers apart', () => {
    const syntax = [
      tsserver('bd0ce2d4d8cdaad3a6e2', '0e9c33b6dd3e53ed9c3a', true),
      tsserver('1a2b3c4d5e6f7a8b9c0d', 'f00dfeed12345678abcd', true),
    ];
    const semantic = tsserver('bd0ce2d4d8cdaad3a6e2', '77aa88bb99cc00dd11ee', false);
    assert.equal(distinct(syntax).size, 1);
    const key = normalizeCmdline(syntax[0]!);
    assert.match(key, /\/typescript\/lib\/tsserver\.js --serverMode partialSemantic /);
    assert.match(key, /--cancellationPipeName <pipe> /);
    assert.notEqual(normalizeCmdline(semantic), key);
    assert.equal(displayName(syntax[0]!), 'code tsserver');
  });

  it('groups Chrome renderers that differ in field trials, client ids, launch ticks and mojo handles', () => {
    const renderers = [
      chromeRenderer(12, '13461389279410375171', 0, 3),
      chromeRenderer(47, '98765432109876543210', 88123, 17),
    ];
    assert.equal(distinct(renderers).size, 1);
    const key = normalizeCmdline(renderers[0]!);
    assert.match(key, /^chrome --type=renderer /);
    assert.match(
      key,
      /--renderer-client-id=<id> --time-ticks-at-unix-epoch=<time> --launch-time-ticks=<time> /,
    );
    assert.match(key, /--shared-files=v8_context_snapshot_data:100 --field-trial-handle=<id> /);
    const gpu = words(
      '/opt/google/chrome/chrome --type=gpu-process --crashpad-handler-pid=2701 --field-trial-handle=3,i,1,2,4',
    );
    assert.notEqual(normalizeCmdline(gpu), key);
  });

  it('keeps a Cursor AppImage server recognisable although it runs from a random mount', () => {
    const server = (mount: string) =>
      words(
        `/tmp/.mount_${mount}/usr/share/cursor/cursor /tmp/.mount_${mount}/usr/share/cursor/resources/app/extensions/` +
          'json-language-features/server/dist/node/jsonServerMain --node-ipc --clientProcessId=1234',
      );
    assert.equal(distinct([server('CursorAb12Cd'), server('CursorZz98Yx')]).size, 1);
    assert.match(
      normalizeCmdline(server('CursorAb12Cd')),
      /^cursor <tmp>\/usr\/share\/cursor\/.*\/jsonServerMain /,
    );
    assert.equal(displayName(server('CursorAb12Cd')), 'cursor jsonServerMain');
  });
});

describe('short names for groups', () => {
  it('names a group by its interpreter and the program it runs', () => {
    const cases: Array<[string | string[], string]> = [
      ['/usr/bin/python3.11 -m mcp_server_fetch --port 8123', 'python3 mcp_server_fetch'],
      [
        'node /home/dev/.npm/_npx/3b7e1a2c4d5e6f70/node_modules/@modelcontextprotocol/server-github/dist/index.js',
        'node server-github',
      ],
      [
        'node /home/dev/.npm/_npx/3b7e1a2c4d5e6f70/node_modules/.bin/mcp-server-filesystem /home',
        'node mcp-server-filesystem',
      ],
      ['npx -y @modelcontextprotocol/server-github@latest', 'npx server-github'],
      [['npm exec @modelcontextprotocol/server-github'], 'npm server-github'],
      ['uvx --from git+https://github.com/oraios/serena serena start-mcp-server', 'uvx serena'],
      [
        'docker run -i --rm -e GITHUB_TOKEN ghcr.io/github/github-mcp-server:v0.5.0',
        'docker github-mcp-server',
      ],
      [
        'node /home/dev/.nvm/versions/node/v22.11.0/lib/node_modules/@anthropic-ai/claude-code/cli.js',
        'node claude-code',
      ],
      [
        '/usr/share/code/code /home/dev/.vscode/extensions/ms-python.vscode-pylance-2024.8.1/dist/server.bundle.js',
        'code ms-python.vscode-pylance',
      ],
      ['/home/dev/go/bin/gopls -mode=stdio', 'gopls'],
      ['/opt/google/chrome/chrome --type=renderer', 'chrome'],
      ['python3 -c import time; time.sleep(100)', 'python3'],
    ];
    for (const [cmd, name] of cases) {
      const argv = typeof cmd === 'string' ? words(cmd) : cmd;
      assert.equal(displayName(argv), name, argv.join(' '));
    }
    assert.equal(displayName([]), '');
  });

  it('finds the target behind runners, subcommands and their options', () => {
    const target = (cmd: string) => invocationOf(words(cmd)).target;
    assert.equal(target('uv --directory /srv/x run --with mcp mcp run server.py'), 'mcp');
    assert.equal(target('uv tool run mcp-server-time'), 'mcp-server-time');
    assert.equal(target('uv pip install mcp'), null);
    assert.equal(target('bun run dev'), 'dev');
    assert.equal(target('bun server.ts'), 'server.ts');
    assert.equal(target('node -r tsx/cjs --inspect=9229 src/main.ts'), 'src/main.ts');
    assert.equal(target('node -e console.log(1)'), null);
    assert.equal(target('java -Xmx1G -jar /opt/app/app.jar --port 80'), '/opt/app/app.jar');
    assert.equal(target('docker run -d -p 8080:80 -v /data:/data --name web nginx:1.27'), 'nginx:1.27');
    assert.equal(programName(invocationOf(words('docker run -d --name web nginx:1.27'))), 'nginx');
    assert.equal(target('/usr/share/code/code /home/dev/projects/my-mcp'), null);
  });
});

describe('what agents leave behind, grouped and told apart', () => {
  /** An agent CLI's tool shell: `bash -c -l "source <snapshot> && eval '<cmd>' …"`, as claude runs them. */
  const toolShell = (session: string, cwdFile: string) => [
    '/bin/bash',
    '-c',
    '-l',
    `source /home/dev/.claude/shell-snapshots/snapshot-bash-${session}.sh && eval 'npm run dev' \\< /dev/null && pwd -P >| /tmp/claude-${cwdFile}-cwd`,
  ];

  it('groups the same tool shell command from two agent sessions, whose snapshot files differ', () => {
    const keys = distinct([
      toolShell('1752002412283-omkv1o', 'f6a3'),
      toolShell('1752002412283-omkv1o', '9c01'),
      toolShell('1752003518004-q3zr8k', '5e7d'),
    ]);
    assert.equal(keys.size, 1, [...keys].join('\n'));
    assert.match(
      [...keys][0]!,
      /^bash -c -l source \/home\/dev\/\.claude\/shell-snapshots\/snapshot-bash-<time>-<id>\.sh /,
    );
  });

  it('reads the command string of `bash -c -l`, not the option after -c', () => {
    assert.equal(invocationOf(toolShell('1752002412283-omkv1o', 'f6a3')).target, 'source');
    assert.equal(normalizeCmdline(['sh', '-c', '-e', 'vite --port 3000']), 'sh -c -e vite --port <port>');
    assert.equal(isShellCommand(['sh', '-c', 'mcp-server-fetch']), true);
    assert.equal(isShellCommand(['bash', 'script.sh']), false);
  });

  it('groups subagents resuming different sessions, apart from fresh ones', () => {
    const subagent = (...extra: string[]) => [
      'claude',
      '--output-format',
      'stream-json',
      '--verbose',
      '--model',
      'claude-sonnet-4-5',
      ...extra,
      '--setting-sources',
      '',
      '--permission-mode',
      'default',
    ];
    const keys = distinct([
      subagent('--resume', '4bc1f741-a4d0-420e-bb60-bf447585fb0a'),
      subagent('--resume', '50017b47-a4d0-420e-bb60-bf447585fb0a'),
      subagent(),
    ]);
    assert.equal(keys.size, 2);
  });

  it('knows the runners that start what they run as a child, and the interpreters that do not', () => {
    const runners = [
      'npx -y @modelcontextprotocol/server-github',
      'npm exec @modelcontextprotocol/server-github',
      'npm run dev',
      'pnpm dlx @playwright/mcp@latest',
      'bunx @upstash/context7-mcp',
      'uvx --python 3.13 chroma-mcp --client-type persistent',
      'uv run server.py',
      'uv tool run mcp-server-time',
      'pipx run mcp-server-fetch',
      'poetry run python app.py',
      '/usr/bin/node /usr/lib/node_modules/npm/bin/npx-cli.js -y @modelcontextprotocol/server-filesystem /home/dev',
      '/usr/bin/node /usr/lib/node_modules/npm/bin/npm-cli.js exec --yes -- @modelcontextprotocol/server-filesystem',
    ];
    for (const cmd of runners) assert.equal(isRunner(words(cmd)), true, cmd);
    assert.equal(
      isRunner(['npm exec @modelcontextprotocol/server-github', '', '']),
      true,
      'a rewritten title',
    );
    const others = [
      'node server.js',
      'bun server.ts',
      'python3 -m mcp_server_fetch',
      'uv pip install mcp',
      'npx',
      '/usr/bin/node /usr/lib/node_modules/npm/bin/npm-cli.js install',
    ];
    for (const cmd of others) assert.equal(isRunner(words(cmd)), false, cmd);
  });
});
