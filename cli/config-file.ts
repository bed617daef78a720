import { readFile } from 'node:fs/promises';
import { DmlError } from '../offchain/index.js';
import { SETTINGS } from './settings.js';

/**
 * Reads the config file: the path given by --config (which must exist), else ./dml.config.json
 * when present. It is a JSON object whose keys are setting keys (see `dml config show`).
 */
export const readConfigFile = async (explicitPath: string | undefined): Promise<Record<string, unknown>> => {
  const path = explicitPath ?? 'dml.config.json';
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    if (explicitPath !== undefined) throw new DmlError('CONFIG', `config file ${path} cannot be read`);
    return {};
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new DmlError('CONFIG', `config file ${path} is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new DmlError('CONFIG', `config file ${path} must hold a JSON object`);
  }
  const known = new Set(SETTINGS.map((s) => s.key));
  for (const key of Object.keys(parsed)) {
    if (!known.has(key)) {
      throw new DmlError('CONFIG', `config file ${path} has an unknown setting "${key}"`, {
        hint: `known settings: ${[...known].join(', ')}`,
      });
    }
  }
  return parsed as Record<string, unknown>;
};
