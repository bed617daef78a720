// The public face of projections/: read models folded from the event log, and the auditor.
export {};
