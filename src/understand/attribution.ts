/**
 * Who left a group of processes behind: the agent CLI or editor that started them (with its session id
 * when its command line carries one), the directory they run in, and how long ago that owner died —
 * "left by claude (session 3f2a9c1e, in ~/src/foo, 40 min ago)".
 *
 * What it reads:
 * - the {@link Lineage}'s memory of each process's first parent, and when vigil first saw it re-parented
 *   (the owner's death, to within one cycle). A storm whose owner died before vigil was watching has no
 *   such time: it is said to be "before vigil started", with the age of its oldest member;
 * - for a wrapper chain (`npm exec`/`uvx` wrappers orphaned, each server under its live wrapper), the
 *   first ancestor that was orphaned, so the servers are attributed to the agent that started the wrappers;
 * - `/proc/PID/cwd` of each member (a symbolic link, see proc(5)): read for the members of a candidate
 *   group only (one with orphans or duplicates under an agent), once per process identity while it stays a
 *   member, never for the whole process table; shown relative to the owner's home from `/etc/passwd`
 *   (`~/src/foo`). A link vigil may not read (another user's process) leaves the directory unknown.
 */
import { readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { ProcessSample } from '../model/snapshot.js';
import { printable } from '../model/text.js';
import { redact } from '../redact/redact.js';
import { identityOf, isAdopter, type Lineage } from './lineage.js';
import { invocationOf, programName } from './normalize.js';

/** The group facts this module fills in (see facts-schema.ts, GROUP_FIELDS). */
export interface GroupAttribution {
  /** The program that started the group (`claude`, `code`, `node`), '' when vigil never saw it. */
  readonly left_by: string;
  /** The session id on that program's command line (`--resume <id>`, `--session-id <id>`), or ''. */
  readonly session: string;
  /** The members' working directory, under their user's home written `~` (`~/src/foo`), or ''. */
  readonly cwd: string;
  /** Seconds since vigil saw the owner die; -1 when it still runs or died before vigil was watching. */
  readonly owner_gone_secs: number;
  /** All of the above as one phrase for summaries: `left by claude (in ~/src/foo, 40 min ago)`. */
  readonly attribution: string;
}

export const NO_ATTRIBUTION: GroupAttribution = {
  left_by: '',
  session: '',
  cwd: '',
  owner_gone_secs: -1,
  attribution: '',
};

/** Options whose value names an agent's session or conversation (`claude --resume <id>`). */
const SESSION_FLAGS = new Set([
  '--resume',
  '-r',
  '--session-id',
  '--session',
  '--conversation-id',
  '--conversation',
  '--thread-id',
  '--chat-id',
]);
/** What a session id looks like: a UUID, a hex or base-32 id, a slug. Anything else is not taken. */
const SESSION_ID = /^[\w.:-]{4,128}$/;
/** Kinds of parents that own what they start (a live one means the group is still in use). */
const OWNER_KINDS = new Set(['agent-cli', 'editor']);
/** How far up a chain of live wrappers (`npm exec` → `sh -c` → server) the orphaned ancestor is looked for. */
const MAX_DEPTH = 4;

/** The session id on a command line, '' when none. */
export function sessionOf(cmdline: string): string {
  const words = cmdline.trim().split(/\s+/);
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    const eq = word.indexOf('=');
    const flag = eq > 0 ? word.slice(0, eq) : word;
    if (!SESSION_FLAGS.has(flag)) continue;
    const value = eq > 0 ? word.slice(eq + 1) : (words[i + 1] ?? '');
    if (SESSION_ID.test(value) && !value.startsWith('-')) return value;
  }
  return '';
}

/** A program's short name from its command line: `claude`, `claude-code` (node …/claude-code/cli.js), `code`. */
export function ownerName(cmdline: string, fallback: string): string {
  if (cmdline.trim() === '') return fallback;
  return programName(invocationOf([cmdline])) || fallback;
}

/** "12 s", "40 min", "2 h 5 min", "3 d 4 h": how long ago, at a glance. */
export function agoText(secs: number): string {
  const s = Math.max(0, Math.floor(secs));
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return h > 0 ? `${d} d ${h} h` : `${d} d`;
  if (h > 0) return m > 0 ? `${h} h ${m} min` : `${h} h`;
  if (m > 0) return `${m} min`;
  return `${s} s`;
}

/** `/home/alice/src/foo` → `~/src/foo` when `/home/alice` is the home; other paths as they are. */
export function underHome(path: string, home: string | undefined): string {
  if (!home || home === '/') return path;
  if (path === home) return '~';
  return path.startsWith(`${home}/`) ? `~${path.slice(home.length)}` : path;
}

