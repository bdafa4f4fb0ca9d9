import type Database from 'better-sqlite3';

/**
 * The history database's schema as an ordered list of migrations. `PRAGMA user_version` holds how many
 * have been applied (0 = an empty file); opening a database applies the missing ones in order, each in its
 * own IMMEDIATE transaction that re-reads the version first, so two processes opening the same file at
 * once migrate it once. A shipped migration is never edited: a change is a new entry at the end.
 *
 * Compactness (7 days of history must stay under 64 MB) and read speed (`vigil report` reads 7 days at
 * once): times are INTEGER ms since the epoch, the time of a snapshot is its rowid (the index by time
 * costs nothing), REAL only for measured fractions, and a process's identity and text (name, cmdline,
 * user, kind, group) are stored once in `procs`. A snapshot keeps per process only its `procs.id` and what
 * changes from minute to minute, packed as 26-byte binary records (./codec.ts). As JSON arrays the same
 * samples took 12.4 MiB instead of 7.9 for a week, and parsing them 110–150 ms instead of 10–30.
 */
export interface Migration {
  /** The schema version this migration produces. */
  readonly version: number;
  readonly description: string;
  readonly up: (db: Database) => void;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'runs, snapshots, processes, alerts, baselines, key/value, rule states, heartbeat',
    up: (db) =>
      db.exec(`
        CREATE TABLE runs (
          id INTEGER PRIMARY KEY,
          pid INTEGER NOT NULL,
          started_at INTEGER NOT NULL,
          last_seen_at INTEGER NOT NULL,
          ended_at INTEGER
        );

        -- One row per process identity and text; snapshots refer to it by id.
        CREATE TABLE procs (
          id INTEGER PRIMARY KEY,
          pid INTEGER NOT NULL,
          start_ticks INTEGER NOT NULL,
          comm TEXT NOT NULL,
          name TEXT NOT NULL,
          cmdline TEXT NOT NULL,
          user TEXT NOT NULL,
          kind TEXT,
          grp TEXT NOT NULL,
          first_seen INTEGER NOT NULL,
          last_seen INTEGER NOT NULL
        );
        CREATE INDEX procs_identity ON procs (pid, start_ticks);
        CREATE INDEX procs_last_seen ON procs (last_seen);

        -- disks = JSON {mount: usedPercent}; procs = packed process samples (codec.ts)
        CREATE TABLE snapshots (
          taken_at INTEGER PRIMARY KEY,
          mem_used_percent REAL,
          mem_available_bytes INTEGER,
          swap_used_percent REAL,
          load1 REAL,
          load5 REAL,
          load15 REAL,
          cpu_percent REAL,
          psi_mem_some_avg10 REAL,
          psi_mem_full_avg10 REAL,
          psi_cpu_some_avg10 REAL,
          psi_io_full_avg10 REAL,
          cpu_temp_celsius REAL,
          gpu_temp_celsius REAL,
          disks TEXT NOT NULL,
          procs BLOB NOT NULL
        );

        -- pids, suggest = JSON arrays. An alert is open while resolved_at IS NULL.
        CREATE TABLE alerts (
          id INTEGER PRIMARY KEY,
          fingerprint TEXT NOT NULL,
          rule TEXT NOT NULL,
          subject TEXT NOT NULL,
          severity TEXT NOT NULL,
          summary TEXT NOT NULL,
          pids TEXT NOT NULL,
          suggest TEXT NOT NULL,
          event INTEGER NOT NULL,
          first_seen INTEGER NOT NULL,
          last_seen INTEGER NOT NULL,
          resolved_at INTEGER,
          count INTEGER NOT NULL
        );
        CREATE UNIQUE INDEX alerts_one_open ON alerts (fingerprint) WHERE resolved_at IS NULL;
        CREATE INDEX alerts_resolved ON alerts (resolved_at) WHERE resolved_at IS NOT NULL;

        CREATE TABLE baselines (
          metric TEXT NOT NULL,
          hour INTEGER NOT NULL,
          count REAL NOT NULL,
          mean REAL NOT NULL,
          m2 REAL NOT NULL,
          PRIMARY KEY (metric, hour)
        ) WITHOUT ROWID;

        CREATE TABLE kv (
          key TEXT PRIMARY KEY,
          value TEXT NOT NULL
        ) WITHOUT ROWID;

        CREATE TABLE rule_states (
          fingerprint TEXT PRIMARY KEY,
          pending_since INTEGER NOT NULL,
          firing INTEGER NOT NULL,
          clearing_since INTEGER
        ) WITHOUT ROWID;

        -- The latest heartbeat only, as the JSON the daemon wrote.
        CREATE TABLE heartbeat (
          id INTEGER PRIMARY KEY CHECK (id = 1),
          at INTEGER NOT NULL,
          body TEXT NOT NULL
        );
      `),
  },
  {
    version: 2,
    description: "heartbeat history: the daemon's own cost (one row a minute) and collector errors over time",
    up: (db) =>
      db.exec(`
        CREATE TABLE heartbeat_history (
          at INTEGER PRIMARY KEY,
          pid INTEGER NOT NULL,
          rss_bytes INTEGER NOT NULL,
          cpu_percent REAL NOT NULL,
          cpu_seconds REAL NOT NULL,
          firing INTEGER NOT NULL,
          store_ok INTEGER NOT NULL
        );
        INSERT INTO heartbeat_history (at, pid, rss_bytes, cpu_percent, cpu_seconds, firing, store_ok)
          SELECT at, body ->> '$.pid', body ->> '$.rssBytes', body ->> '$.cpuPercent', body ->> '$.cpuSeconds',
                 body ->> '$.firing', coalesce(body ->> '$.store.ok', 1)
          FROM heartbeat WHERE json_valid(body);

        -- Collector errors reported by heartbeats, counted per ten-minute bucket (bucket = at / 600000).
        CREATE TABLE collector_problems (
          bucket INTEGER NOT NULL,
          collector TEXT NOT NULL,
          error TEXT NOT NULL,
          count INTEGER NOT NULL,
          first_at INTEGER NOT NULL,
          last_at INTEGER NOT NULL,
          PRIMARY KEY (bucket, collector, error)
        ) WITHOUT ROWID;
        CREATE INDEX collector_problems_last_at ON collector_problems (last_at);
      `),
  },
  {
    version: 3,
    description: 'acting and telling: actions, the audit hash chain, the notification outbox, snoozes',
    up: (db) =>
      db.exec(`
        -- Every action vigil proposed, and what became of it (proposed, vetoed, refused, started, finished).
        -- target and before/after are JSON: the process identities acted on and the state around the action.
        CREATE TABLE actions (
          id INTEGER PRIMARY KEY,
          alert_id INTEGER,
          fingerprint TEXT,
          action TEXT NOT NULL,
          target TEXT NOT NULL,
          mode TEXT NOT NULL,
          state TEXT NOT NULL,
          reason TEXT,
          outcome TEXT,
          before TEXT,
          after TEXT,
          not_before INTEGER,
          created_at INTEGER NOT NULL,
          updated_at INTEGER NOT NULL
        );
        CREATE INDEX actions_alert ON actions (alert_id);
        CREATE INDEX actions_created ON actions (created_at);

        -- Append-only, hash-chained: hash = SHA-256(prev_hash + canonical JSON of the entry).
        CREATE TABLE audit (
          seq INTEGER PRIMARY KEY,
          at INTEGER NOT NULL,
          kind TEXT NOT NULL,
          data TEXT NOT NULL,
          prev_hash TEXT NOT NULL,
          hash TEXT NOT NULL
        );
        CREATE INDEX audit_at ON audit (at);

        -- Notifications waiting for a channel that can fail (webhooks, Alertmanager): delivered in order,
        -- once each, retried with backoff, kept across restarts.
        CREATE TABLE outbox (
          id INTEGER PRIMARY KEY,
          channel TEXT NOT NULL,
          created_at INTEGER NOT NULL,
          payload TEXT NOT NULL,
          attempts INTEGER NOT NULL DEFAULT 0,
          next_attempt_at INTEGER NOT NULL,
          delivered_at INTEGER,
          last_error TEXT
        );
        CREATE INDEX outbox_pending ON outbox (channel, delivered_at, id);

        -- vigil snooze <rule> <duration>: no notification and no action for that rule until then.
        CREATE TABLE snoozes (
          rule TEXT PRIMARY KEY,
          until INTEGER NOT NULL
        );
      `),
  },
  {
    version: 4,
    description: 'the advisor: every model call (for the cooldown and daily budget) and the advice it gave',
    up: (db) =>
      db.exec(`
        -- One row per call to the model, answered or not. cache_key = model + fingerprint of the situation;
        -- fingerprint = the alert's (null for vigil explain); outcome = ok | cached | error kind;
        -- advice = the validated JSON answer (null unless outcome is ok or cached).
        CREATE TABLE advice (
          id INTEGER PRIMARY KEY,
          at INTEGER NOT NULL,
          fingerprint TEXT,
          alert_id INTEGER,
          pid INTEGER,
          cache_key TEXT NOT NULL,
          model TEXT NOT NULL,
          outcome TEXT NOT NULL,
          advice TEXT
        );
        CREATE INDEX advice_at ON advice (at);
        CREATE INDEX advice_fingerprint ON advice (fingerprint, at);
        CREATE INDEX advice_cache ON advice (cache_key, at);
      `),
  },
  {
    version: 5,
    description: 'alerts keep the summary they had when raised (summary is the latest)',
    up: (db) =>
      db.exec(`
        -- Written once, when the alert is raised; null for an alert raised before version 5 whose audit
        -- entry is gone (read as summary).
        ALTER TABLE alerts ADD COLUMN raised_summary TEXT;
        -- Alerts raised before: the summary their alert_raised audit entry recorded, where it is kept.
        UPDATE alerts SET raised_summary = raised.summary
          FROM (SELECT data ->> '$.alert' AS alert, data ->> '$.summary' AS summary, min(seq)
                FROM audit WHERE kind = 'alert_raised' AND json_valid(data) GROUP BY 1) AS raised
          WHERE raised.alert = alerts.id;
      `),
  },
];

/** The newest schema this code knows. */
export const SCHEMA_VERSION = MIGRATIONS.length;

export function schemaVersion(db: Database): number {
  return Number(db.pragma('user_version', { simple: true }));
}

/**
 * Brings `db` up to {@link SCHEMA_VERSION}, one migration per transaction. The caller has checked that
 * the database is not newer than this code. Returns the version found and the version left.
 */
export function migrate(db: Database): { from: number; to: number } {
  const from = schemaVersion(db);
  const step = db.transaction((): boolean => {
    const version = schemaVersion(db);
    const next = MIGRATIONS[version];
    if (next === undefined) return false;
    next.up(db);
    db.pragma(`user_version = ${next.version}`);
    return true;
  });
  while (step.immediate()) {
    // one migration applied; look again
  }
  return { from, to: schemaVersion(db) };
}
