import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  classify,
  type Kind,
  kindFiles,
  loadKindPatterns,
  parseKindPatterns,
  SHIPPED_KINDS_FILE,
  userKindsFile,
} from '../../src/understand/classify.js';

/** A process as the collector builds it: argv from /proc/[pid]/cmdline, comm from the executable name. */
function proc(argv: string | readonly string[], comm?: string) {
  const words = typeof argv === 'string' ? argv.split(' ') : argv;
  const exe = (words[0] ?? '').split('/').pop() ?? '';
  return { comm: comm ?? exe.slice(0, 15), argv: words, cmdline: words.join(' ') };
}

const shipped = loadKindPatterns([SHIPPED_KINDS_FILE]);

/** [command line (split on spaces unless given as an argv), expected kind, optional comm]. */
const TABLE: ReadonlyArray<readonly [string | readonly string[], Kind | null, string?]> = [
  // MCP servers, however they are launched
  [
    'node /home/dev/.npm/_npx/3b7e1a2c4d5e6f70/node_modules/.bin/mcp-server-filesystem /home/dev/projects',
    'mcp-server',
  ],
  ['npx -y @modelcontextprotocol/server-github', 'mcp-server'],
  [['npm exec @modelcontextprotocol/server-github'], 'mcp-server', 'npm exec @model'],
  ['uvx mcp-server-fetch', 'mcp-server'],
  [
    '/home/dev/.cache/uv/archive-v0/Xq3b1_rK9yZ/bin/python /home/dev/.cache/uv/archive-v0/Xq3b1_rK9yZ/bin/mcp-server-fetch',
    'mcp-server',
  ],
  ['/usr/bin/python3.11 -m mcp_server_git --repository /home/dev/src/app', 'mcp-server'],
  ['bunx @upstash/context7-mcp@latest', 'mcp-server'],
  ['npx -y @playwright/mcp@latest --headless', 'mcp-server'],
  ['docker run -i --rm -e GITHUB_PERSONAL_ACCESS_TOKEN ghcr.io/github/github-mcp-server', 'mcp-server'],
  ['docker run -i --rm --name fetch mcp/fetch', 'mcp-server'],
  ['/usr/local/bin/github-mcp-server stdio', 'mcp-server'],
  ['node /home/dev/src/weather-mcp/build/index.js', 'mcp-server'],
  [['sh', '-c', 'mcp-server-filesystem /home/dev/projects'], 'mcp-server'],
  ['uv run --with mcp mcp run server.py', 'mcp-server'],
  [
    'uvx --from git+https://github.com/oraios/serena serena start-mcp-server --context ide-assistant',
    'mcp-server',
  ],
  ['claude mcp serve', 'mcp-server'],
  // language servers, including those an editor runs as `code …/x.js`
  ['node /usr/lib/node_modules/typescript-language-server/lib/cli.mjs --stdio', 'language-server'],
  [
    [
      '/usr/share/code/code',
      '--max-old-space-size=3072',
      '/usr/share/code/resources/app/extensions/node_modules/typescript/lib/tsserver.js',
      '--serverMode',
      'partialSemantic',
      '--cancellationPipeName',
      '/tmp/vscode-typescript1000/bd0ce2d4d8cdaad3a6e2/tscancellation-0e9c33b6dd3e53ed9c3a.tmp*',
      '--useNodeIpc',
    ],
    'language-server',
  ],
  ['node /home/dev/.local/share/nvim/mason/bin/pyright-langserver --stdio', 'language-server'],
  ['/usr/bin/python3 /usr/bin/pylsp', 'language-server'],
  ['/home/dev/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/bin/rust-analyzer', 'language-server'],
  ['/home/dev/go/bin/gopls -mode=stdio', 'language-server'],
  ['/usr/bin/clangd --background-index', 'language-server'],
  [
    '/home/dev/.local/share/nvim/mason/packages/lua-language-server/libexec/bin/lua-language-server',
    'language-server',
  ],
  [
    '/usr/lib/jvm/java-21-openjdk/bin/java -Declipse.application=org.eclipse.jdt.ls.core.id1 -Xmx1G -jar /usr/share/java/jdtls/plugins/org.eclipse.equinox.launcher_1.6.900.v20240613-2009.jar -data /home/dev/.cache/jdtls/workspace/app',
    'language-server',
  ],
  [
    '/usr/share/code/code /home/dev/.vscode/extensions/dbaeumer.vscode-eslint-3.0.10/server/out/eslintServer.js --node-ipc --clientProcessId=48213',
    'language-server',
  ],
  ['node /home/dev/.local/share/nvim/mason/bin/vscode-eslint-language-server --stdio', 'language-server'],
  [
    '/usr/share/code/code /home/dev/.vscode/extensions/ms-python.vscode-pylance-2024.8.1/dist/server.bundle.js --node-ipc --clientProcessId=48213',
    'language-server',
  ],
  [
    '/usr/share/code/code /usr/share/code/resources/app/extensions/json-language-features/server/dist/node/jsonServerMain --node-ipc --clientProcessId=48213',
    'language-server',
  ],
  ['ruff server', 'language-server'],
  // dev servers and watchers
  ['node /home/dev/app/node_modules/.bin/vite --port 5173', 'dev-server'],
  ['node /home/dev/app/node_modules/.bin/next dev', 'dev-server'],
  ['node /home/dev/app/node_modules/.bin/webpack serve --mode development', 'dev-server'],
  ['node /home/dev/app/node_modules/.bin/webpack-dev-server', 'dev-server'],
  ['node /home/dev/app/node_modules/.bin/nodemon src/server.js', 'dev-server'],
  ['node /home/dev/app/node_modules/.bin/tsx watch src/index.ts', 'dev-server'],
  ['node /home/dev/app/node_modules/.bin/ts-node-dev --respawn src/index.ts', 'dev-server'],
  ['/home/dev/app/node_modules/@esbuild/linux-x64/bin/esbuild src/app.ts --bundle --watch', 'dev-server'],
  ['node /home/dev/app/node_modules/typescript/bin/tsc --watch', 'dev-server'],
  ['ruby bin/rails server -p 3000', 'dev-server'],
  ['/home/dev/app/.venv/bin/python /home/dev/app/.venv/bin/flask run --debug', 'dev-server'],
  [
    '/home/dev/app/.venv/bin/python3 /home/dev/app/.venv/bin/uvicorn main:app --reload --port 8000',
    'dev-server',
  ],
  ['python3 manage.py runserver 0.0.0.0:8000', 'dev-server'],
  ['node /home/dev/app/node_modules/.bin/jest --watch', 'dev-server'],
  ['node /home/dev/app/node_modules/.bin/vitest', 'dev-server'],
  ['node /home/dev/app/node_modules/.bin/storybook dev -p 6006', 'dev-server'],
  [['npm run dev'], 'dev-server', 'npm run dev'],
  ['python3 -m http.server 8123', 'dev-server'],
  // agent CLIs
  ['claude', 'agent-cli'],
  [
    'node /home/dev/.nvm/versions/node/v22.11.0/lib/node_modules/@anthropic-ai/claude-code/cli.js',
    'agent-cli',
  ],
  ['node /usr/lib/node_modules/@openai/codex/bin/codex.js', 'agent-cli'],
  ['/home/dev/.cargo/bin/codex --model o3', 'agent-cli'],
  ['node /usr/local/bin/gemini', 'agent-cli'],
  [
    '/home/dev/.local/share/uv/tools/aider-chat/bin/python /home/dev/.local/bin/aider --model sonnet',
    'agent-cli',
  ],
  [
    '/home/dev/.local/share/cursor-agent/versions/2025.08.25-896bbe1/node --use-system-ca /home/dev/.local/share/cursor-agent/versions/2025.08.25-896bbe1/index.js',
    'agent-cli',
  ],
  ['goose session', 'agent-cli'],
  ['/home/dev/.opencode/bin/opencode', 'agent-cli'],
  // editors, with VS Code's helpers
  ['/usr/share/code/code', 'editor'],
  [
    '/usr/share/code/code --type=renderer --crashpad-handler-pid=4242 --enable-crash-reporter=,no_channel',
    'editor',
  ],
  [
    '/usr/share/code/code --type=utility --utility-sub-type=node.mojom.NodeService --inspect-port=0 --crashpad-handler-pid=4242',
    'editor',
  ],
  [
    '/usr/share/code/code --ms-enable-electron-run-as-node /usr/share/code/resources/app/out/bootstrap-fork --type=extensionHost',
    'editor',
  ],
  ['/tmp/.mount_CursorAb12Cd/usr/share/cursor/cursor --type=zygote', 'editor'],
  [
    '/home/dev/.vscode-server/bin/384ff7382de624fb94dbaf6da11977bba1ecd427/node /home/dev/.vscode-server/bin/384ff7382de624fb94dbaf6da11977bba1ecd427/out/server-main.js --host=127.0.0.1 --port=0',
    'editor',
  ],
  ['nvim --embed', 'editor'],
  ['/usr/lib/zed/zed-editor', 'editor'],
  ['emacs --daemon', 'editor'],
  ['hx src/main.rs', 'editor'],
  ['vim notes-about-vite.md', 'editor'],
  [
    '/usr/share/code/chrome_crashpad_handler --no-periodic-tasks --database=/home/dev/.config/Code/Crashpad',
    'editor',
  ],
  // browsers
  [
    '/opt/google/chrome/chrome --type=renderer --crashpad-handler-pid=2701 --renderer-client-id=12',
    'browser',
  ],
  [
    '/usr/lib/firefox/firefox -contentproc -childID 3 -isForBrowser 2817 true tab',
    'browser',
    'Isolated Web Co',
  ],
  ['/usr/lib/chromium/chromium --type=gpu-process', 'browser'],
  ['/opt/brave.com/brave/brave', 'browser'],
  [
    '/opt/google/chrome/chrome_crashpad_handler --database=/home/dev/.config/google-chrome/Crash Reports',
    'browser',
  ],
  // builds
  ['/usr/libexec/gcc/x86_64-linux-gnu/13/cc1plus -quiet -D_GNU_SOURCE src/main.cpp -o /tmp/ccXyz.s', 'build'],
  [
    '/home/dev/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/bin/rustc --crate-name app src/main.rs',
    'build',
  ],
  ['cargo build --release', 'build'],
  ['go build ./...', 'build'],
  ['node /home/dev/app/node_modules/.bin/tsc -p tsconfig.json', 'build'],
  ['make -j16', 'build'],
  ['ninja -C build', 'build'],
  ['node /home/dev/app/node_modules/.bin/webpack --mode production', 'build'],
  ['node /home/dev/app/node_modules/.bin/vite build', 'build'],
  ['/home/dev/app/node_modules/@esbuild/linux-x64/bin/esbuild --service=0.21.5 --ping', 'build'],
  ['/usr/bin/ld -plugin /usr/libexec/gcc/liblto_plugin.so -o app main.o', 'build'],
  [
    '/usr/lib/jvm/java-17/bin/java -Xmx2g -cp /home/dev/.gradle/wrapper/dists/gradle-8.7/lib/gradle-launcher-8.7.jar org.gradle.launcher.daemon.bootstrap.GradleDaemon 8.7',
    'build',
  ],
  // lookalikes that are none of these
  ['grep mcp-server', null],
  ['grep -r --include=*.ts mcp-server src', null],
  ['less notes-about-vite.md', null],
  ['tail -f /var/log/vite.log', null],
  ['/usr/sbin/sshd -D', null],
  ['/usr/lib/systemd/systemd --user', null],
  ['bash', null],
  ['-bash', null],
  ['node server.js', null],
  ['python3 -m pip install mcp-server-fetch', null],
  ['node /home/dev/app/node_modules/.bin/vitest run', null],
  ['man gopls', null],
  [['sh', '-c', 'grep -r mcp-server src'], null],
  ['/usr/bin/gpg-agent --supervised', null],
  ['docker ps', null],
  ['cat claude.md', null],
  [[], null, 'kworker/0:1'],
];

