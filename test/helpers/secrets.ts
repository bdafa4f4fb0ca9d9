/**
 * Fake secrets in every format vigil must mask, for the redaction tests. They look real — the right
 * prefix, length and alphabet, random-looking bodies — but are made here from a seeded generator, so no
 * token sits in the repository for a secret scanner to flag, and every run makes the same ones.
 *
 * Each format comes as the arguments of a process (`argv`, what /proc/PID/cmdline holds) and as a line of
 * free text (`text`, what a program may log). `needles` are what must never be found in any output: the
 * secret's first and last 10 characters (so that half a token let through by a cut is caught too).
 */

export interface FakeSecret {
  /** What the format is, as a test names it. */
  readonly format: string;
  readonly argv: readonly string[];
  readonly text: string;
  readonly needles: readonly string[];
}

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const B64 = `${ALNUM}+/`;
const B64URL = `${ALNUM}-_`;
const UPPER_NUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const HEX = '0123456789abcdef';
const DIGITS = '0123456789';

/** mulberry32: a small seeded generator, so the fakes are the same on every run. */
function generator(seed: number): (alphabet: string, length: number) => string {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return (alphabet, length) => {
    let out = '';
    for (let i = 0; i < length; i++) out += alphabet[Math.floor(next() * alphabet.length)];
    return out;
  };
}

/** The start and end of a secret's random part (or all of it when short). */
function needlesOf(body: string): string[] {
  return body.length <= 20 ? [body] : [body.slice(0, 10), body.slice(-10)];
}

