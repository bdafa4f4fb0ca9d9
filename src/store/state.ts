import type { BaselineRow } from '../understand/baseline.js';
import type { Connection } from './connection.js';
import type { RuleStateRecord } from './types.js';

/**
 * What the daemon resumes from after a restart, so it neither forgets what it learnt nor starts a
 * 5-minute condition over: the baselines (`baselines`), the journal cursor (`kv`) and the rule states
 * (`rule_states`).
 */

const JOURNAL_CURSOR_KEY = 'journal.cursor';

const SQL = {
  loadBaselines: 'SELECT metric, hour, count, mean, m2 FROM baselines ORDER BY metric, hour',
  saveBaseline: `INSERT INTO baselines (metric, hour, count, mean, m2) VALUES (@metric, @hour, @count, @mean, @m2)
    ON CONFLICT (metric, hour) DO UPDATE SET count = excluded.count, mean = excluded.mean, m2 = excluded.m2`,

  getValue: 'SELECT value FROM kv WHERE key = ?',
  setValue:
    'INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',

  clearRuleStates: 'DELETE FROM rule_states',
  insertRuleState: `INSERT OR REPLACE INTO rule_states (fingerprint, pending_since, firing, clearing_since)
    VALUES (@fingerprint, @pendingSince, @firing, @clearingSince)`,
  loadRuleStates: `SELECT fingerprint, pending_since AS pendingSince, firing, clearing_since AS clearingSince
    FROM rule_states ORDER BY fingerprint`,
} as const;

export class StateTables {
  constructor(private readonly conn: Connection) {}

  loadBaselines(): BaselineRow[] {
    return this.conn.read('baselines', () => this.conn.statement<[], BaselineRow>(SQL.loadBaselines).all());
  }

  saveBaselines(rows: readonly BaselineRow[]): void {
    this.conn.write('baselines', () => {
      const save = this.conn.statement<[BaselineRow]>(SQL.saveBaseline);
      for (const row of rows) {
        save.run({ metric: row.metric, hour: row.hour, count: row.count, mean: row.mean, m2: row.m2 });
      }
    });
  }

  getJournalCursor(): string | null {
    return this.conn.read('the journal cursor', () => {
      const row = this.conn.statement<[string], { value: string }>(SQL.getValue).get(JOURNAL_CURSOR_KEY);
      return row?.value ?? null;
    });
  }

  setJournalCursor(cursor: string): void {
    this.conn.write('the journal cursor', () =>
      this.conn.statement(SQL.setValue).run(JOURNAL_CURSOR_KEY, cursor),
    );
  }

  saveRuleStates(states: readonly RuleStateRecord[]): void {
    this.conn.write('rule states', () => {
      this.conn.statement(SQL.clearRuleStates).run();
      const insert = this.conn.statement<[object]>(SQL.insertRuleState);
      for (const s of states) {
        insert.run({
          fingerprint: s.fingerprint,
          pendingSince: s.pendingSince,
          firing: s.firing ? 1 : 0,
          clearingSince: s.clearingSince,
        });
      }
    });
  }

  loadRuleStates(): RuleStateRecord[] {
    return this.conn.read('rule states', () =>
      this.conn
        .statement<
          [],
          { fingerprint: string; pendingSince: number; firing: number; clearingSince: number | null }
        >(SQL.loadRuleStates)
        .all()
        .map((s) => ({ ...s, firing: s.firing === 1 })),
    );
  }
}
