// Runs PRAGMA quick_check on its own connection, off the thread that starts the service, so the
// start can wait for it a bounded time and go on without it on a large database.
import { parentPort, workerData } from "node:worker_threads";
import { lowerThreadPriority } from "../threads/priority.js";
import { runQuickCheck } from "./quick-check.js";

const { path, maxErrors } = workerData as { path: string; maxErrors: number };
// On a large database it runs on after the start, beside the service: it must not slow what serves.
lowerThreadPriority(19);
parentPort!.postMessage(runQuickCheck(path, maxErrors));
