import { describe, expect, it } from '@jest/globals';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runBounded } from '../offchain/testing/index.js';

const here = dirname(fileURLToPath(import.meta.url));

/** `npm run bench:peers -- ARGS` up to its option parsing (no set-up, no run: those come after). */
const peers = (args: string[]) =>
  runBounded(process.execPath, ['--import', 'tsx', join(here, 'peers.ts'), ...args], { boundMs: 60_000 });

describe('npm run bench:peers: which round of ours', () => {
  it('lists --ours-round in --help', async () => {
    const { code, stdout } = await peers(['--help']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/--ours-round R +our federated round: system \(default/);
  }, 90_000);

  it('refuses an unknown round and the system round against the in-process driver, in one line', async () => {
    const unknown = await peers(['--ours-round', 'fast']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe('bench:peers: --ours-round is system or lean, got fast\n');
    const inprocess = await peers(['--fed-engine', 'inprocess', '--skip-setup']);
    expect(inprocess.code).toBe(2);
    expect(inprocess.stderr.trim().split('\n')).toHaveLength(1);
    expect(inprocess.stderr).toMatch(/--fed-engine inprocess .*: add --ours-round lean/);
  }, 90_000);
});
