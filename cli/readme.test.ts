import { describe, expect, it } from '@jest/globals';
import { readFile } from 'node:fs/promises';
import { SETTINGS } from './settings.js';

describe('README.md', () => {
  it('documents every configuration variable', async () => {
    const readme = await readFile('README.md', 'utf8');
    const missing = SETTINGS.filter(
      (s) => !readme.includes(`\`${s.env}\``) || !readme.includes(`\`${s.key}\``),
    );
    expect(missing.map((s) => s.env)).toEqual([]);
  });

  it('starts with the two quick-start commands', async () => {
    const readme = await readFile('README.md', 'utf8');
    expect(readme).toContain('npm ci && npm start');
    expect(readme).toMatch(/^npm test\b/m);
  });
});
