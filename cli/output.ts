/**
 * What a command prints. Human output goes to stdout; with --json, one JSON document goes to
 * stdout instead and nothing else does. Progress is a live line on stderr, shown only on a TTY
 * and never with --json.
 */
export interface Output {
  readonly json: boolean;
  /** The result of the command: a line of text for people, the value itself with --json. */
  result(human: string, value: unknown): void;
  /** An informative line for people (stderr, so stdout stays the result). Silent with --json. */
  info(line: string): void;
  progress(): Progress;
}

export interface Progress {
  /** Replaces the live line, e.g. "round 3/10  party 2  loss 0.412", with an optional fraction done. */
  update(text: string, fraction?: number): void;
  /** Ends the live line, leaving `text` as a plain line. */
  done(text?: string): void;
}

const BAR_WIDTH = 24;

export const renderProgressLine = (text: string, fraction?: number): string => {
  if (fraction === undefined || !Number.isFinite(fraction)) return text;
  const clamped = Math.min(1, Math.max(0, fraction));
  const filled = Math.round(clamped * BAR_WIDTH);
  return `[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ${String(Math.round(clamped * 100)).padStart(3)}%  ${text}`;
};

export const createOutput = (options: {
  json: boolean;
  stdout?: NodeJS.WritableStream & { isTTY?: boolean };
  stderr?: NodeJS.WritableStream & { isTTY?: boolean };
}): Output => {
  const stdout = options.stdout ?? process.stdout;
  const stderr = options.stderr ?? process.stderr;
  const live = !options.json && stderr.isTTY === true;
  return {
    json: options.json,
    result(human, value) {
      stdout.write(
        options.json ? JSON.stringify(value, null, 2) + '\n' : human.endsWith('\n') ? human : human + '\n',
      );
    },
    info(line) {
      if (!options.json) stderr.write(line + '\n');
    },
    progress() {
      let shown = false;
      return {
        update(text, fraction) {
          if (!live) return;
          stderr.write('\r\x1b[2K' + renderProgressLine(text, fraction));
          shown = true;
        },
        done(text) {
          if (live && shown) stderr.write('\r\x1b[2K');
          if (text !== undefined && !options.json) stderr.write(text + '\n');
        },
      };
    },
  };
};
