#!/usr/bin/env node
// The `dml` command line. Runs the TypeScript sources directly through tsx (no build step).
//
// Before anything else it makes sure that glibc's allocator keeps the memory of large buffers
// between uses (design_docs/storage.md, "What encryption costs an upload"): in some process
// states an encrypted 64 MiB put otherwise faults ~14,000 fresh pages in (~150 with them). glibc
// reads GLIBC_TUNABLES only when a process starts, so when the setting is missing `dml` starts
// itself once more with it (DML_MALLOC_TUNED marks the second process: no loop) and passes on
// stdin/stdout/stderr (inherited), the signals it receives and the child's exit code or signal.
// A GLIBC_TUNABLES the user set is kept and only extended with the settings it does not name.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** The allocator settings a party's node runs with (glibc reads them at start only); the same as
 * offchain/storage/malloc-tunables.ts (this file runs before TypeScript can be loaded). */
const DML_MALLOC_TUNABLES = [
  ['glibc.malloc.mmap_threshold', '33554432'],
  ['glibc.malloc.trim_threshold', '268435456'],
];
const MARKER = 'DML_MALLOC_TUNED';
const FORWARDED = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR2'];

/** `current` (a GLIBC_TUNABLES value, maybe empty) with every setting of ours it does not name. */
const withDmlMallocTunables = (current = '') => {
  const entries = current.split(':').filter((entry) => entry.length > 0);
  const named = new Set(entries.map((entry) => entry.split('=')[0]));
  const added = DML_MALLOC_TUNABLES.filter(([name]) => !named.has(name)).map(([n, v]) => `${n}=${v}`);
  return [...entries, ...added].join(':');
};

/** The absolute path of `command` on PATH, if any. */
const onPath = (command) =>
  (process.env.PATH ?? '')
    .split(delimiter)
    .filter((dir) => dir.startsWith('/'))
    .map((dir) => join(dir, command))
    .find((file) => existsSync(file));

/**
 * Runs this command again in a child with the allocator settings; this process then ends as the
 * child ends (same exit code, or killed by the same signal). With `setpriv` (util-linux) the child gets SIGKILL if this process
 * dies without passing a signal on (e.g. SIGKILL), so no orphan keeps running.
 */
const relaunch = (tunables) => {
  const args = [...process.execArgv, ...process.argv.slice(1)];
  const setpriv = onPath('setpriv');
  const [command, argv] = setpriv
    ? [setpriv, ['--pdeathsig', 'SIGKILL', '--', process.execPath, ...args]]
    : [process.execPath, args];
  const child = spawn(command, argv, {
    stdio: 'inherit',
    env: { ...process.env, GLIBC_TUNABLES: tunables, [MARKER]: '1' },
  });
  const forward = (signal) => () => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  };
  const handlers = FORWARDED.map((signal) => [signal, forward(signal)]);
  for (const [signal, handler] of handlers) process.on(signal, handler);
  child.once('error', (error) => {
    process.stderr.write(`dml: could not start ${command}: ${error.message}\n`);
    process.exitCode = 1;
  });
  child.once('exit', (code, signal) => {
    for (const [name, handler] of handlers) process.off(name, handler);
    if (signal) process.kill(process.pid, signal);
    else process.exitCode = code ?? 1;
  });
};

// The AWS SDK (pinned in package.json, supports Node 20) warns on every start under Node < 22
// that *later* SDK releases will need Node 22: eight lines on stderr a `dml` user cannot act on.
// Off unless the user set the SDK's own switch (design_docs/storage.md, "Limits").
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const wanted = withDmlMallocTunables(process.env.GLIBC_TUNABLES);
const needsRelaunch =
  process.platform === 'linux' &&
  process.env[MARKER] === undefined &&
  wanted !== (process.env.GLIBC_TUNABLES ?? '') &&
  // a debugger would listen twice on one port
  !process.execArgv.some((arg) => arg.startsWith('--inspect'));

if (needsRelaunch) relaunch(wanted);
else {
  const { register } = await import('tsx/esm/api');
  register();
  const { main } = await import('../cli/index.ts');
  process.exitCode = await main(process.argv.slice(2));
}
