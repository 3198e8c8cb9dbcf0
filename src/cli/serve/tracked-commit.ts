import type { Metrics } from "../../api/metrics.js";
import type { IssuedCertificate } from "../../model/issued-certificate.js";
import { type BatchWriter, GroupCommitRecorder } from "../../store/group-commit.js";
import type { ShutdownStack } from "./shutdown-stack.js";

/**
 * Group commit over `writer`, whose inserts the stop waits for: a request whose client went away
 * may still be committing at the stop, and it settles (or fails) before the writer stops, so no
 * transaction is cut short.
 */
export function trackedGroupCommit(writer: BatchWriter, metrics: Metrics, stack: ShutdownStack): (record: IssuedCertificate) => Promise<void> {
  const groupCommit = new GroupCommitRecorder(writer, { onCommit: (ms, rows) => metrics.databaseCommitted(ms, rows) });
  const inserting = new Set<Promise<void>>();
  stack.defer(() => Promise.allSettled([...inserting]));
  return (record) => {
    const committed = groupCommit.insert(record);
    inserting.add(committed);
    const settled = () => inserting.delete(committed);
    committed.then(settled, settled);
    return committed;
  };
}

