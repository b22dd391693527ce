/**
 * A start-up failure the user can fix (port taken, data directory, Java missing...): printed as one line that
 * says what to do, without a stack.
 */
export class StartupError extends Error {
  override name = 'StartupError';
}
