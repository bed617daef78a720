/**
 * Waits for `promise`, or fails after `boundMs` naming what it waited for (and what `detail()`
 * says then, e.g. a child's output), after calling `onTimeout` (e.g. to kill the child): a test's
 * wait never relies on jest's timeout to end a hang.
 */
export const withinBound = <T>(
  promise: Promise<T>,
  boundMs: number,
  what: string,
  options: { readonly detail?: () => string; readonly onTimeout?: () => void } = {},
): Promise<T> => {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      options.onTimeout?.();
      const detail = options.detail?.();
      reject(new Error(`${what} did not happen within ${boundMs / 1000} s${detail ? `; ${detail}` : ''}`));
    }, boundMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
};