/** `/etc/passwd` lines into uid → home directory. */
export function parseHomes(text: string): Map<number, string> {
  const homes = new Map<number, string>();
  for (const line of text.split('\n')) {
    const fields = line.split(':');
    const uid = Number(fields[2]);
    if (fields.length >= 6 && fields[2] !== '' && Number.isInteger(uid) && !homes.has(uid))
      homes.set(uid, fields[5]!);
  }
  return homes;
}

/** Whoever one member belongs to. */
interface Owner {
  readonly name: string;
  readonly session: string;
  readonly alive: boolean;
  /** When vigil saw it die (ms), null when it did not. */
  readonly goneAt: number | null;
}

export interface AttributionContext {
  readonly byPid: ReadonlyMap<number, ProcessSample>;
  readonly lineage: Lineage;
  /** The kind of a process (`agent-cli`, `editor`…), '' when none. */
  readonly kindOf: (p: ProcessSample) => string;
  /**
   * Whether a process (a member or one of its ancestors) is an orphan, as the facts finally say (identical
   * detached siblings and servers under an orphaned runner included).
   */
  readonly orphan: (p: ProcessSample) => boolean;
  /** Whether a process adopts orphans (pid 1, a subreaper, a container's init); default `isAdopter`. */
  readonly isReaper?: (p: ProcessSample) => boolean;
  /** The snapshot's time, ms since the epoch. */
  readonly now: number;
}

/**
 * Attributes groups, cycle after cycle. Keeps each member's working directory while it stays a member
 * of a candidate group (the link is read once per process), and `/etc/passwd`'s home directories.
 */
export class Attributor {
  private cwds = new Map<string, string>();
  private nextCwds = new Map<string, string>();
  private homes: Map<number, string> | null = null;
  private homesReadAt = 0;

  constructor(private readonly paths: { readonly procfs: string; readonly etc: string }) {}

  /** Forgets the directories of processes no candidate group held this cycle. Call once per cycle. */
  endCycle(): void {
    this.cwds = this.nextCwds;
    this.nextCwds = new Map();
  }

  attribute(members: readonly ProcessSample[], ctx: AttributionContext): GroupAttribution {
    if (members.length === 0) return NO_ATTRIBUTION;
    const owners = new Map<string, { owner: Owner; count: number; goneAt: number | null }>();
    // The members of a storm share one or a few owners: each owner's command line is read once.
    const names = new Map<string, { name: string; session: string }>();
    for (const p of members) {
      const owner = this.ownerOf(p, ctx, names);
      const key = `${owner.alive}|${owner.name}|${owner.session}`;
      const entry = owners.get(key);
      if (!entry) owners.set(key, { owner, count: 1, goneAt: owner.goneAt });
      else {
        entry.count++;
        if (owner.goneAt !== null && (entry.goneAt === null || owner.goneAt < entry.goneAt))
          entry.goneAt = owner.goneAt;
      }
    }
    const ranked = [...owners.values()].sort(
      (a, b) => Number(a.owner.alive) - Number(b.owner.alive) || b.count - a.count,
    );
    const top = ranked[0]!;
    const cwd = this.commonCwd(members);
    const gone = top.goneAt === null ? -1 : Math.max(0, (ctx.now - top.goneAt) / 1000);
    let oldest = 0;
    for (const p of members) oldest = Math.max(oldest, (ctx.now - p.startTime) / 1000);
    const facts = {
      left_by: top.owner.name,
      session: top.owner.session,
      cwd,
      owner_gone_secs: gone,
    };
    return {
      ...facts,
      attribution: attributionPhrase({
        ...facts,
        alive: top.owner.alive,
        oldestSecs: oldest,
        others: members.length - top.count,
      }),
    };
  }

