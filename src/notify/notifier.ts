import { randomUUID } from 'node:crypto';
import { hostname as osHostname } from 'node:os';
import type { Config, Severity } from '../config/schema.js';
import { SEVERITY_RANK } from '../model/severity.js';
import { redact } from '../redact/redact.js';
import type { ActionNote } from '../respond/scheduler.js';
import type { Finding } from '../rules/types.js';
import type { OpenedStore } from '../store/store.js';
import { createAlertmanagerChannel, isRefreshing } from './alertmanager.js';
import { atLeast, type Channel, type Notice, type QueuedChannel, type RaiseReason } from './channel.js';
import { createDesktopChannel, type DesktopBackend, type DesktopProbe } from './desktop.js';
import { createLogChannel } from './log.js';
import { type Outbox, type OutboxOptions, openOutbox } from './outbox.js';
import { createTerminalChannel, terminalColorWanted } from './terminal.js';
import { createWebhookChannel, fetchPost, webhookTarget } from './webhook.js';

/**
 * Decides what deserves telling (alert hygiene) and fans it out to the channels.
 *
 * Hygiene, per fingerprint:
 * - **Dedupe.** A finding is told when it is raised; while it keeps firing it is not told again…
 * - **Re-notify** …until `renotify_after_secs` passed since it was last told (a reminder, "still firing
 *   after 1h"); 0 turns reminders off. A finding whose severity changes is told again at once, with the
 *   summary it has now: "escalated" when it rises ("8 still have a live owner" at medium becomes "all 8
 *   orphaned" at high when their agent dies), "eased" when it falls. A severity told less than
 *   {@link FLAP_MS} ago is not told again on the way back (a group hovering at a threshold); a rise
 *   above every severity told so far always is.
 * - **Digest.** When more than {@link DIGEST_AFTER} notices would reach one channel in one call, that
 *   channel gets one digest listing them all (most severe first) instead.
 * - **Resolve.** A finding that clears is told as resolved — only if it had been told (and to the
 *   channels its told severity reached).
 * - **Events** (an OOM kill in the journal) are told once and never resolve.
 * - Each channel has its minimum severity (`min_severity` for terminal and log, `desktop_min_severity`,
 *   `webhook_min_severity`).
 *
 * What was told is kept in memory only. After a restart, a finding found already firing (the daemon
 * restores open alerts without raising them again) is taken as told at that moment: it is neither told
 * again at once nor forgotten — its reminder comes `renotify_after_secs` later and its resolve is told.
 *
 * Every text leaves through {@link redact}. `announce` is synchronous and never throws: terminal and log
 * lines are written before it returns; pop-ups complete in the background; queued channels (webhooks)
 * are only queued, and `tick()` sends them.
 */

/** Channels that are not told action steps (see {@link Notifier.announceAction}). */
const NO_ACTION_NOTICES = new Set(['terminal', 'alertmanager']);

/** More notices than this to one channel in one call become one digest. */
export const DIGEST_AFTER = 5;
/** Findings remembered as told, at most (a rule removed by a reload never resolves its findings). */
const MAX_TOLD = 10_000;
/** Event fingerprints remembered to tell each once. */
const MAX_EVENTS = 2_000;
/** A finding coming back within this long to a severity already told is flapping: not told again. */
export const FLAP_MS = 10 * 60_000;
/** How long `close()` waits for pop-ups still on their way. */
const CLOSE_WAIT_MS = 1500;

export interface NotifierOptions {
  config: Config;
  /** The history store (its `outbox` table is the persistent queue), or null. */
  store: OpenedStore | null;
  /** Where `notifications.jsonl` goes. */
  stateDir: string;
  /** The daemon's log (stderr). */
  log(line: string): void;
  /** The terminal channel's output (stdout), one line per call. */
  write(line: string): void;
  now?(): number;
  hostname?: string;
  /**
   * Webhooks post through this fetch instead of node:http. Not the default: the first fetch loads
   * undici, 15–40 MiB resident (see webhook.ts).
   */
  fetchImpl?: typeof fetch;
  /** For the desktop channel's display check and NO_COLOR (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Terminal colour (default: stdout is a terminal and NO_COLOR is unset). */
  color?: boolean;
  webhookTimeoutMs?: number;
  desktop?: { load?: () => Promise<DesktopBackend>; probe?: DesktopProbe };
  /** Queue tuning (tests). */
  outbox?: Pick<OutboxOptions, 'firstRetryMs' | 'maxRetryMs' | 'maxPending' | 'batchSize' | 'giveUpAfter'>;
  /** Builds the channels from a config (default {@link configuredChannels}); tests pass their own. */
  channels?: (config: Config) => Channel[];
}

