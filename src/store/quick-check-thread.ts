// Runs PRAGMA quick_check on its own connection, off the thread that starts the service, so the
// start can wait for it a bounded time and go on without it on a large database.
import { lowerThreadPriority } from "../threads/priority.js";
import { serveApi } from "../threads/rpc.js";
import { runQuickCheck } from "./quick-check-run.js";

// On a large database it runs on after the start, beside the service: it must not slow what serves.
lowerThreadPriority(19);

const quickCheckApi = { runQuickCheck };

/** What the quick_check thread does, called through startQuickCheck. */
export type QuickCheckApi = typeof quickCheckApi;

serveApi(quickCheckApi);
