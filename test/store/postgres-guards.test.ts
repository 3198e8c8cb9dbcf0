// Replay nonces and rate-limit windows on a real PostgreSQL, shared by two replicas' pools.
import pg from "pg";
import t from "tap";
import { PostgresGuards } from "../../src/store/postgres/guards.js";
import { migratePostgres } from "../../src/store/postgres/migrate.js";
import { postgresSkip, startPostgres, twoReplicas } from "../helpers/postgres.js";

t.test("PostgreSQL guards", { skip: postgresSkip }, async (t) => {
  const { pools } = await twoReplicas(t);
  const [a, b] = pools.map((pool) => new PostgresGuards(pool)) as [PostgresGuards, PostgresGuards];
  const now = Date.now();

  t.test("a nonce used at one replica is a replay at the other, per key; expired ones are purged", async (t) => {
    t.equal(await a.rememberNonce("provisioner", "n-1", now + 300_000, now), true);
    t.equal(await b.rememberNonce("provisioner", "n-1", now + 300_000, now), false, "replayed through replica b");
    t.equal(await b.rememberNonce("other-key", "n-1", now + 300_000, now), true, "another key's nonces are its own");
    const racing = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).rememberNonce("provisioner", "n-race", now + 300_000, now)));
    t.equal(racing.filter(Boolean).length, 1, "of twenty tries at once, one is fresh");
    await a.rememberNonce("provisioner", "n-old", now - 1, now);
    const later = new PostgresGuards(pools[1]);
    t.equal(await later.rememberNonce("provisioner", "n-old", now + 300_000, now + 1), true, "an expired nonce was purged and is fresh again");
  });

  t.test("a client's requests count once across replicas; a new window starts from one", async (t) => {
    const counts = await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 ? a : b).countRequest("10.0.0.7", 1_000)));
    t.same([...counts].sort((x, y) => x - y), Array.from({ length: 30 }, (_, i) => i + 1), "every request got its own count");
    t.equal(await a.countRequest("10.0.0.7", 61_000), 1);
    t.equal(await b.countRequest("10.0.0.8", 61_000), 1, "another client counts on its own");
  });
});

t.test("a database that takes no writes counts nothing (0) rather than failing the request; other errors still throw", { skip: postgresSkip }, async (t) => {
  const cluster = await startPostgres(t);
  const pool = new pg.Pool({ connectionString: await cluster.createDatabase(), max: 2, connectionTimeoutMillis: 2_000 });
  t.teardown(() => pool.end());
  // An idle connection the stop cuts is reported here; unheard, it would end the test process.
  pool.on("error", () => {});
  const guards = new PostgresGuards(pool);
  await t.rejects(guards.countRequest("10.0.0.9", 1_000), /rate_windows/, "not migrated: a bug to see, not an outage to ride out");
  const client = await pool.connect();
  await migratePostgres(client);
  client.release();
  t.equal(await guards.countRequest("10.0.0.9", 1_000), 1);
  cluster.stop();
  t.equal(await guards.countRequest("10.0.0.9", 1_000), 0, "unreachable");
});