/** What `vigil health` shows of one channel. */
export interface ChannelStatus {
  name: string;
  /** `ok`: working, or not needed yet; `failing`: its last attempt failed; `unsupported` here. */
  state: 'ok' | 'failing' | 'unsupported';
  /** Why it fails or is unsupported; for a webhook, where it posts (origin only). */
  detail: string | null;
  /** Queued channels: notices waiting to be sent; null for the others. */
  pending: number | null;
  lastDeliveredAt: number | null;
}

export interface NotifierStatus {
  channels: ChannelStatus[];
  /** Whether queued notices survive a restart (false: the store is missing or read-only). */
  queuePersistent: boolean | null;
}

interface Told {
  /** When it was last told (or taken as told). */
  at: number;
  /** The highest severity told: decides which channels hear the resolve. */
  severity: Severity;
  /** The severity it had when last looked at: a change from it is told. */
  current: Severity;
  /** When each severity was last told (for the flap guard). */
  toldAt: Partial<Record<Severity, number>>;
  /** The severity of the last notice told: a change is "escalated" above it, "eased" below it. */
  lastSeverity: Severity;
  /** The latest version seen (the resolve shows its summary). */
  finding: Finding;
}

/** A finding the hygiene decided to tell, and why (new, reminder, escalated). */
export interface Pending {
  finding: Finding;
  reason: RaiseReason;
}

/** A told finding that resolved. */
export interface Cleared {
  finding: Finding;
  severity: Severity;
}

/** The channels a config turns on. */
export function configuredChannels(
  config: Config,
  deps: {
    stateDir: string;
    write: (line: string) => void;
    color: boolean;
    env: NodeJS.ProcessEnv;
    fetchImpl?: typeof fetch;
    webhookTimeoutMs?: number;
    desktop?: { load?: () => Promise<DesktopBackend>; probe?: DesktopProbe };
  },
): Channel[] {
  const n = config.notifications;
  const channels: Channel[] = [];
  if (n.terminal)
    channels.push(
      createTerminalChannel({ minSeverity: n.min_severity, write: deps.write, color: deps.color }),
    );
  if (n.desktop)
    channels.push(
      createDesktopChannel({ env: deps.env, minSeverity: n.desktop_min_severity, ...deps.desktop }),
    );
  if (n.log) channels.push(createLogChannel({ dir: deps.stateDir, minSeverity: n.min_severity }));
  if (n.webhook_url)
    channels.push(
      createWebhookChannel({
        url: n.webhook_url,
        format: n.webhook_format,
        minSeverity: n.webhook_min_severity,
        ...(deps.fetchImpl ? { post: fetchPost(deps.fetchImpl) } : {}),
        ...(deps.webhookTimeoutMs ? { timeoutMs: deps.webhookTimeoutMs } : {}),
      }),
    );
  // Alertmanager routes and filters by the severity label itself: it hears what the terminal hears.
  if (n.alertmanager_url)
    channels.push(
      createAlertmanagerChannel({
        url: n.alertmanager_url,
        minSeverity: n.min_severity,
        ...(deps.webhookTimeoutMs ? { timeoutMs: deps.webhookTimeoutMs } : {}),
      }),
    );
  return channels;
}

function redactFinding(finding: Finding): Finding {
  return {
    ...finding,
    title: redact(finding.title),
    subject: redact(finding.subject),
    summary: redact(finding.summary),
  };
}

export class Notifier {
  private config: Config;
  private channels: Channel[] = [];
  private readonly now: () => number;
  private readonly host: string;
  private readonly told = new Map<string, Told>();
  private readonly events = new Set<string>();
  private outbox: Outbox | null = null;
  private queuePersistent: boolean | null = null;
  private readonly health = new Map<string, { error: string | null; lastDeliveredAt: number | null }>();
  private readonly pendingCount = new Map<string, number>();
  private readonly inflight = new Set<Promise<void>>();
  private readonly unsupportedSaid = new Map<string, string>();
  private closed = false;
  /** What the last evaluation found firing (Alertmanager is told it again now and then). */
  private firingNow: readonly Finding[] = [];

