#!/usr/bin/env node
// The client's side of bench/acme.mjs's http-01 validations, forked by it: an HTTP server that
// serves each token's key authorization at /.well-known/acme-challenge/<token> (as certbot's
// standalone mode does) and a DNS server that answers A 127.0.0.1 for every name under bench.test,
// so each order's name is looked up and fetched as a real one would be. Its own process, so that
// its CPU is neither the server's nor the load generator's, and the load generator's busy event
// loop does not delay the validator's GETs.
//
// IPC with the parent: {id, token, keyAuthorization} → {ack: id} once the token is served;
// {stats: true} → {stats: {...}}. It sends {ready: {httpPort, dnsPort}} once both listen, and
// exits when the parent goes.
import { createSocket } from "node:dgram";
import { once } from "node:events";
import { createServer } from "node:http";
import dnsPacket from "dns-packet";

const zone = ".bench.test";
const tokens = new Map();
const stats = { httpRequests: 0, httpMisses: 0, dnsQueries: 0 };

const http = createServer((request, response) => {
  stats.httpRequests++;
  const match = /^\/\.well-known\/acme-challenge\/([A-Za-z0-9_-]+)$/.exec(request.url ?? "");
  const body = match && tokens.get(match[1]);
  if (!body) {
    stats.httpMisses++;
    response.writeHead(404).end("no such token");
    return;
  }
  // One GET per token is what the validator makes; the token is served once and forgotten.
  tokens.delete(match[1]);
  response.writeHead(200, { "content-type": "application/octet-stream" }).end(body);
});
http.keepAliveTimeout = 1000;

const dns = createSocket("udp4");
dns.on("message", (message, peer) => {
  let query;
  try {
    query = dnsPacket.decode(message);
  } catch {
    return;
  }
  const question = query.questions?.[0];
  if (!question) return;
  stats.dnsQueries++;
  const ours = `.${question.name.toLowerCase().replace(/\.$/, "")}`.endsWith(zone);
  // Ours: A 127.0.0.1, and no AAAA (NOERROR, no answers); anything else is NXDOMAIN (rcode 3).
  const answers = ours && question.type === "A" ? [{ name: question.name, type: "A", class: "IN", ttl: 0, data: "127.0.0.1" }] : [];
  const flags = dnsPacket.AUTHORITATIVE_ANSWER | ((query.flags ?? 0) & dnsPacket.RECURSION_DESIRED) | (ours ? 0 : 3);
  dns.send(dnsPacket.encode({ type: "response", id: query.id ?? 0, flags, questions: [question], answers }), peer.port, peer.address);
});

process.on("message", (message) => {
  if (message.stats) process.send({ stats: { ...stats, tokensWaiting: tokens.size } });
  else if (message.token) {
    tokens.set(message.token, message.keyAuthorization);
    process.send({ ack: message.id });
  }
});
process.on("disconnect", () => process.exit(0));

http.listen(0, "127.0.0.1");
dns.bind(0, "127.0.0.1");
await Promise.all([once(http, "listening"), once(dns, "listening")]);
process.send({ ready: { httpPort: http.address().port, dnsPort: dns.address().port } });
