// The auditor's report: HTML with inline SVG charts, and the same data as JSON.
export * from './report-data.js';
export * from './report-html.js';
export * from './write-audit-report.js';
