import { basename } from "node:path";
import { databaseFileIntact, databaseFilesChange, type DatabaseFiles } from "./database-files.js";

/**
 * Whether an SQLite error code says the database takes no writes (a full disk, an I/O error, a
 * lock held too long, a file that cannot be opened or read), rather than that this write was wrong
 * (a constraint, a value too big).
 */
export function isUnwritableCode(code: unknown): boolean {
  return typeof code === "string" && /^SQLITE_(FULL|IOERR|READONLY|BUSY|LOCKED|CANTOPEN|CORRUPT|NOTADB|PROTOCOL|PERM|NOMEM)/.test(code);
}

export interface DatabaseHealthOptions {
  /** Where the one line about each change of state goes; default nowhere. */
  log?: (level: "error" | "info", message: string) => void;
  /**
   * Copies what the WAL holds into the database file (a checkpoint on a connection of this thread).
   * Called once when the WAL is found deleted while the database file is intact.
   */
  checkpoint?: () => void;
}

/** What the health watch needs of the writer: a real write, whether its thread is up, a rescue copy. */
export interface ProbedWriter {
  probe(): Promise<void>;
  readonly down: string | undefined;
  /** Copies what the open database holds to `target`; resolves with it. */
  rescue?(target: string): Promise<string>;
}

/**
 * Whether the certificate database takes writes right now, from what really happened: the last
 * commit's outcome (a full disk fails commits while a rolled-back no-op write still succeeds), the
 * writer thread being up, and the database files being the ones opened. A deleted or replaced file
 * is final: what would be written from then on is lost at the next start, so the service refuses
 * writes until it is restarted. A failed write is not: the next commit or probe that succeeds clears it.
 */
export class DatabaseHealth {
  private lostReason: string | undefined;
  private failure: string | undefined;
  private lastSuccess = Date.now();
  private probing = false;
  private timer: NodeJS.Timeout | undefined;
  private writer: ProbedWriter | undefined;
  private readonly name: string;

  constructor(
    readonly files: DatabaseFiles,
    private readonly options: DatabaseHealthOptions = {},
  ) {
    this.name = basename(files.path);
  }

  /** Why the database files are no longer the live ones; undefined while they are. Final once set. */
  get lost(): string | undefined {
    return this.lostReason;
  }

  /** Compares the files with those opened, now; returns why they are lost, if they are. */
  checkFiles(): string | undefined {
    if (this.lostReason) return this.lostReason;
    const change = databaseFilesChange(this.files);
    if (change) this.markLost(change);
    return this.lostReason;
  }

  markLost(reason: string): void {
    if (this.lostReason) return;
    this.lostReason = reason;
    const consequence = "certificates written now would be lost, so issuance and revocation answer 503 and readiness fails until the service is restarted";
    const rescue = this.writer?.rescue;
    if (!databaseFileIntact(this.files) && rescue) {
      const target = `${this.files.path}.rescued-${new Date().toISOString().replace(/[-:]|\.\d+/g, "")}`;
      rescue.call(this.writer, target).then(
        () =>
          this.options.log?.(
            "error",
            `${reason}: ${consequence}; everything it held is copied to ${target}: to keep it, stop the service, move that copy to ${this.name} (removing ${this.name}-wal and ${this.name}-shm beside it) and start again`,
          ),
        (error: Error) => this.options.log?.("error", `${reason}: ${consequence}; copying what it held to ${target} failed too (${error.message})`),
      );
      return;
    }
    let rescued = "";
    if (databaseFileIntact(this.files) && this.options.checkpoint) {
      try {
        this.options.checkpoint();
        rescued = `; what was committed before is copied into ${this.name}`;
      } catch (error) {
        rescued = `; copying the WAL into ${this.name} failed (${(error as Error).message})`;
      }
    }
    this.options.log?.("error", `${reason}${rescued}: ${consequence}`);
  }

  /** A write reached the disk: clears a failure seen before. */
  succeeded(): void {
    this.lastSuccess = Date.now();
    if (this.failure === undefined) return;
    this.failure = undefined;
    this.options.log?.("info", `${this.name} takes writes again: issuance and readiness are back`);
  }

  /** A write failed (a full disk, an I/O error, a lock held too long): not ready until one succeeds. */
  failed(message: string): void {
    if (this.failure === undefined) {
      this.options.log?.("error", `a write to ${this.name} failed (${message}): issuance answers 503 and readiness fails until a write succeeds`);
    }
    this.failure = message;
  }

  /** Why writes cannot be trusted now, or undefined when they can. */
  problem(): string | undefined {
    const lost = this.checkFiles();
    if (lost) {
      return databaseFileIntact(this.files)
        ? `${lost}; restart the service`
        : `${lost}; restart the service, after putting back the copy of what it held that the log names`;
    }
    const down = this.writer?.down;
    if (down) return `the database writer thread is down (${down})`;
    if (this.failure) return `the last write failed (${this.failure}); checking again every second`;
    return undefined;
  }

  /** The writer whose thread being down counts as taking no writes. */
  attach(writer: ProbedWriter): void {
    this.writer = writer;
  }

  /**
   * Every `intervalMs` (default 1 s): compares the files with those opened, and writes a probe
   * through `writer` while the last write failed (to see the disk take writes again) or when nothing
   * was written for `idleProbeMs` (default 5 s; to see a disk fill up while no one asks for
   * certificates).
   */
  watch(writer: ProbedWriter, intervalMs = 1000, idleProbeMs = 5000): void {
    this.attach(writer);
    clearInterval(this.timer);
    this.timer = setInterval(() => {
      if (this.checkFiles() || this.probing || writer.down) return;
      if (this.failure === undefined && Date.now() - this.lastSuccess < idleProbeMs) return;
      this.probing = true;
      writer
        .probe()
        .catch(() => {
          // The writer reported the outcome to this health already.
        })
        .finally(() => (this.probing = false));
    }, intervalMs);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
  }
}