describe('classifying processes with the shipped kinds.toml', () => {
  it('loads the shipped file without errors', () => {
    assert.deepEqual(shipped.errors, []);
    assert.ok(shipped.patterns.length > 20);
    assert.ok(existsSync(SHIPPED_KINDS_FILE));
    assert.match(SHIPPED_KINDS_FILE, /\/rules\/kinds\.toml$/);
  });

  it(`labels ${TABLE.length} real-looking command lines with the expected kind`, () => {
    assert.ok(TABLE.length >= 40);
    const wrong: string[] = [];
    for (const [argv, expected, comm] of TABLE) {
      const p = proc(argv, comm);
      const got = classify(p, shipped.patterns)?.kind ?? null;
      if (got !== expected) wrong.push(`${JSON.stringify(p.cmdline)}: expected ${expected}, got ${got}`);
    }
    assert.deepEqual(wrong, []);
  });

  it('gives a human label with the kind', () => {
    assert.deepEqual(classify(proc('uvx mcp-server-fetch'), shipped.patterns), {
      kind: 'mcp-server',
      label: 'MCP server',
    });
    assert.equal(classify(proc('/home/dev/go/bin/gopls'), shipped.patterns)?.label, 'language server');
  });

  it('tells an MCP server apart from the node or python that runs it', () => {
    assert.equal(classify(proc('node /srv/app/server.js'), shipped.patterns), null);
    assert.equal(
      classify(
        proc('node /usr/lib/node_modules/@modelcontextprotocol/server-filesystem/dist/index.js /home'),
        shipped.patterns,
      )?.kind,
      'mcp-server',
    );
  });

  it('counts tsserver run by VS Code as a language server but the VS Code window as the editor', () => {
    const tsserver = classify(
      proc(
        '/usr/share/code/code /usr/share/code/resources/app/extensions/node_modules/typescript/lib/tsserver.js',
      ),
      shipped.patterns,
    );
    const window = classify(proc('/usr/share/code/code --type=renderer'), shipped.patterns);
    assert.equal(tsserver?.kind, 'language-server');
    assert.equal(window?.kind, 'editor');
  });

  it('measures the cost of classifying 2,000 typical command lines', (t) => {
    // The table, plus the long command lines a desktop is full of (Chrome and Electron helpers, ~2 kB).
    const features = Array.from({ length: 60 }, (_, i) => `Feature${i}Enabled`).join(',');
    const helper = (exe: string, type: string) =>
      proc(`${exe} --type=${type} --lang=en-US --enable-features=${features} --disable-features=${features}`);
    const sample = [
      ...TABLE.map(([argv, , comm]) => proc(argv, comm)),
      ...Array.from({ length: 20 }, () => helper('/opt/google/chrome/chrome', 'renderer')),
      ...Array.from({ length: 10 }, () => helper('/usr/share/code/code', 'utility')),
    ];
    const procs = Array.from({ length: 2000 }, (_, i) => {
      const p = sample[i % sample.length]!;
      // Vary the volatile parts as real processes do, so nothing can be memoised by string.
      const argv = [...p.argv, `--port=${3000 + i}`];
      return { comm: p.comm, argv, cmdline: argv.join(' ') };
    });
    for (let r = 0; r < 5; r++) for (const p of procs) classify(p, shipped.patterns); // warm up the JIT
    const runs: number[] = [];
    for (let r = 0; r < 5; r++) {
      const start = performance.now();
      let found = 0;
      for (const p of procs) if (classify(p, shipped.patterns) !== null) found++;
      runs.push(performance.now() - start);
      assert.ok(found > 1000);
    }
    runs.sort((a, b) => a - b);
    const median = runs[2]!;
    t.diagnostic(
      `classify: 2,000 processes × ${shipped.patterns.length} patterns in ${median.toFixed(2)} ms (median of 5; ` +
        `${((median * 1000) / 2000).toFixed(2)} µs per process)`,
    );
  });
});

