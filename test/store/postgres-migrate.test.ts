// The PostgreSQL schema migrations, against a real throwaway cluster.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import t from "tap";
import { migratePostgres, postgresSchemaVersion, SchemaTooNewError } from "../../src/store/postgres/migrate.js";
import { postgresSkip, startPostgres } from "../helpers/postgres.js";

async function connect(t: { teardown(fn: () => unknown): void }, url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  t.teardown(() => client.end());
  return client;
}

t.test("PostgreSQL migrations", { skip: postgresSkip }, async (t) => {
  const cluster = await startPostgres(t);

  t.test("replicas starting together migrate once; a second start finds nothing to do", async (t) => {
    const url = await cluster.createDatabase();
    const clients = await Promise.all([1, 2, 3, 4].map(() => connect(t, url)));
    const applied = await Promise.all(clients.map((client) => migratePostgres(client)));
    t.same(applied.filter((versions) => versions.length > 0), [[1, 2]], "one replica applied the migrations, the others waited and found them done");
    const { rows } = await clients[0]!.query("SELECT version FROM schema_migrations ORDER BY version");
    t.same(rows, [{ version: 1 }, { version: 2 }]);
    const tables = await clients[0]!.query("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name");
    t.same(
      tables.rows.map((row) => row.table_name),
      [
        "acme_accounts",
        "acme_authorizations",
        "acme_challenges",
        "acme_nonces",
        "acme_orders",
        "certificates",
        "crl_numbers",
        "crls",
        "meta",
        "rate_windows",
        "revocation_state",
        "schema_migrations",
        "seen_nonces",
      ],
    );
    t.same(await migratePostgres(clients[1]!), []);
  });

  t.test("the schema version is read without migrating: 0 on a database never migrated", async (t) => {
    const client = await connect(t, await cluster.createDatabase());
    t.equal(await postgresSchemaVersion(client), 0);
    await client.query("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY)");
    t.equal(await postgresSchemaVersion(client), 0, "an empty schema_migrations");
    await migratePostgres(client);
    t.equal(await postgresSchemaVersion(client), 2);
  });

  t.test("a schema newer than the code is refused with a line that says what to do", async (t) => {
    const client = await connect(t, await cluster.createDatabase());
    await migratePostgres(client);
    await client.query("INSERT INTO schema_migrations (version) VALUES (999)");
    const error = await migratePostgres(client).catch((e: unknown) => e);
    t.ok(error instanceof SchemaTooNewError);
    t.match((error as Error).message, /schema is at version 999, newer than this certwright knows \(2\).*run that release/);
  });

  t.test("a migration that fails leaves nothing of itself and names its file", async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "certwright-migrations-"));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, "001_one.sql"), "CREATE TABLE one (x INTEGER);");
    writeFileSync(join(dir, "002_two.sql"), "CREATE TABLE two (x INTEGER); SELECT no_such_function();");
    const client = await connect(t, await cluster.createDatabase());
    const error = await migratePostgres(client, dir).catch((e: unknown) => e);
    t.match((error as Error).message, /^migration 002_two\.sql failed: function no_such_function\(\) does not exist/);
    const { rows } = await client.query("SELECT version FROM schema_migrations");
    t.same(rows, [{ version: 1 }]);
    const two = await client.query("SELECT to_regclass('two') AS t");
    t.equal(two.rows[0].t, null, "table two was rolled back with its migration");
    t.same(await migratePostgres(client, join(dir)).catch((e: unknown) => (e as Error).message.slice(0, 24)), "migration 002_two.sql fa", "and is tried again next start");
  });
});