  constructor(private readonly options: NotifierOptions) {
    this.config = options.config;
    this.now = options.now ?? Date.now;
    this.host = options.hostname ?? osHostname();
    try {
      this.build();
    } catch (error) {
      this.log(`cannot set the channels up: ${(error as Error).message}`);
    }
  }

  private log(line: string): void {
    this.options.log(`notifications: ${redact(line)}`);
  }

  /** (Re)builds the channels from the config; opens the queue when a queued channel needs it. */
  private build(): void {
    const env = this.options.env ?? process.env;
    const make =
      this.options.channels ??
      ((config: Config) =>
        configuredChannels(config, {
          stateDir: this.options.stateDir,
          write: this.options.write,
          color: this.options.color ?? terminalColorWanted(env, process.stdout.isTTY),
          env,
          ...(this.options.fetchImpl ? { fetchImpl: this.options.fetchImpl } : {}),
          ...(this.options.webhookTimeoutMs ? { webhookTimeoutMs: this.options.webhookTimeoutMs } : {}),
          ...(this.options.desktop ? { desktop: this.options.desktop } : {}),
        }));
    this.channels = make(this.config);
    for (const channel of this.channels) this.noteUnsupported(channel);
    if (this.outbox === null && this.channels.some((c) => c.queued)) {
      const { outbox, persistent } = openOutbox(this.options.store, {
        ...this.options.outbox,
        log: (line) => this.log(line),
        now: this.now,
      });
      this.outbox = outbox;
      this.queuePersistent = persistent;
    }
  }

  /** Says once per reason that a channel cannot work here (a reason may appear late: a failed load). */
  private noteUnsupported(channel: Channel): void {
    const reason = channel.unsupported;
    if (reason === null || this.unsupportedSaid.get(channel.name) === reason) return;
    this.unsupportedSaid.set(channel.name, reason);
    this.log(`${channel.name} unsupported here: ${reason}`);
  }

  /** A new config (SIGHUP): channels, severities, language and intervals; what was told is kept. */
  reconfigure(config: Config): void {
    try {
      this.config = config;
      this.build();
    } catch (error) {
      this.log(`cannot apply the new notification settings: ${(error as Error).message}`);
    }
  }

  /**
   * Tells what one evaluation decided. `raised` and `resolved` are this evaluation's; `firing` is
   * everything firing now (for reminders, escalations and findings restored after a restart). Returns
   * what the hygiene decided to tell (each channel then applies its own minimum severity).
   */
  announce(
    raised: readonly Finding[],
    resolved: readonly Finding[],
    firing: readonly Finding[],
  ): { tell: Pending[]; cleared: Cleared[] } {
    const nothing = { tell: [], cleared: [] };
    if (this.closed) return nothing;
    try {
      const now = this.now();
      const decided = this.review(raised, resolved, firing, now);
      this.firingNow = firing;
      if (decided.tell.length > 0 || decided.cleared.length > 0)
        this.fanOut(decided.tell, decided.cleared, now);
      return decided;
    } catch (error) {
      this.log(`failed: ${(error as Error).message}`);
      return nothing;
    }
  }

