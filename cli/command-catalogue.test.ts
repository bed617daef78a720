import { describe, expect, it } from '@jest/globals';
import { Help } from 'commander';
import { COMMAND_GROUPS, invokedGroup } from './command-catalogue.js';
import { buildProgram } from './main.js';

const VALUE_FLAGS = new Set(['--config', '--home', '--keys']);
const nameOf = (argv: string[]) => invokedGroup(argv, VALUE_FLAGS)?.name;

describe('the command catalogue', () => {
  it("lists every group as the group's own module defines it", async () => {
    const program = await buildProgram({}, 'all');
    const help = new Help();
    const groups = program.commands.map((c) => ({
      name: c.name(),
      term: help.subcommandTerm(c),
      summary: c.description(),
    }));
    expect(COMMAND_GROUPS.map(({ name, term, summary }) => ({ name, term, summary }))).toEqual(groups);
  });

  it('finds the invoked group past options and their values', () => {
    expect(nameOf(['cohort', 'join'])).toBe('cohort');
    expect(nameOf(['--json', '--keys', 'train', 'head', 'init'])).toBe('head');
    expect(nameOf(['--keys=train', 'status', '--cohort', 'x'])).toBe('status');
    expect(nameOf(['--config', 'cohort', '--home', 'demo', 'keys', 'new'])).toBe('keys');
    expect(nameOf(['help', 'train'])).toBe('train');
    expect(nameOf(['--json', 'help', '--home', 'x', 'devnet'])).toBe('devnet');
  });

  it('finds no group where none is named', () => {
    expect(nameOf([])).toBeUndefined();
    expect(nameOf(['--help'])).toBeUndefined();
    expect(nameOf(['cohrt', 'join'])).toBeUndefined();
    expect(nameOf(['help'])).toBeUndefined();
    expect(nameOf(['--', 'train'])).toBeUndefined();
  });

  it('builds only the invoked group, and lists the others by name', async () => {
    const program = await buildProgram({}, ['config', 'show']);
    const loaded = program.commands.filter((c) => c.commands.length > 0).map((c) => c.name());
    expect(loaded).toEqual(['config']);
    expect(program.commands.map((c) => c.name())).toEqual(COMMAND_GROUPS.map((g) => g.name));
  });
});