  /**
   * The owner of one member, walking up from it through its live ancestors (runners such as `npm exec`,
   * `uvx`, and the shells between): the first orphan whose re-parenting vigil saw names the parent that
   * died, and when; an orphan adopted before vigil was watching leaves the owner unknown; a live agent CLI
   * or editor on the way owns it still; an ancestor adopted without being an orphan (a daemon, a tmux
   * server) ends the walk at the member's live parent.
   */
  private ownerOf(
    member: ProcessSample,
    ctx: AttributionContext,
    names: Map<string, { name: string; session: string }>,
  ): Owner {
    // Keyed by the owner's identity (`pid:start`), known for every owner vigil saw.
    const named = (key: string, cmdline: string, fallback: string) => {
      let found = names.get(key);
      if (!found) {
        found = { name: ownerName(cmdline, fallback), session: sessionOf(cmdline) };
        names.set(key, found);
      }
      return found;
    };
    const reaper = ctx.isReaper ?? isAdopter;
    const unknown: Owner = { name: '', session: '', alive: false, goneAt: null };
    let at = member;
    for (let depth = 0; depth < MAX_DEPTH; depth++) {
      const parent = ctx.byPid.get(at.ppid);
      if (ctx.orphan(at)) {
        const first = ctx.lineage.firstParent(at);
        if (first?.reparented) {
          const { name, session } = named(
            first.parentIdentity ?? first.parentCmdline,
            first.parentCmdline,
            first.parentName || first.parentComm,
          );
          return { name, session, alive: false, goneAt: first.reparentedAt };
        }
        // An orphan under a live runner: the runner is what was left; else adopted before vigil looked.
        if (!parent || reaper(parent) || parent.pid === at.pid) return unknown;
        at = parent;
        continue;
      }
      if (!parent || reaper(parent) || parent.pid === at.pid) break;
      if (OWNER_KINDS.has(ctx.kindOf(parent))) return liveOwner(parent, named);
      at = parent;
    }
    const parent = ctx.byPid.get(member.ppid);
    return parent && !reaper(parent) ? liveOwner(parent, named) : unknown;
  }

  /** The directory most members run in, '' when none could be read. */
  private commonCwd(members: readonly ProcessSample[]): string {
    const counts = new Map<string, number>();
    for (const p of members) {
      const cwd = this.cwdOf(p);
      if (cwd !== '') counts.set(cwd, (counts.get(cwd) ?? 0) + 1);
    }
    let best = '';
    let most = 0;
    for (const [cwd, n] of counts) {
      if (n > most) {
        best = cwd;
        most = n;
      }
    }
    return best;
  }

  private cwdOf(p: ProcessSample): string {
    const id = identityOf(p);
    let cwd = this.nextCwds.get(id) ?? this.cwds.get(id);
    if (cwd === undefined) {
      try {
        const target = readlinkSync(join(this.paths.procfs, String(p.pid), 'cwd'));
        cwd = printable(redact(underHome(target, this.homeOf(p.uid))));
      } catch {
        cwd = ''; // another user's process, or gone
      }
    }
    this.nextCwds.set(id, cwd);
    return cwd;
  }

  private homeOf(uid: number): string | undefined {
    const now = Date.now();
    if (this.homes === null || (!this.homes.has(uid) && now - this.homesReadAt > 60_000)) {
      this.homesReadAt = now;
      try {
        this.homes = parseHomes(readFileSync(join(this.paths.etc, 'passwd'), 'utf8'));
      } catch {
        this.homes = new Map();
      }
    }
    return this.homes.get(uid);
  }
}

function liveOwner(
  p: ProcessSample,
  named: (key: string, cmdline: string, fallback: string) => { name: string; session: string },
): Owner {
  return { ...named(identityOf(p), p.cmdline, p.comm), alive: true, goneAt: null };
}

/**
 * The phrase summaries use: `left by claude (session 3f2a9c1e, in ~/src/foo, 40 min ago)`; for an owner
 * vigil did not see die, `left behind (in ~/src/foo, before vigil started, up 3 h)`; for a live one,
 * `started by claude (in ~/src/foo, still running)`. Members with other owners are counted at the end.
 */
export function attributionPhrase(a: {
  readonly left_by: string;
  readonly session: string;
  readonly cwd: string;
  readonly owner_gone_secs: number;
  readonly alive: boolean;
  readonly oldestSecs: number;
  readonly others: number;
}): string {
  const head = a.alive
    ? `started by ${a.left_by || 'a live parent'}`
    : a.left_by
      ? `left by ${a.left_by}`
      : 'left behind';
  const parts: string[] = [];
  if (a.session) parts.push(`session ${a.session.length > 12 ? `${a.session.slice(0, 8)}…` : a.session}`);
  if (a.cwd) parts.push(`in ${a.cwd}`);
  if (a.alive) parts.push('still running');
  else if (a.owner_gone_secs >= 1) parts.push(`${agoText(a.owner_gone_secs)} ago`);
  else if (a.owner_gone_secs >= 0) parts.push('just now');
  else parts.push(`before vigil started, up ${agoText(a.oldestSecs)}`);
  if (a.others > 0) parts.push(`${a.others} more from other owners`);
  return `${head} (${parts.join(', ')})`;
}