describe('user kinds files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-kinds-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('tries the user file before the shipped one, so a user entry overrides a shipped pattern', () => {
    const user = join(dir, 'override.toml');
    writeFileSync(
      user,
      [
        '# goose here is the database migration tool, not the agent',
        '[[kind]]',
        'kind = "none"',
        "program = '^goose$'",
        "cmdline = '\\s(up|down|status|create)(\\s|$)'",
        '',
        '[[kind]]',
        'kind = "mcp-server"',
        'label = "Acme knowledge server"',
        "program = '^acme-knowledge$'",
        '',
      ].join('\n'),
    );
    const { patterns, errors } = loadKindPatterns([user, SHIPPED_KINDS_FILE]);
    assert.deepEqual(errors, []);
    assert.equal(classify(proc('/home/dev/go/bin/goose postgres up'), patterns), null);
    assert.equal(classify(proc('/home/dev/go/bin/goose session'), patterns)?.kind, 'agent-cli');
    assert.deepEqual(classify(proc('/opt/acme/bin/acme-knowledge --stdio'), patterns), {
      kind: 'mcp-server',
      label: 'Acme knowledge server',
    });
    assert.equal(classify(proc('/opt/acme/bin/acme-knowledge --stdio'), shipped.patterns), null);
  });

  it('reports a bad regex with the file, entry and line, and still loads the other entries', () => {
    const user = join(dir, 'broken.toml');
    writeFileSync(
      user,
      [
        '[[kind]]', // line 1
        'kind = "dev-server"',
        "program = '^acme-dev$'",
        '',
        '# this one is broken', // line 5
        '[[kind]]', // line 6
        'kind = "build"',
        "cmdline = '^acme-build (unclosed'",
        '',
        '[[kind]]', // line 10
        'kind = "browser"',
        "exe = '^acme-browser$'",
      ].join('\n'),
    );
    const { patterns, errors } = loadKindPatterns([user, SHIPPED_KINDS_FILE]);
    assert.equal(errors.length, 1);
    const [error] = errors;
    assert.equal(error!.file, user);
    assert.equal(error!.line, 6);
    assert.match(error!.message, /entry 2/);
    assert.match(error!.message, /"cmdline" is not a valid regular expression/);
    assert.equal(classify(proc('acme-dev'), patterns)?.kind, 'dev-server');
    assert.equal(classify(proc('/opt/acme-browser'), patterns)?.kind, 'browser');
    assert.equal(patterns.length, shipped.patterns.length + 2);
  });

  it('rejects unknown keys and kinds, missing matchers and catch-all entries, naming each', () => {
    const text = [
      '[[kind]]',
      'kind = "daemon"',
      "exe = '^acmed$'",
      '[[kind]]',
      'kind = "editor"',
      "exe_name = '^acme-edit$'",
      '[[kind]]',
      'kind = "editor"',
      'label = "nothing to match"',
      '[[kind]]',
      'kind = "editor"',
      "cmdline = '.*'",
    ].join('\n');
    const { patterns, errors } = parseKindPatterns(text, 'kinds.toml');
    assert.equal(patterns.length, 0);
    assert.deepEqual(
      errors.map((e) => e.line),
      [1, 4, 7, 10],
    );
    assert.match(errors[0]!.message, /"kind" must be one of/);
    assert.match(errors[1]!.message, /unknown key "exe_name"/);
    assert.match(errors[2]!.message, /at least one matcher/);
    assert.match(errors[3]!.message, /match every process/);
  });

  it('reports a TOML syntax error with its line, and a missing file, without throwing', () => {
    const bad = parseKindPatterns('[[kind]]\nkind = "editor"\nexe = "unterminated\n', 'bad.toml');
    assert.equal(bad.patterns.length, 0);
    assert.equal(bad.errors[0]!.line, 3);
    assert.match(bad.errors[0]!.message, /not valid TOML/);
    const missing = loadKindPatterns([join(dir, 'absent.toml')]);
    assert.deepEqual(missing.errors, [
      { file: join(dir, 'absent.toml'), line: null, message: 'cannot read kind patterns: no such file' },
    ]);
  });

  it('finds the user file under XDG_CONFIG_HOME and adds it only when it exists', () => {
    assert.equal(userKindsFile({ XDG_CONFIG_HOME: '/cfg', HOME: '/home/dev' }), '/cfg/vigil/kinds.toml');
    assert.equal(userKindsFile({ HOME: '/home/dev' }), '/home/dev/.config/vigil/kinds.toml');
    assert.equal(userKindsFile({}), null);
    assert.deepEqual(kindFiles({ XDG_CONFIG_HOME: join(dir, 'nowhere') }), [SHIPPED_KINDS_FILE]);
    const config = join(dir, 'config');
    const user = join(config, 'vigil', 'kinds.toml');
    mkdirSync(join(config, 'vigil'), { recursive: true });
    writeFileSync(user, '');
    assert.deepEqual(kindFiles({ XDG_CONFIG_HOME: config }), [user, SHIPPED_KINDS_FILE]);
  });
});