/** The fakes; `seed` changes every body (the tests use the default). */
export function fakeSecrets(seed = 20_251_207): FakeSecret[] {
  const r = generator(seed);
  const password = () => `Pw${r(ALNUM, 14)}`;
  const list: FakeSecret[] = [];
  const add = (format: string, argv: string[], text: string, body: string) =>
    list.push({ format, argv, text, needles: needlesOf(body) });
  /** A bare token: as an argument of its own and in a sentence. */
  const bare = (format: string, prefix: string, body: string, suffix = '') =>
    add(format, [`${prefix}${body}${suffix}`], `loaded ${prefix}${body}${suffix} from the store`, body);

  bare('Anthropic API key', ['sk', 'ant', 'api03-'].join('-'), `${r(B64URL, 86)}AA`);
  bare('OpenAI API key', ['sk', 'proj-'].join('-'), `${r(ALNUM, 20)}T3Blbk${r(ALNUM, 20)}`);
  bare('AWS access key id', 'AK' + 'IA', r(UPPER_NUM, 16));
  bare('AWS secret access key, bare', '', 'Qx7kLm2' + r(B64, 26) + 'vN3pRt8');
  for (const kind of ['p', 'o', 'u', 's', 'r']) bare(`GitHub gh${kind}_ token`, `gh${kind}_`, r(ALNUM, 36));
  bare('GitHub fine-grained PAT', 'github' + '_pat_', `${r(ALNUM, 22)}_${r(ALNUM, 59)}`);
  bare('GitLab personal token', 'gl' + 'pat-', r(ALNUM, 20));
  bare('Slack bot token', 'xo' + 'xb-', `${r(DIGITS, 12)}-${r(DIGITS, 13)}-${r(ALNUM, 24)}`);
  bare(
    'Slack webhook URL',
    'https://hooks.slack.com/services/',
    `T${r(UPPER_NUM, 8)}/B${r(UPPER_NUM, 10)}/${r(ALNUM, 24)}`,
  );
  bare('Discord webhook URL', 'https://discord.com/api/webhooks/', `${r(DIGITS, 18)}/${r(B64URL, 68)}`);
  bare('Stripe live secret key', 'sk' + '_live_', r(ALNUM, 24));
  bare('Stripe restricted key', 'rk' + '_live_', r(ALNUM, 24));
  bare('Google API key', 'AI' + 'za', r(B64URL, 35));
  bare('SendGrid API key', 'SG' + '.', `${r(B64URL, 22)}.${r(B64URL, 43)}`);
  bare('npm token', 'np' + 'm_', r(ALNUM, 36));
  bare('Hugging Face token', 'h' + 'f_', r(ALNUM, 34));
  bare('JWT', 'ey' + 'J', `hbGciOiJIUzI1NiJ9.eyJ${r(B64URL, 40)}.${r(B64URL, 43)}`);
  const sig = r(B64, 43);
  const sas = `https://acct.blob.core.windows.net/backups/db.tar?sv=2022-11-02&ss=b&sp=r&se=2030-01-01&sig=${encodeURIComponent(`${sig}=`)}`;
  add('Azure SAS signature', [sas], `uploading to ${sas} now`, encodeURIComponent(sig));
  const pemBody = `${r(B64, 64)}\n${r(B64, 64)}\n${r(B64, 20)}==`;
  const pem =
    ['-----BEGIN', 'PRIVATE', 'KEY-----'].join(' ') +
    `\n${pemBody}\n` +
    ['-----END', 'PRIVATE', 'KEY-----'].join(' ');
  add('PEM private key', ['--key-pem', pem], `bad key:\n${pem}\nrejected`, pemBody.replace(/\n/g, ''));
  {
    const pw = password();
    add(
      'postgres:// user:password@',
      [`postgres://app:${pw}@db.internal:5432/main`],
      `connecting to postgres://app:${pw}@db.internal:5432/main`,
      pw,
    );
  }
  {
    const pw = password();
    add(
      'redis:// :password@',
      [`redis://:${pw}@cache:6379/0`],
      `redis error on redis://:${pw}@cache:6379/0`,
      pw,
    );
  }
  {
    const pw = password();
    add(
      'https:// user:password@',
      [`https://deploy:${pw}@git.example.com/team/repo.git`],
      `fetch https://deploy:${pw}@git.example.com/team/repo.git failed`,
      pw,
    );
  }
  {
    const pw = password();
    add(
      'curl -u user:pass',
      ['curl', '-u', `deploy:${pw}`, 'https://api.example.com/v1'],
      `ran curl -u deploy:${pw} https://api.example.com/v1`,
      pw,
    );
  }
  {
    const pw = password();
    add('--password=', [`--password=${pw}`], `started with --password=${pw} --verbose`, pw);
  }
  {
    const pw = password();
    add('--password x', ['--password', pw], `started with --password ${pw} --verbose`, pw);
  }
  {
    const pw = password();
    add('mysql -p secret', ['mysql', '-u', 'root', '-p', pw], `backup: mysql -u root -p ${pw} failed`, pw);
  }
  {
    const pw = password();
    add(
      'mysql -pSECRET',
      ['mysql', '-uroot', `-p${pw}`, 'shop'],
      `backup: mysql -uroot -p${pw} shop failed`,
      pw,
    );
  }
  for (const name of ['DB_PWD', 'SMTP_PASSWORD', 'DEPLOY_TOKEN', 'WEBHOOK_SECRET', 'MAPS_KEY']) {
    const pw = password();
    add(`${name.replace(/^[A-Z]+/, '*')}=`, [`${name}=${pw}`], `environment: ${name}=${pw} HOME=/root`, pw);
  }
  {
    const token = r(ALNUM, 40);
    add(
      'Authorization: header',
      ['-H', `Authorization: Token ${token}`],
      `request with Authorization: Token ${token} refused`,
      token,
    );
  }
  bare('high-entropy base64 blob', '', 'Zk4' + r(B64, 58) + 'q9X');
  bare('high-entropy hex blob', '', r(HEX, 64));
  return list;
}

/** Every needle of every fake found in `output`, as `format: needle`. */
export function leaksIn(output: string, fakes: readonly FakeSecret[]): string[] {
  const found: string[] = [];
  for (const fake of fakes)
    for (const needle of fake.needles) if (output.includes(needle)) found.push(`${fake.format}: ${needle}`);
  return found;
}

/** The formats (not needles) leaked into `output`. */
export function formatsLeaked(output: string, fakes: readonly FakeSecret[]): string[] {
  return fakes.filter((fake) => fake.needles.some((needle) => output.includes(needle))).map((f) => f.format);
}
