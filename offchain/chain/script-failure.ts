/**
 * A transaction that a validator rejected, as an `Error` a caller can read: which script (by the
 * name it was registered under, else its hash), for which purpose (spend of an input, mint of a
 * policy), with which redeemer, and the trace the script left before failing.
 *
 * lucid-cardano rejects with plain strings (from `complete()`) and aiken's evaluator throws
 * strings too; `toScriptFailure` turns either into this error.
 */
export interface ScriptFailureDetails {
  readonly scriptName: string | undefined;
  readonly purpose: string | undefined;
  readonly redeemer: string | undefined;
  readonly traces: readonly string[];
  readonly raw: string;
}

export class ScriptFailure extends Error implements ScriptFailureDetails {
  readonly scriptName: string | undefined;
  readonly purpose: string | undefined;
  readonly redeemer: string | undefined;
  readonly traces: readonly string[];
  readonly raw: string;

  constructor(details: ScriptFailureDetails) {
    const where = [details.scriptName ?? 'script', details.purpose].filter(Boolean).join(' ');
    const trace = details.traces.length > 0 ? `: ${details.traces.join(' | ')}` : '';
    super(`${where} failed${trace}${details.redeemer ? ` (redeemer ${details.redeemer})` : ''}`);
    this.name = 'ScriptFailure';
    this.scriptName = details.scriptName;
    this.purpose = details.purpose;
    this.redeemer = details.redeemer;
    this.traces = details.traces;
    this.raw = details.raw;
  }
}

export const isScriptFailure = (error: unknown): error is ScriptFailure => error instanceof ScriptFailure;

/** Script hash (hex) to a readable name, e.g. from the blueprint. */
export type ScriptNames = Readonly<Record<string, string>>;

const messageOf = (error: unknown): string => {
  if (typeof error === 'string') return error;
  if (error instanceof Error) return error.message;
  try {
    return JSON.stringify(error);
  } catch {
    return String(error);
  }
};

/**
 * Parse an evaluator's failure text. Aiken's evaluator reports e.g.
 * `... Spend[0] ... the validator crashed / exited prematurely ... traces: ...`. We keep what can
 * be found and the raw text for the rest.
 */
export const toScriptFailure = (
  error: unknown,
  context: {
    readonly scriptNames?: ScriptNames;
    readonly purposeOf?: (
      tag: string,
      index: number,
    ) => { purpose: string; scriptHash?: string; redeemer?: string };
  } = {},
): ScriptFailure => {
  if (error instanceof ScriptFailure) return error;
  const raw = messageOf(error);
  const tagMatch = /\b(Spend|Mint|Cert|Reward|Withdraw)\s*\[?\s*(?:index\s*:?\s*)?(\d+)\]?/i.exec(raw);
  let purpose: string | undefined;
  let scriptName: string | undefined;
  let redeemer: string | undefined;
  if (tagMatch) {
    // Aiken's evaluator says Withdraw[i] for the ledger's reward redeemer tag.
    const tag = tagMatch[1]!.toLowerCase() === 'withdraw' ? 'reward' : tagMatch[1]!.toLowerCase();
    const index = Number(tagMatch[2]);
    const info = context.purposeOf?.(tag, index);
    purpose = info?.purpose ?? `${tag}[${index}]`;
    redeemer = info?.redeemer;
    if (info?.scriptHash) scriptName = context.scriptNames?.[info.scriptHash] ?? info.scriptHash;
  }
  return new ScriptFailure({ scriptName, purpose, redeemer, traces: tracesOf(raw), raw });
};

/** The trace lines of an evaluator message (plu-ts traces are short words, one per failed check). */
export const tracesOf = (raw: string): string[] => {
  const traces: string[] = [];
  const block = /[Tt]races?\s*:?\s*\[([^\]]*)\]/.exec(raw);
  if (block) {
    for (const part of block[1]!.split(',')) {
      const text = part.trim().replace(/^"|"$/g, '');
      if (text) traces.push(text);
    }
    return traces;
  }
  const lines = /[Tt]races?\s*:?\s*\n?([\s\S]*)$/.exec(raw);
  if (lines) {
    for (const line of lines[1]!.split('\n')) {
      const text = line.trim();
      if (text) traces.push(text);
    }
  }
  return traces;
};
