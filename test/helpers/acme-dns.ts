// A tiny authoritative DNS server for the ACME tests: UDP on 127.0.0.1, a random port, answering
// A, AAAA and TXT from a map the test can change. Point `dnsResolver` (or --acme-dns-resolver) at
// `server.address` and any name resolves to where the test says, loopback included.
import { createSocket } from "node:dgram";
import { once } from "node:events";
import dnsPacket from "dns-packet";

/** What one name answers. A name not in the map is NXDOMAIN; a type not listed is NODATA. */
export interface DnsEntry {
  A?: string[];
  AAAA?: string[];
  /** Each record's value; a string over 255 octets is split into several, as RFC 1035 requires. */
  TXT?: string[];
  /** Answer with this error instead of records. */
  rcode?: "SERVFAIL" | "REFUSED";
  /** Drop queries for the name: the resolver times out. */
  silent?: boolean;
  /** Answer this many milliseconds late. */
  delayMs?: number;
}

const rcodeValues = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3, REFUSED: 5 } as const;

export interface TestDnsServer {
  /** HOST:PORT, as `dnsResolver` takes it. */
  address: string;
  /** The zone by lower-case name without the final dot; change it between queries as needed. */
  zone: Map<string, DnsEntry>;
  /** Questions received, as `TYPE name`, in order. */
  queries: string[];
  close(): Promise<void>;
}

const key = (name: string) => name.toLowerCase().replace(/\.$/, "");

/** Starts the server with `entries` (names in any case); closed by the test's teardown. */
export async function startDnsServer(t: { teardown(fn: () => unknown): void }, entries: Record<string, DnsEntry> = {}): Promise<TestDnsServer> {
  const zone = new Map(Object.entries(entries).map(([name, entry]) => [key(name), entry]));
  const queries: string[] = [];
  const socket = createSocket("udp4");
  socket.on("message", (message, peer) => {
    let query: dnsPacket.DecodedPacket;
    try {
      query = dnsPacket.decode(message);
    } catch {
      return;
    }
    const question = query.questions?.[0];
    if (!question) return;
    queries.push(`${question.type} ${question.name}`);
    const entry = zone.get(key(question.name));
    if (entry?.silent) return;
    const rcode = entry === undefined ? "NXDOMAIN" : (entry.rcode ?? "NOERROR");
    const answers: dnsPacket.Answer[] = [];
    if (entry && rcode === "NOERROR") {
      const base = { name: question.name, ttl: 0, class: "IN" as const };
      if (question.type === "A") for (const data of entry.A ?? []) answers.push({ ...base, type: "A", data });
      if (question.type === "AAAA") for (const data of entry.AAAA ?? []) answers.push({ ...base, type: "AAAA", data });
      if (question.type === "TXT") {
        for (const value of entry.TXT ?? []) {
          const chunks = value.match(/[\s\S]{1,255}/g) ?? [""];
          answers.push({ ...base, type: "TXT", data: chunks });
        }
      }
    }
    const response = dnsPacket.encode({
      type: "response",
      id: query.id ?? 0,
      flags: dnsPacket.AUTHORITATIVE_ANSWER | ((query.flags ?? 0) & dnsPacket.RECURSION_DESIRED) | rcodeValues[rcode],
      questions: [question],
      answers,
    });
    setTimeout(() => socket.send(response, peer.port, peer.address), entry?.delayMs ?? 0);
  });
  socket.bind(0, "127.0.0.1");
  await once(socket, "listening");
  const server: TestDnsServer = {
    address: `127.0.0.1:${socket.address().port}`,
    zone,
    queries,
    close: async () => {},
  };
  let closing: Promise<void> | undefined;
  server.close = () => (closing ??= new Promise<void>((resolve) => socket.close(() => resolve())));
  t.teardown(() => server.close());
  return server;
}
