import type Database from "better-sqlite3";
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
} from "./acme-records.js";
import { openDatabase } from "./database.js";

type Row = Record<string, unknown>;

function placeholders(count: number): string {
  return Array.from({ length: count }, () => "?").join(", ");
}

/**
 * The ACME records in the SQLite database. Like the guard store it has its own connection with
 * synchronous=NORMAL: a nonce is written on every ACME answer, and an fsync each time would stall
 * the HTTP thread; in WAL mode a commit still survives the process dying.
 */
export class SqliteAcmeStore implements AcmeStore {
  private lastPurge = 0;
  /** Prepared once per SQL text: preparing costs more than running these one-row statements. */
  private readonly statements = new Map<string, Database.Statement>();

  constructor(private readonly db: Database.Database) {}

  private statement(sql: string): Database.Statement {
    let prepared = this.statements.get(sql);
    if (!prepared) {
      prepared = this.db.prepare(sql);
      this.statements.set(sql, prepared);
    }
    return prepared;
  }

  static open(path: string): SqliteAcmeStore {
    const db = openDatabase(path);
    db.pragma("synchronous = NORMAL");
    return new SqliteAcmeStore(db);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  issueNonce(nonce: string, expiresAt: number, now: number): void {
    // Purging at most once a minute keeps the table to about one nonce lifetime of nonces.
    if (now - this.lastPurge > 60_000) {
      this.statement("DELETE FROM acme_nonces WHERE expires_at < ?").run(now);
      this.lastPurge = now;
    }
    this.statement("INSERT INTO acme_nonces (nonce, expires_at) VALUES (?, ?)").run(nonce, expiresAt);
  }

  consumeNonce(nonce: string, now: number): boolean {
    return this.statement("DELETE FROM acme_nonces WHERE nonce = ? AND expires_at > ?").run(nonce, now).changes === 1;
  }

  insertAccount(account: AcmeAccount): AcmeAccount {
    const inserted = this
      .statement(`INSERT INTO acme_accounts (${accountInsertColumns}) VALUES (${placeholders(8)}) ON CONFLICT (provisioner, thumbprint) DO NOTHING`)
      .run(...accountValues(account));
    if (inserted.changes === 1) return account;
    return this.accountByThumbprint(account.provisioner, account.thumbprint)!;
  }

  accountById(id: string): AcmeAccount | undefined {
    const row = this.statement("SELECT * FROM acme_accounts WHERE id = ?").get(id) as Row | undefined;
    return row && accountFromRow(row);
  }

  accountByThumbprint(provisioner: string, thumbprint: string): AcmeAccount | undefined {
    const row = this.statement("SELECT * FROM acme_accounts WHERE provisioner = ? AND thumbprint = ?").get(provisioner, thumbprint) as Row | undefined;
    return row && accountFromRow(row);
  }

  updateAccount(id: string, change: AccountChange): boolean {
    const columns = accountColumns(change);
    if (columns.length === 0) return this.accountById(id) !== undefined;
    try {
      const sql = `UPDATE acme_accounts SET ${columns.map(([name]) => `${name} = ?`).join(", ")} WHERE id = ?`;
      return this.statement(sql).run(...columns.map(([, value]) => value), id).changes === 1;
    } catch (error) {
      if ((error as { code?: string }).code === "SQLITE_CONSTRAINT_UNIQUE") return false;
      throw error;
    }
  }

  insertOrder(order: AcmeOrder, authorizations: readonly AcmeAuthorization[], challenges: readonly AcmeChallenge[]): void {
    const insertOrder = this.statement(`INSERT INTO acme_orders (${orderInsertColumns}) VALUES (${placeholders(13)})`);
    const insertAuthz = this.statement(`INSERT INTO acme_authorizations (${authorizationInsertColumns}) VALUES (${placeholders(7)})`);
    const insertChallenge = this.statement(`INSERT INTO acme_challenges (${challengeInsertColumns}) VALUES (${placeholders(7)})`);
    this.db.transaction(() => {
      insertOrder.run(...orderValues(order));
      for (const authz of authorizations) insertAuthz.run(...authorizationValues(authz, (flag) => (flag ? 1 : 0)));
      for (const challenge of challenges) insertChallenge.run(...challengeValues(challenge));
    })();
  }

  orderById(id: string): AcmeOrder | undefined {
    const row = this.statement("SELECT * FROM acme_orders WHERE id = ?").get(id) as Row | undefined;
    return row && orderFromRow(row);
  }

  orderIdsOfAccount(accountId: string): string[] {
    return (this.statement("SELECT id FROM acme_orders WHERE account_id = ? ORDER BY created_at, id").all(accountId) as { id: string }[]).map((row) => row.id);
  }

  orderByCertificate(serial: string, authorityKeyId: string): AcmeOrder | undefined {
    const row = this.db
      .prepare("SELECT * FROM acme_orders WHERE certificate_serial = ? AND certificate_authority_key_id = ?")
      .get(serial, authorityKeyId) as Row | undefined;
    return row && orderFromRow(row);
  }

  updateOrder(id: string, from: readonly AcmeOrderStatus[], change: OrderChange): boolean {
    const columns = orderColumns(change);
    const sql = `UPDATE acme_orders SET ${columns.map(([name]) => `${name} = ?`).join(", ")} WHERE id = ? AND status IN (${placeholders(from.length)})`;
    return this.statement(sql).run(...columns.map(([, value]) => value), id, ...from).changes === 1;
  }

  authorizationById(id: string): AcmeAuthorization | undefined {
    const row = this.statement("SELECT * FROM acme_authorizations WHERE id = ?").get(id) as Row | undefined;
    return row && authorizationFromRow(row);
  }

  authorizationsOfOrder(orderId: string): AcmeAuthorization[] {
    return (this.statement("SELECT * FROM acme_authorizations WHERE order_id = ? ORDER BY rowid").all(orderId) as Row[]).map(authorizationFromRow);
  }

  validAuthorizationsOfAccount(accountId: string, now: number): AcmeAuthorization[] {
    const sql = "SELECT a.* FROM acme_authorizations a JOIN acme_orders o ON o.id = a.order_id WHERE o.account_id = ? AND a.status = 'valid' AND a.expires > ?";
    return (this.statement(sql).all(accountId, now) as Row[]).map(authorizationFromRow);
  }

  updateAuthorization(id: string, from: readonly AcmeAuthorizationStatus[], status: AcmeAuthorizationStatus): boolean {
    const sql = `UPDATE acme_authorizations SET status = ? WHERE id = ? AND status IN (${placeholders(from.length)})`;
    return this.statement(sql).run(status, id, ...from).changes === 1;
  }

  challengeById(id: string): AcmeChallenge | undefined {
    const row = this.statement("SELECT * FROM acme_challenges WHERE id = ?").get(id) as Row | undefined;
    return row && challengeFromRow(row);
  }

  challengesOfAuthorization(authorizationId: string): AcmeChallenge[] {
    return (this.statement("SELECT * FROM acme_challenges WHERE authorization_id = ? ORDER BY rowid").all(authorizationId) as Row[]).map(challengeFromRow);
  }

  processingChallenges(): AcmeChallenge[] {
    return (this.statement("SELECT * FROM acme_challenges WHERE status = 'processing' ORDER BY rowid").all() as Row[]).map(challengeFromRow);
  }

  updateChallenge(id: string, from: readonly AcmeChallengeStatus[], change: ChallengeChange): boolean {
    const columns = challengeColumns(change);
    const sql = `UPDATE acme_challenges SET ${columns.map(([name]) => `${name} = ?`).join(", ")} WHERE id = ? AND status IN (${placeholders(from.length)})`;
    return this.statement(sql).run(...columns.map(([, value]) => value), id, ...from).changes === 1;
  }

  purgeOrders(expiredBefore: number): number {
    const stale = "SELECT id FROM acme_orders WHERE status <> 'valid' AND expires < ?";
    return this.db.transaction(() => {
      this.db.prepare(`DELETE FROM acme_challenges WHERE authorization_id IN (SELECT id FROM acme_authorizations WHERE order_id IN (${stale}))`).run(expiredBefore);
      this.db.prepare(`DELETE FROM acme_authorizations WHERE order_id IN (${stale})`).run(expiredBefore);
      return this.db.prepare("DELETE FROM acme_orders WHERE status <> 'valid' AND expires < ?").run(expiredBefore).changes;
    })();
  }
}
