import type pg from "pg";
import {
  accountColumns,
  accountFromRow,
  accountInsertColumns,
  accountValues,
  authorizationFromRow,
  authorizationInsertColumns,
  authorizationValues,
  challengeColumns,
  challengeFromRow,
  challengeInsertColumns,
  challengeValues,
  orderColumns,
  orderFromRow,
  orderInsertColumns,
  orderValues,
  type AccountChange,
  type AcmeAccount,
  type AcmeAuthorization,
  type AcmeAuthorizationStatus,
  type AcmeChallenge,
  type AcmeChallengeStatus,
  type AcmeOrder,
  type AcmeOrderStatus,
  type AcmeStore,
  type ChallengeChange,
  type OrderChange,
} from "../acme-records.js";

/** `$from, $from+1, ...` for `count` values. */
function params(from: number, count: number): string {
  return Array.from({ length: count }, (_, i) => `$${from + i}`).join(", ");
}

/** `a = $1, b = $2` for the columns of a change, and their values. */
function assignments(columns: [string, unknown][]): { set: string; values: unknown[] } {
  return { set: columns.map(([name], i) => `${name} = $${i + 1}`).join(", "), values: columns.map(([, value]) => value) };
}

/**
 * The ACME records on PostgreSQL, shared by the replicas: a nonce one replica handed out is taken
 * at any other, and the compare-and-set status changes let one replica win a race on an order.
 */
export class PostgresAcmeStore implements AcmeStore {
  private lastPurge = 0;

  constructor(private readonly pool: pg.Pool) {}

  async issueNonce(nonce: string, expiresAt: number, now: number): Promise<void> {
    // Purging at most once a minute per replica keeps the table to about one nonce lifetime of nonces.
    if (now - this.lastPurge > 60_000) {
      this.lastPurge = now;
      await this.pool.query("DELETE FROM acme_nonces WHERE expires_at < $1", [now]);
    }
    await this.pool.query("INSERT INTO acme_nonces (nonce, expires_at) VALUES ($1, $2)", [nonce, expiresAt]);
  }

  async consumeNonce(nonce: string, now: number): Promise<boolean> {
    const { rowCount } = await this.pool.query("DELETE FROM acme_nonces WHERE nonce = $1 AND expires_at > $2", [nonce, now]);
    return rowCount === 1;
  }

  async insertAccount(account: AcmeAccount): Promise<AcmeAccount> {
    const { rowCount } = await this.pool.query(
      `INSERT INTO acme_accounts (${accountInsertColumns}) VALUES (${params(1, 8)}) ON CONFLICT (provisioner, thumbprint) DO NOTHING`,
      accountValues(account),
    );
    if (rowCount === 1) return account;
    return (await this.accountByThumbprint(account.provisioner, account.thumbprint))!;
  }

  async accountById(id: string): Promise<AcmeAccount | undefined> {
    const { rows } = await this.pool.query("SELECT * FROM acme_accounts WHERE id = $1", [id]);
    return rows[0] && accountFromRow(rows[0]);
  }

  async accountByThumbprint(provisioner: string, thumbprint: string): Promise<AcmeAccount | undefined> {
    const { rows } = await this.pool.query("SELECT * FROM acme_accounts WHERE provisioner = $1 AND thumbprint = $2", [provisioner, thumbprint]);
    return rows[0] && accountFromRow(rows[0]);
  }

  async updateAccount(id: string, change: AccountChange): Promise<boolean> {
    const columns = accountColumns(change);
    if (columns.length === 0) return (await this.accountById(id)) !== undefined;
    const { set, values } = assignments(columns);
    try {
      const { rowCount } = await this.pool.query(`UPDATE acme_accounts SET ${set} WHERE id = $${values.length + 1}`, [...values, id]);
      return rowCount === 1;
    } catch (error) {
      // 23505: unique_violation, the new key is another account's.
      if ((error as { code?: string }).code === "23505") return false;
      throw error;
    }
  }

