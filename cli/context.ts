import type { Output } from './output.js';
import type { ResolvedSetting, Settings } from './settings.js';

/** What every command receives: the resolved settings and where to print. */
export interface CommandContext {
  readonly settings: Settings;
  readonly resolved: readonly ResolvedSetting[];
  readonly output: Output;
}
