import { Chalk, type ChalkInstance } from 'chalk';
import { Box, Text, useApp, useInput, useStdout } from 'ink';
import { useEffect, useMemo, useRef, useState } from 'react';
import { explainRow } from './explain.js';
import {
  type Effect,
  handleKey,
  initialUiState,
  type KeyPress,
  type ProcRow,
  processRows,
  type UiState,
  visibleRows,
  type WatchFrame,
} from './model.js';
import { buildScreen, type Line, type ScreenSize } from './screen.js';
import type { FrameSource } from './source.js';

export interface WatchAppProps {
  readonly source: FrameSource;
  /** False under NO_COLOR or on a monochrome terminal: no colours, the same information. */
  readonly color: boolean;
  /** Kills the row's processes after the person said yes; resolves with one line saying what happened. */
  readonly kill?: (row: ProcRow) => Promise<string>;
  /** The advisor's explanation of a pid, when one is configured; shown when it arrives. */
  readonly explain?: (pid: number) => Promise<string>;
  /** A fixed size (tests); by default the terminal's, following resizes. */
  readonly size?: ScreenSize;
  readonly initialState?: UiState;
}

/** Bold, dim and reverse video always; colours only when asked (NO_COLOR). 16 colours suffice. */
const STYLES = new Chalk({ level: 1 });

/**
 * A line as one string with its styles as ANSI escapes: one ink Text per line (nested Text elements per
 * segment cost React and ink several times the CPU and garbage for the same screen).
 */
export function lineAnsi(line: Line, color: boolean): string {
  const c = STYLES;
  let out = '';
  for (const seg of line) {
    let paint: ChalkInstance = c;
    if (color && seg.color) paint = paint[seg.color as 'red'] ?? paint;
    if (seg.bold) paint = paint.bold;
    if (seg.dim) paint = paint.dim;
    if (seg.inverse) paint = paint.inverse;
    out += paint === c ? seg.text : paint(seg.text);
  }
  return out === '' ? ' ' : out;
}

/** The terminal's size; ink-testing-library's stream has no rows. */
function terminalSize(stdout: NodeJS.WriteStream): ScreenSize {
  return { columns: stdout.columns || 100, rows: stdout.rows || 40 };
}

/** `vigil watch`: paints the screen the view-model lays out, and turns keys into state and effects. */
export function WatchApp(props: WatchAppProps) {
  const { source, color, kill, explain } = props;
  const { exit } = useApp();
  const { stdout } = useStdout();
  const [frame, setFrame] = useState<WatchFrame | null>(null);
  const [ui, setUi] = useState<UiState>(props.initialState ?? initialUiState());
  const uiRef = useRef(ui);
  const frameRef = useRef<WatchFrame | null>(null);
  const scrollRef = useRef(0);
  const [size, setSize] = useState<ScreenSize>(() => props.size ?? terminalSize(stdout));

  useEffect(() => {
    if (props.size) {
      setSize(props.size);
      return;
    }
    const onResize = () => setSize(terminalSize(stdout));
    stdout.on('resize', onResize);
    return () => {
      stdout.off('resize', onResize);
    };
  }, [stdout, props.size]);

  useEffect(() => {
    source.start((f) => {
      frameRef.current = f;
      setFrame(f);
    });
    return () => source.stop();
  }, [source]);

  const allRows = useMemo(() => (frame ? processRows(frame) : []), [frame]);
  const rows = useMemo(
    () => visibleRows(allRows, { sort: ui.sort, reverse: ui.reverse, filter: ui.filter, mode: ui.mode }),
    [allRows, ui.sort, ui.reverse, ui.filter, ui.mode],
  );
  const screen = buildScreen(frame, ui, rows, size, scrollRef.current, allRows.length);
  scrollRef.current = screen.scroll;
  const rowsRef = useRef(rows);
  rowsRef.current = rows;
  const pageRef = useRef(screen.page);
  pageRef.current = screen.page;

  const update = (next: UiState) => {
    // At once, not in an effect: no sample is taken (nor shown) after the key that paused.
    if (next.paused !== uiRef.current.paused) source.setPaused(next.paused);
    uiRef.current = next;
    setUi(next);
  };

  const run = (effect: Effect) => {
    if (effect.type === 'quit') {
      exit();
      return;
    }
    if (effect.type === 'travel') {
      const say = (message: string | null) => {
        if (message !== null) update({ ...uiRef.current, message });
      };
      if (!source.travel) say('there is no history to travel through here');
      else
        source
          .travel(effect.step)
          .then(say, (error: unknown) =>
            say(`cannot read the history: ${error instanceof Error ? error.message : String(error)}`),
          );
      return;
    }
    if (effect.type === 'kill') {
      const done = (result: string) => {
        const current = uiRef.current;
        if (current.dialog?.type === 'kill' && current.dialog.row.key === effect.row.key)
          update({ ...current, dialog: { ...current.dialog, stage: 'done', result } });
        else update({ ...current, message: result });
      };
      if (!kill) done('refused: killing is not available here');
      else
        kill(effect.row).then(done, (error: unknown) =>
          done(`failed: ${error instanceof Error ? error.message : String(error)}`),
        );
      return;
    }
    const current = frameRef.current;
    if (!current) return;
    const pid = effect.row.pid;
    // In the past the advisor is not asked: it explains the pid running now, maybe another process.
    const advisor = current.replay ? undefined : explain;
    update({
      ...uiRef.current,
      dialog: {
        type: 'explain',
        pid,
        lines: explainRow(current, effect.row),
        advisor: advisor ? 'waiting' : 'none',
        advice: null,
      },
    });
    if (!advisor) return;
    const settle = (advisor: 'done' | 'failed', advice: string) => {
      const now = uiRef.current;
      if (now.dialog?.type === 'explain' && now.dialog.pid === pid)
        update({ ...now, dialog: { ...now.dialog, advisor, advice } });
    };
    advisor(pid).then(
      (text) => settle('done', text),
      (error: unknown) => settle('failed', error instanceof Error ? error.message : String(error)),
    );
  };

  useInput((input, key) => {
    const press = (text: string, k: KeyPress) => {
      const alerts = frameRef.current?.alerts.length ?? 0;
      const replay = Boolean(frameRef.current?.replay);
      const { state, effect } = handleKey(
        uiRef.current,
        text,
        k,
        rowsRef.current,
        pageRef.current,
        alerts,
        replay,
      );
      if (state !== uiRef.current) update(state);
      if (effect) run(effect);
    };
    // Several characters in one read (a paste, or keys typed faster than a frame): one key each, so
    // "mcp" then Enter arriving together still types the filter and then keeps it.
    if (input.length > 1 && !key.ctrl && !key.meta) {
      for (const ch of input) {
        if (ch === '\r' || ch === '\n') press('', { return: true });
        else if (ch === '\x7f' || ch === '\b') press('', { backspace: true });
        else press(ch, {});
      }
    } else press(input, key);
  });

  return (
    <Box flexDirection="column">
      {screen.lines.map((line, i) => (
        // biome-ignore lint/suspicious/noArrayIndexKey: screen lines are positional
        <Text key={i} wrap="truncate">
          {lineAnsi(line, color)}
        </Text>
      ))}
    </Box>
  );
}