  async insertOrder(order: AcmeOrder, authorizations: readonly AcmeAuthorization[], challenges: readonly AcmeChallenge[]): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query("BEGIN");
      await client.query(`INSERT INTO acme_orders (${orderInsertColumns}) VALUES (${params(1, 13)})`, orderValues(order));
      for (const authz of authorizations) {
        await client.query(`INSERT INTO acme_authorizations (${authorizationInsertColumns}) VALUES (${params(1, 7)})`, authorizationValues(authz, (flag) => flag));
      }
      for (const challenge of challenges) {
        await client.query(`INSERT INTO acme_challenges (${challengeInsertColumns}) VALUES (${params(1, 7)})`, challengeValues(challenge));
      }
      await client.query("COMMIT");
    } catch (error) {
      await client.query("ROLLBACK").catch(() => {});
      throw error;
    } finally {
      client.release();
    }
  }

  async orderById(id: string): Promise<AcmeOrder | undefined> {
    const { rows } = await this.pool.query("SELECT * FROM acme_orders WHERE id = $1", [id]);
    return rows[0] && orderFromRow(rows[0]);
  }

  async orderIdsOfAccount(accountId: string): Promise<string[]> {
    const { rows } = await this.pool.query<{ id: string }>("SELECT id FROM acme_orders WHERE account_id = $1 ORDER BY created_at, id", [accountId]);
    return rows.map((row) => row.id);
  }

  async orderByCertificate(serial: string, authorityKeyId: string): Promise<AcmeOrder | undefined> {
    const { rows } = await this.pool.query("SELECT * FROM acme_orders WHERE certificate_serial = $1 AND certificate_authority_key_id = $2", [serial, authorityKeyId]);
    return rows[0] && orderFromRow(rows[0]);
  }

  async updateOrder(id: string, from: readonly AcmeOrderStatus[], change: OrderChange): Promise<boolean> {
    const { set, values } = assignments(orderColumns(change));
    const { rowCount } = await this.pool.query(`UPDATE acme_orders SET ${set} WHERE id = $${values.length + 1} AND status = ANY($${values.length + 2})`, [
      ...values,
      id,
      from,
    ]);
    return rowCount === 1;
  }

  async authorizationById(id: string): Promise<AcmeAuthorization | undefined> {
    const { rows } = await this.pool.query("SELECT * FROM acme_authorizations WHERE id = $1", [id]);
    return rows[0] && authorizationFromRow(rows[0]);
  }

  async validAuthorizationsOfAccount(accountId: string, now: number): Promise<AcmeAuthorization[]> {
    const sql = "SELECT a.* FROM acme_authorizations a JOIN acme_orders o ON o.id = a.order_id WHERE o.account_id = $1 AND a.status = 'valid' AND a.expires > $2";
    const { rows } = await this.pool.query(sql, [accountId, now]);
    return rows.map(authorizationFromRow);
  }

  async authorizationsOfOrder(orderId: string): Promise<AcmeAuthorization[]> {
    // The ids are random: the ACME server puts them back in the order's identifier order.
    const { rows } = await this.pool.query("SELECT * FROM acme_authorizations WHERE order_id = $1 ORDER BY id", [orderId]);
    return rows.map(authorizationFromRow);
  }

  async updateAuthorization(id: string, from: readonly AcmeAuthorizationStatus[], status: AcmeAuthorizationStatus): Promise<boolean> {
    const { rowCount } = await this.pool.query("UPDATE acme_authorizations SET status = $1 WHERE id = $2 AND status = ANY($3)", [status, id, from]);
    return rowCount === 1;
  }

  async challengeById(id: string): Promise<AcmeChallenge | undefined> {
    const { rows } = await this.pool.query("SELECT * FROM acme_challenges WHERE id = $1", [id]);
    return rows[0] && challengeFromRow(rows[0]);
  }

  async challengesOfAuthorization(authorizationId: string): Promise<AcmeChallenge[]> {
    const { rows } = await this.pool.query("SELECT * FROM acme_challenges WHERE authorization_id = $1 ORDER BY type", [authorizationId]);
    return rows.map(challengeFromRow);
  }

  async processingChallenges(): Promise<AcmeChallenge[]> {
    const { rows } = await this.pool.query("SELECT * FROM acme_challenges WHERE status = 'processing' ORDER BY id");
    return rows.map(challengeFromRow);
  }

  async updateChallenge(id: string, from: readonly AcmeChallengeStatus[], change: ChallengeChange): Promise<boolean> {
    const { set, values } = assignments(challengeColumns(change));
    const { rowCount } = await this.pool.query(`UPDATE acme_challenges SET ${set} WHERE id = $${values.length + 1} AND status = ANY($${values.length + 2})`, [
      ...values,
      id,
      from,
    ]);
    return rowCount === 1;
  }

  async purgeOrders(expiredBefore: number): Promise<number> {
    // One statement, so one transaction; the foreign keys are checked at its end, when all three are gone.
    const { rows } = await this.pool.query<{ n: number }>(
      `WITH stale AS (SELECT id FROM acme_orders WHERE status <> 'valid' AND expires < $1),
            authz AS (SELECT id FROM acme_authorizations WHERE order_id IN (SELECT id FROM stale)),
            challenges AS (DELETE FROM acme_challenges WHERE authorization_id IN (SELECT id FROM authz)),
            authorizations AS (DELETE FROM acme_authorizations WHERE id IN (SELECT id FROM authz)),
            orders AS (DELETE FROM acme_orders WHERE id IN (SELECT id FROM stale) RETURNING 1)
       SELECT count(*)::int AS n FROM orders`,
      [expiredBefore],
    );
    return rows[0]!.n;
  }
}
