// npm run build:contracts: compile every validator and write contracts/plutus.json (CIP-57).
import { writeFileSync } from 'node:fs';
import { buildBlueprint } from './blueprint.js';
import { BLUEPRINT_URL, serializeBlueprint } from './blueprint-file.js';

const started = Date.now();
const blueprint = buildBlueprint();
writeFileSync(BLUEPRINT_URL, serializeBlueprint(blueprint));
for (const v of blueprint.validators) {
  console.log(`${v.title.padEnd(22)} ${String(v.compiledCode.length / 2).padStart(6)} bytes  ${v.hash}`);
}
console.log(`wrote ${BLUEPRINT_URL.pathname} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
