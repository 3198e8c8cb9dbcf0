import type { FastifyBaseLogger } from "fastify";
import type { ThreadEvent } from "../../threads/supervised-thread.js";

/**
 * The service's log as the parts built before the app see it: lines written before the app's
 * logger exists are dropped, as they were before the split (the start's own notes are kept and
 * logged once it exists).
 */
export class ServiceLog {
  private logger: FastifyBaseLogger | undefined;

  attach(logger: FastifyBaseLogger): void {
    this.logger = logger;
  }

  write(level: "error" | "warn" | "info", message: string, error?: unknown): void {
    if (error === undefined) this.logger?.[level](message);
    else this.logger?.[level]({ err: error }, message);
  }

  thread(event: ThreadEvent): void {
    this.logger?.[event.level]({ err: event.error }, event.message);
  }
}
