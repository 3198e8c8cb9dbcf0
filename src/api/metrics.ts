import type { FastifyInstance } from "fastify";
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import { z } from "zod";
import { access } from "./openapi.js";
import { errorAnswers } from "./routes/common.js";

const day = 24 * 60 * 60 * 1000;

/** The windows of `certwright_certificates_expiring`, as its `within` label names them. */
const expiryWindows: readonly (readonly [string, number])[] = [
  ["7d", 7 * day],
  ["30d", 30 * day],
];

export interface MetricsOptions {
  /** Where the metrics live; default a new Registry, so apps built in one process never share counters. */
  registry?: Registry;
  /** prom-client's process metrics (CPU, memory, event loop lag, GC, handles); default true. */
  defaultMetrics?: boolean;
}

/** What the gauges read at scrape time. */
export interface MetricsSources {
  ca: { label: string; notAfter: Date };
  /** How many good certificates expire within `withinMs` from now; absent: no expiring gauge. */
  countExpiring?: ((withinMs: number) => number | Promise<number>) | undefined;
}

/**
 * The service's Prometheus metrics, served at `GET /metrics`.
 *
 * The service is one process: worker threads only do CPU work (checking CSRs, signing, making keys,
 * the database writer's commits) and every request, issuance and commit is counted on the main
 * thread, so this one registry sees everything and nothing needs aggregating across processes
 * (prom-client's AggregatorRegistry is for the cluster module, which the service does not use).
 * Several replicas behind a load balancer are scraped one by one, as Prometheus expects.
 *
 * Label values are bounded: routes are the route patterns (`/ocsp/*`, never the raw URL; requests
 * no route matched are `unmatched`), profiles and CA labels come from the config, codes from the
 * closed error table.
 */
export class Metrics {
  readonly registry: Registry;
  private readonly requests: Counter<"route" | "method" | "status">;
  private readonly requestDuration: Histogram<"route" | "method">;
  private readonly issued: Counter<"profile" | "ca_label">;
  private readonly refusals: Counter<"code">;
  private readonly acmeOrders: Counter<"provisioner" | "outcome">;
  private readonly acmeProblems: Counter<"type">;
  private readonly commitDuration: Histogram;
  private readonly commitRows: Histogram;
  private sources: MetricsSources | undefined;

  constructor(options: MetricsOptions = {}) {
    this.registry = options.registry ?? new Registry();
    const registers = [this.registry];
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
    this.requests = new Counter({
      name: "certwright_http_requests_total",
      help: "HTTP requests answered, by route pattern (unmatched: no route), method and status",
      labelNames: ["route", "method", "status"],
      registers,
    });
    this.requestDuration = new Histogram({
      name: "certwright_http_request_duration_seconds",
      help: "Time from receiving a request to sending its answer, by route pattern and method",
      labelNames: ["route", "method"],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.issued = new Counter({
      name: "certwright_certificates_issued_total",
      help: "Certificates issued (recorded in the database and handed out), by profile and CA label",
      labelNames: ["profile", "ca_label"],
      registers,
    });
    this.refusals = new Counter({
      name: "certwright_refusals_total",
      help: "Requests answered with an error envelope, by error code (the Errors table of docs/errors.md: 4xx refusals and 5xx failures)",
      labelNames: ["code"],
      registers,
    });
    this.acmeOrders = new Counter({
      name: "certwright_acme_orders_total",
      help: "ACME orders by provisioner: created (newOrder accepted) and issued (finalized with a certificate)",
      labelNames: ["provisioner", "outcome"],
      registers,
    });
    this.acmeProblems = new Counter({
      name: "certwright_acme_failures_total",
      help: "ACME failures by problem type (RFC 8555 6.7): every problem document answered, and every challenge that failed validation",
      labelNames: ["type"],
      registers,
    });
    this.commitDuration = new Histogram({
      name: "certwright_db_commit_duration_seconds",
      help: "Time of one group commit of issued certificates (one transaction, fsync included)",
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.commitRows = new Histogram({
      name: "certwright_db_commit_rows",
      help: "Certificates recorded by one group commit",
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512],
      registers,
    });
    const caExpiry: Gauge<"ca_label"> = new Gauge({
      name: "certwright_ca_expiry_timestamp_seconds",
      help: "The signing CA certificate's NotAfter, in seconds since the epoch (alert on it minus time() below 30 days)",
      labelNames: ["ca_label"],
      registers,
      collect: () => {
        const ca = this.sources?.ca;
        if (ca) caExpiry.set({ ca_label: ca.label }, ca.notAfter.getTime() / 1000);
      },
    });
    const expiring: Gauge<"within"> = new Gauge({
      name: "certwright_certificates_expiring",
      help: "Good (unrevoked) issued certificates that expire within 7 or 30 days, counted in the database at scrape time",
      labelNames: ["within"],
      registers,
      collect: async () => {
        const count = this.sources?.countExpiring;
        if (!count) return;
        try {
          for (const [within, ms] of expiryWindows) expiring.set({ within }, await count(ms));
        } catch {
          // A database that cannot be read leaves the gauge out of this scrape; readiness says why.
          expiring.reset();
        }
      },
    });
  }

  /** Counts a certificate whose row is committed (Authority's onIssued). */
  certificateIssued(record: { profile: string; caLabel: string }): void {
    this.issued.inc({ profile: record.profile, ca_label: record.caLabel });
  }

  /** Counts an ACME order accepted (newOrder) or issued (finalize). */
  acmeOrder(provisioner: string, outcome: "created" | "issued"): void {
    this.acmeOrders.inc({ provisioner, outcome });
  }

  /** Counts an ACME failure by its problem type (a closed table, acme/problems.ts). */
  acmeFailure(type: string): void {
    this.acmeProblems.inc({ type });
  }

  /** Times a group commit (GroupCommitRecorder's onCommit). */
  databaseCommitted(durationMs: number, rows: number): void {
    this.commitDuration.observe(durationMs / 1000);
    this.commitRows.observe(rows);
  }

  /**
   * Counts every answer of `app` and serves `GET /metrics` on it, reading the gauges from `sources`.
   * Call it once, on one app, before its routes are registered.
   */
  instrument(app: FastifyInstance, sources: MetricsSources): void {
    this.sources = sources;
    app.addHook("onResponse", (request, reply, done) => {
      const route = request.is404 ? "unmatched" : (request.routeOptions.url ?? "unmatched");
      const method = request.method;
      this.requests.inc({ route, method, status: String(reply.statusCode) });
      this.requestDuration.observe({ route, method }, reply.elapsedTime / 1000);
      if (request.errorCode !== undefined) this.refusals.inc({ code: String(request.errorCode) });
      done();
    });
    // Prometheus' text format, not the envelope; each metric is described in docs/operations.md.
    const schema = {
      operationId: "getMetrics",
      summary: "Prometheus metrics, in its text format (docs/operations.md lists them)",
      tags: ["operations"],
      security: access.open,
      response: { 200: { description: "The metrics", content: { "text/plain": { schema: z.string() } } }, ...errorAnswers([403]) },
    };
    app.get("/metrics", { schema }, async (_request, reply) => {
      const text = await this.registry.metrics();
      return reply.type(this.registry.contentType).send(text);
    });
  }
}