  /** Alert hygiene: what to tell now. */
  private review(
    raised: readonly Finding[],
    resolved: readonly Finding[],
    firing: readonly Finding[],
    now: number,
  ): { tell: Pending[]; cleared: Cleared[] } {
    const renotifyMs = this.config.notifications.renotify_after_secs * 1000;
    const tell: Pending[] = [];
    const seen = new Set<string>();
    const stillFiring = (finding: Finding, told: Told) => {
      told.finding = finding;
      const severity = finding.severity;
      const changed = severity !== told.current;
      told.current = severity;
      if (changed) {
        const rank = SEVERITY_RANK[severity];
        const peak = rank > SEVERITY_RANK[told.severity];
        const lastTold = told.toldAt[severity];
        if (peak || lastTold === undefined || now - lastTold >= FLAP_MS) {
          if (peak) told.severity = severity;
          told.at = now;
          told.toldAt[severity] = now;
          tell.push({ finding, reason: rank > SEVERITY_RANK[told.lastSeverity] ? 'escalated' : 'eased' });
          told.lastSeverity = severity;
          return;
        }
      }
      if (renotifyMs > 0 && now - told.at >= renotifyMs) {
        told.at = now;
        told.toldAt[severity] = now;
        told.lastSeverity = severity;
        tell.push({ finding, reason: 'reminder' });
      }
    };

    for (const finding of raised) {
      if (seen.has(finding.fingerprint)) continue;
      seen.add(finding.fingerprint);
      if (finding.event) {
        if (this.events.has(finding.fingerprint)) continue;
        this.events.add(finding.fingerprint);
        if (this.events.size > MAX_EVENTS) this.events.delete(this.events.values().next().value!);
        tell.push({ finding, reason: 'new' });
        continue;
      }
      const told = this.told.get(finding.fingerprint);
      if (told) stillFiring(finding, told);
      else {
        this.remember(finding, now);
        tell.push({ finding, reason: 'new' });
      }
    }
    for (const finding of firing) {
      if (finding.event || seen.has(finding.fingerprint)) continue;
      seen.add(finding.fingerprint);
      const told = this.told.get(finding.fingerprint);
      if (told) stillFiring(finding, told);
      else this.remember(finding, now); // firing before this process started: told by the previous one
    }

    const cleared: Cleared[] = [];
    for (const finding of resolved) {
      const told = this.told.get(finding.fingerprint);
      if (!told) continue;
      this.told.delete(finding.fingerprint);
      cleared.push({ finding: finding.summary ? finding : told.finding, severity: told.severity });
    }
    return { tell, cleared };
  }

  private remember(finding: Finding, now: number): void {
    const severity = finding.severity;
    this.told.set(finding.fingerprint, {
      at: now,
      severity,
      current: severity,
      lastSeverity: severity,
      toldAt: { [severity]: now },
      finding,
    });
    if (this.told.size > MAX_TOLD) this.told.delete(this.told.keys().next().value!);
  }

  /** Each channel gets what reaches its minimum severity: one notice per finding, or one digest. */
  private fanOut(tell: readonly Pending[], cleared: readonly Cleared[], now: number): void {
    const language = this.config.general.language;
    const safeTell = tell.map((t) => ({ ...t, finding: redactFinding(t.finding) }));
    const safeCleared = cleared.map((c) => ({ ...c, finding: redactFinding(c.finding) }));
    const notice = (fields: Pick<Notice, 'kind' | 'reason' | 'findings' | 'resolved'>): Notice => ({
      id: randomUUID(),
      host: this.host,
      at: now,
      language,
      ...fields,
    });
    for (const channel of this.channels) {
      if (channel.unsupported !== null) continue;
      const mine = safeTell.filter((t) => atLeast(t.finding.severity, channel.minSeverity));
      const gone = safeCleared.filter((c) => atLeast(c.severity, channel.minSeverity));
      if (mine.length + gone.length === 0) continue;
      const notices: Notice[] =
        mine.length + gone.length > DIGEST_AFTER
          ? [
              notice({
                kind: 'digest',
                reason: null,
                findings: mine
                  .map((t) => t.finding)
                  .sort((a, b) => SEVERITY_RANK[b.severity] - SEVERITY_RANK[a.severity]),
                resolved: gone.map((c) => c.finding),
              }),
            ]
          : [
              ...mine.map((t) =>
                notice({ kind: 'raised', reason: t.reason, findings: [t.finding], resolved: [] }),
              ),
              ...gone.map((c) =>
                notice({ kind: 'resolved', reason: null, findings: [c.finding], resolved: [] }),
              ),
            ];
      for (const n of notices) this.dispatch(channel, n, now);
    }
  }

  /**
   * Tells a step of an action (proposed, announced, taken, checked, escalated, held back) to the channels
   * whose minimum the finding's severity reaches — except the terminal, where the daemon prints its own
   * action lines, and Alertmanager, which carries alerts only. Never throws.
   */
  announceAction(action: ActionNote): void {
    if (this.closed) return;
    try {
      const now = this.now();
      const notice: Notice = {
        id: randomUUID(),
        kind: 'action',
        reason: null,
        findings: [],
        resolved: [],
        host: this.host,
        at: now,
        language: this.config.general.language,
        action: { ...action, text: redact(action.text) },
      };
      for (const channel of this.channels) {
        if (channel.unsupported !== null || NO_ACTION_NOTICES.has(channel.name)) continue;
        if (!atLeast(action.severity, channel.minSeverity)) continue;
        this.dispatch(channel, notice, now);
      }
    } catch (error) {
      this.log(`failed: ${(error as Error).message}`);
    }
  }

