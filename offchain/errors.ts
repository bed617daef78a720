/**
 * An error that a user can act on: a bad flag, a missing setting, a wrong passphrase, a command
 * in the wrong state. The command line prints its message as one line (never a stack trace)
 * and exits with a non-zero code.
 */
export class DmlError extends Error {
  readonly code: string;
  readonly hint: string | undefined;

  constructor(code: string, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'DmlError';
    this.code = code;
    this.hint = options.hint;
  }
}

export const isDmlError = (error: unknown): error is DmlError => error instanceof DmlError;
