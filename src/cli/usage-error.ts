/** Bad usage (an unknown flag, a missing or malformed value): the command prints it in one line and exits 2. */
export class UsageError extends Error {
  override name = "UsageError";
}
