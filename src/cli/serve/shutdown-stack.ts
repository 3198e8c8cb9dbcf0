/**
 * What a start has built, to be taken down in the reverse order: each part is stopped before the
 * parts it was built on (the app before the threads that serve it, the writer before the lock).
 * A start that fails half-way unwinds what it had built, so no thread keeps the process alive.
 */
export class ShutdownStack {
  private readonly steps: Array<() => unknown> = [];

  defer(step: () => unknown): void {
    this.steps.push(step);
  }

  /** Runs every step, newest first; one that fails does not keep the older ones from running. */
  async unwind(): Promise<unknown[]> {
    const failures: unknown[] = [];
    for (let step = this.steps.pop(); step; step = this.steps.pop()) {
      try {
        await step();
      } catch (error) {
        failures.push(error);
      }
    }
    return failures;
  }
}
