import { spawn } from 'node:child_process';

/** What a child process left: its exit code (null when a signal ended it) and its output. */
export interface BoundedRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs a command to its end, collecting stdout and stderr, and fails (after killing it) if it
 * has not ended within `boundMs`, naming the command and showing what it printed: a test never
 * relies on jest's timeout to end a hang. `closeStdout` closes the reading end of stdout at once
 * (a reader that went away, as after `| head -1`).
 */
export const runBounded = (
  command: string,
  args: readonly string[],
  options: {
    readonly boundMs: number;
    readonly cwd?: string;
    readonly env?: NodeJS.ProcessEnv;
    readonly closeStdout?: boolean;
  },
): Promise<BoundedRun> =>
  new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    if (options.closeStdout) child.stdout.destroy();
    else child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(
          `${[command, ...args].join(' ')} did not end within ${options.boundMs / 1000} s; stdout: ${stdout}; stderr: ${stderr}`,
        ),
      );
    }, options.boundMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
