/**
 * Names a slow setup step in the test output while it runs: a hook that hangs until the runner's
 * timeout cancels its tests leaves no other trace of where it stood.
 */
export async function watchStep<T>(name: string, run: () => Promise<T>, everyMs = 30_000): Promise<T> {
  const started = Date.now();
  const timer = setInterval(() => {
    console.log(`still in "${name}" after ${Math.round((Date.now() - started) / 1000)} s`);
  }, everyMs);
  timer.unref();
  try {
    return await run();
  } finally {
    clearInterval(timer);
  }
}
