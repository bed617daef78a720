import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { DmlError, type EventStore } from '../../offchain/index.js';
import type { AuditDirections } from '../audit/index.js';
import { type ProjectionStates, replayProjections } from '../replay.js';
import { type AuditReportData, buildAuditReportData } from './report-data.js';
import { renderAuditReportHtml } from './report-html.js';

/** Where the report comes from: projections already replayed, or a log to replay. */
export type AuditReportSource =
  | {
      readonly states: ProjectionStates;
      readonly cohortId: string;
      /** Events folded for the cohort and the last log position (shown in the report). */
      readonly events?: number;
      readonly lastPosition?: number;
    }
  | { readonly store: EventStore; readonly cohortId: string };

export interface WrittenAuditReport {
  readonly htmlFile: string;
  readonly jsonFile: string;
  readonly data: AuditReportData;
}

/** The report's file names inside the output folder. */
export const AUDIT_REPORT_FILES = { html: 'report.html', json: 'report.json' } as const;

/**
 * Writes `report.html` (self-contained: inline SVG charts of loss and accuracy per round and
 * party, the deposit ledger and the head timeline; no network) and `report.json` (the same data)
 * into `outDir`, creating it. From a store, replays the cohort first; a cohort with no event is a
 * user mistake (`AUDIT_NO_COHORT`).
 */
export const writeAuditReport = async (
  source: AuditReportSource,
  outDir: string,
  options: {
    generatedAt?: Date;
    /** The auditor's direction evidence (`AuditReport.directions`); else the log's records are used. */
    directions?: AuditDirections;
  } = {},
): Promise<WrittenAuditReport> => {
  let states: ProjectionStates;
  let counts: { events: number; lastPosition: number };
  if ('store' in source) {
    const replayed = await replayProjections(source.store, { cohortId: source.cohortId });
    if (replayed.folded === 0)
      throw new DmlError('AUDIT_NO_COHORT', `the log holds no event of cohort ${source.cohortId}`, {
        hint: `${replayed.read} events read; check --cohort`,
      });
    states = replayed.states;
    counts = { events: replayed.folded, lastPosition: replayed.position };
  } else {
    states = source.states;
    counts = {
      events: source.events ?? 0,
      lastPosition: source.lastPosition ?? states.escrowLedger.position,
    };
  }
  const data = buildAuditReportData(states, source.cohortId, counts, options.generatedAt, options.directions);
  const dir = resolve(outDir);
  await mkdir(dir, { recursive: true });
  const htmlFile = join(dir, AUDIT_REPORT_FILES.html);
  const jsonFile = join(dir, AUDIT_REPORT_FILES.json);
  await writeFile(htmlFile, renderAuditReportHtml(data));
  await writeFile(jsonFile, `${JSON.stringify(data, null, 2)}\n`);
  return { htmlFile, jsonFile, data };
};
