import { DmlError } from '../errors.js';
import {
  HYDRA_SERVER_OUTPUT_TAGS,
  HydraClientInputSchema,
  HydraServerOutputSchema,
  type HydraClientInput,
  type HydraServerOutput,
} from './messages.js';

/**
 * What came over the wire from a hydra-node, decoded. Nothing here throws: a message that is
 * not JSON, or carries a tag this version does not know, or a known tag with a shape that does
 * not match, is kept raw with the reason, so that a client logs it and carries on.
 */
export type DecodedHydraMessage =
  | { readonly kind: 'output'; readonly output: HydraServerOutput }
  | { readonly kind: 'unknown-tag'; readonly tag: string; readonly raw: unknown }
  | {
      readonly kind: 'invalid';
      readonly tag: string | undefined;
      readonly raw: unknown;
      readonly problem: string;
    }
  | { readonly kind: 'malformed'; readonly text: string; readonly problem: string };

const tagOf = (value: unknown): string | undefined =>
  typeof value === 'object' && value !== null && typeof (value as { tag?: unknown }).tag === 'string'
    ? (value as { tag: string }).tag
    : undefined;

export const decodeHydraServerValue = (raw: unknown): DecodedHydraMessage => {
  const tag = tagOf(raw);
  if (tag !== undefined && !HYDRA_SERVER_OUTPUT_TAGS.includes(tag)) return { kind: 'unknown-tag', tag, raw };
  const parsed = HydraServerOutputSchema.safeParse(raw);
  if (parsed.success) return { kind: 'output', output: parsed.data };
  return { kind: 'invalid', tag, raw, problem: parsed.error.issues.map(describeIssue).join('; ') };
};

export const decodeHydraServerMessage = (text: string): DecodedHydraMessage => {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    return { kind: 'malformed', text, problem: (error as Error).message };
  }
  return decodeHydraServerValue(raw);
};

const describeIssue = (issue: { path: PropertyKey[]; message: string }): string =>
  `${issue.path.map(String).join('.') || '(root)'}: ${issue.message}`;

/** Encodes a client input for the WebSocket, checking its shape first. */
export const encodeHydraClientInput = (input: HydraClientInput): string => {
  const parsed = HydraClientInputSchema.safeParse(input);
  if (!parsed.success) {
    throw new DmlError(
      'HYDRA_BAD_INPUT',
      `not a valid Hydra client input: ${parsed.error.issues.map(describeIssue).join('; ')}`,
    );
  }
  return JSON.stringify(parsed.data);
};

export type DecodedHydraClientInput =
  { readonly ok: true; readonly input: HydraClientInput } | { readonly ok: false; readonly reason: string };

/** Decodes what a client sent to a node (the embedded head's side of the socket). */
export const decodeHydraClientInput = (text: string): DecodedHydraClientInput => {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    return { ok: false, reason: `Error in $: ${(error as Error).message}` };
  }
  const parsed = HydraClientInputSchema.safeParse(raw);
  if (parsed.success) return { ok: true, input: parsed.data };
  return { ok: false, reason: parsed.error.issues.map(describeIssue).join('; ') };
};