  private dispatch(channel: Channel, notice: Notice, now: number): void {
    if (channel.queued) {
      this.outbox?.enqueue(channel.name, channel.encode(notice), now);
      return;
    }
    let delivery: Promise<void>;
    try {
      delivery = channel.deliver(notice);
    } catch (error) {
      delivery = Promise.reject(error);
    }
    const tracked = delivery.then(
      () => (channel.unsupported === null ? this.succeeded(channel.name) : this.noteUnsupported(channel)),
      (error: unknown) => this.failing(channel.name, (error as Error)?.message ?? String(error)),
    );
    this.inflight.add(tracked);
    void tracked.finally(() => this.inflight.delete(tracked));
  }

  private succeeded(name: string): void {
    const state = this.health.get(name);
    if (state?.error) this.log(`${name} works again`);
    this.health.set(name, { error: null, lastDeliveredAt: this.now() });
  }

  /** Logs a failure once, not at every retry; `context` (what waits) is only logged. */
  private failing(name: string, error: string, context = ''): void {
    const state = this.health.get(name);
    if (state?.error !== error) this.log(`${name} failing: ${error}${context}`);
    this.health.set(name, { error, lastDeliveredAt: state?.lastDeliveredAt ?? null });
  }

  /** Sends what the queue holds and is due (webhooks). Call it every cycle; it never throws. */
  async tick(): Promise<void> {
    const outbox = this.outbox;
    if (outbox === null || this.closed) return;
    try {
      const senders = new Map<string, QueuedChannel>();
      for (const channel of this.channels)
        if (channel.queued && channel.unsupported === null) senders.set(channel.name, channel);
      if (senders.size === 0) return;
      const outcomes = await outbox.deliverDue(senders, this.now());
      await this.refreshFiring();
      for (const [name, outcome] of outcomes) {
        this.pendingCount.set(name, outcome.pending);
        if (outcome.delivered > 0) this.succeeded(name);
        if (outcome.error === null) continue;
        const wait =
          outcome.nextAttemptAt === null
            ? ''
            : `; ${outcome.pending} waiting, next try in ${Math.max(0, Math.round((outcome.nextAttemptAt - this.now()) / 1000))} s`;
        this.failing(name, outcome.error, wait);
      }
    } catch (error) {
      this.log(`delivery failed: ${(error as Error).message}`);
    }
  }

  /** Repeats the findings still firing to the channels that want it (Alertmanager); never throws. */
  private async refreshFiring(): Promise<void> {
    for (const channel of this.channels) {
      if (!isRefreshing(channel) || channel.unsupported !== null) continue;
      const firing = this.firingNow
        .filter((f) => atLeast(f.severity, channel.minSeverity))
        .map(redactFinding);
      await channel.refresh(firing, this.host, this.now());
    }
  }

  /** For `vigil health` and the heartbeat. */
  status(): NotifierStatus {
    const webhookUrl = this.config.notifications.webhook_url;
    return {
      channels: this.channels.map((channel) => {
        const state = this.health.get(channel.name);
        const unsupported = channel.unsupported;
        const amUrl = this.config.notifications.alertmanager_url;
        const where =
          channel.name === 'webhook' && webhookUrl
            ? `posts to ${webhookTarget(webhookUrl)}`
            : channel.name === 'alertmanager' && amUrl
              ? `posts to ${webhookTarget(amUrl)}`
              : null;
        return {
          name: channel.name,
          state: unsupported !== null ? 'unsupported' : state?.error ? 'failing' : 'ok',
          detail: unsupported ?? state?.error ?? where,
          pending: channel.queued ? (this.pendingCount.get(channel.name) ?? null) : null,
          lastDeliveredAt: state?.lastDeliveredAt ?? null,
        };
      }),
      queuePersistent: this.queuePersistent,
    };
  }

  /**
   * Waits (up to 1.5 s) for pop-ups and a delivery under way, then lets go of the queue. The store
   * stays open: the daemon closes it after this.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const waited = Promise.allSettled([...this.inflight, this.outbox?.close()]);
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, CLOSE_WAIT_MS);
      timer.unref();
    });
    await Promise.race([waited, limit]);
    clearTimeout(timer);
  }
}
