/** A start-up failure: one line for the operator, no stack. */
export class StartupError extends Error {
  override name = "StartupError";
}
