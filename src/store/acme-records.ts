// What the ACME server keeps, whichever database holds it (SQLite: acme-sqlite.ts, PostgreSQL:
// postgres/acme.ts). Both read and write the same columns (migrations/007_acme.sql and
// migrations/postgres/002_acme.sql); the row mapping below is shared.
import type { Awaitable } from "./backend.js";

export type AcmeAccountStatus = "valid" | "deactivated" | "revoked";
export type AcmeOrderStatus = "pending" | "ready" | "processing" | "valid" | "invalid";
export type AcmeAuthorizationStatus = "pending" | "valid" | "invalid" | "deactivated" | "expired" | "revoked";
export type AcmeChallengeStatus = "pending" | "processing" | "valid" | "invalid";

/** An identifier as an order names it (RFC 8555 7.1.3, RFC 8738). */
export interface StoredIdentifier {
  type: "dns" | "ip";
  value: string;
}

/** An RFC 7807 problem document, as orders and challenges keep their error. */
export interface StoredProblem {
  type: string;
  detail: string;
  status?: number;
}

export interface AcmeAccount {
  id: string;
  provisioner: string;
  /** RFC 7638 SHA-256 thumbprint of the account key, base64url. */
  thumbprint: string;
  /** The account's public key as a JWK (public members only). */
  jwk: Record<string, unknown>;
  status: AcmeAccountStatus;
  contact: string[];
  eabKeyId: string | null;
  createdAt: number;
}

export interface AcmeOrder {
  id: string;
  accountId: string;
  provisioner: string;
  status: AcmeOrderStatus;
  expires: number;
  identifiers: StoredIdentifier[];
  notBefore: number | null;
  notAfter: number | null;
  error: StoredProblem | null;
  certificateSerial: string | null;
  certificateAuthorityKeyId: string | null;
  certificatePem: string | null;
  createdAt: number;
}

export interface AcmeAuthorization {
  id: string;
  orderId: string;
  identifier: StoredIdentifier;
  status: AcmeAuthorizationStatus;
  expires: number;
  wildcard: boolean;
}

export interface AcmeChallenge {
  id: string;
  authorizationId: string;
  type: string;
  token: string;
  status: AcmeChallengeStatus;
  validated: number | null;
  error: StoredProblem | null;
}

export type AccountChange = Partial<Pick<AcmeAccount, "status" | "contact" | "jwk" | "thumbprint">>;
export type OrderChange = Partial<Pick<AcmeOrder, "status" | "error" | "certificateSerial" | "certificateAuthorityKeyId" | "certificatePem">>;
export type ChallengeChange = Partial<Pick<AcmeChallenge, "status" | "validated" | "error">>;

/**
 * The ACME server's records. Status changes are compare-and-set (`from`): of two replicas that
 * act on one order or challenge at once, one wins and the other is told (false).
 */
export interface AcmeStore {
  /** Keeps a nonce handed out in Replay-Nonce until `expiresAt`. */
  issueNonce(nonce: string, expiresAt: number, now: number): Awaitable<void>;
  /** Takes a nonce: true once for a nonce issued and not expired, false for any other. */
  consumeNonce(nonce: string, now: number): Awaitable<boolean>;
  /** Records a new account; when the provisioner has one with that key already, answers it instead. */
  insertAccount(account: AcmeAccount): Awaitable<AcmeAccount>;
  accountById(id: string): Awaitable<AcmeAccount | undefined>;
  accountByThumbprint(provisioner: string, thumbprint: string): Awaitable<AcmeAccount | undefined>;
  /** false when the account does not exist, or the new key is another account's (keyChange). */
  updateAccount(id: string, change: AccountChange): Awaitable<boolean>;
  /** An order with its authorizations and their challenges, in one transaction. */
  insertOrder(order: AcmeOrder, authorizations: readonly AcmeAuthorization[], challenges: readonly AcmeChallenge[]): Awaitable<void>;
  orderById(id: string): Awaitable<AcmeOrder | undefined>;
  /** The ids of an account's orders, oldest first. */
  orderIdsOfAccount(accountId: string): Awaitable<string[]>;
  /** The order whose certificate has this serial and issuer. */
  orderByCertificate(serial: string, authorityKeyId: string): Awaitable<AcmeOrder | undefined>;
  updateOrder(id: string, from: readonly AcmeOrderStatus[], change: OrderChange): Awaitable<boolean>;
  authorizationById(id: string): Awaitable<AcmeAuthorization | undefined>;
  authorizationsOfOrder(orderId: string): Awaitable<AcmeAuthorization[]>;
  /** The account's authorizations that are valid and expire after `now`, whatever their order. */
  validAuthorizationsOfAccount(accountId: string, now: number): Awaitable<AcmeAuthorization[]>;
  updateAuthorization(id: string, from: readonly AcmeAuthorizationStatus[], status: AcmeAuthorizationStatus): Awaitable<boolean>;
  challengeById(id: string): Awaitable<AcmeChallenge | undefined>;
  challengesOfAuthorization(authorizationId: string): Awaitable<AcmeChallenge[]>;
  updateChallenge(id: string, from: readonly AcmeChallengeStatus[], change: ChallengeChange): Awaitable<boolean>;
  /** The challenges being validated, or left so by a process that stopped before it finished. */
  processingChallenges(): Awaitable<AcmeChallenge[]>;
  /**
   * Removes the orders that expired before `expiredBefore` without a certificate, with their
   * authorizations and challenges; returns how many orders. Valid orders stay: revokeCert by
   * account finds the certificate's order.
   */
  purgeOrders(expiredBefore: number): Awaitable<number>;
}

/** A row as either database answers it: numbers may come back as strings (PostgreSQL BIGINT). */
type Row = Record<string, unknown>;

const num = (value: unknown): number => Number(value);
const numOrNull = (value: unknown): number | null => (value === null || value === undefined ? null : Number(value));
const json = <T>(value: unknown): T => JSON.parse(String(value)) as T;
const jsonOrNull = <T>(value: unknown): T | null => (value === null || value === undefined ? null : json<T>(value));
const textOrNull = (value: unknown): string | null => (value === null || value === undefined ? null : String(value));

export function accountFromRow(row: Row): AcmeAccount {
  return {
    id: String(row.id),
    provisioner: String(row.provisioner),
    thumbprint: String(row.thumbprint),
    jwk: json(row.jwk),
    status: row.status as AcmeAccountStatus,
    contact: json(row.contact),
    eabKeyId: textOrNull(row.eab_key_id),
    createdAt: num(row.created_at),
  };
}

export function orderFromRow(row: Row): AcmeOrder {
  return {
    id: String(row.id),
    accountId: String(row.account_id),
    provisioner: String(row.provisioner),
    status: row.status as AcmeOrderStatus,
    expires: num(row.expires),
    identifiers: json(row.identifiers),
    notBefore: numOrNull(row.not_before),
    notAfter: numOrNull(row.not_after),
    error: jsonOrNull(row.error),
    certificateSerial: textOrNull(row.certificate_serial),
    certificateAuthorityKeyId: textOrNull(row.certificate_authority_key_id),
    certificatePem: textOrNull(row.certificate_pem),
    createdAt: num(row.created_at),
  };
}

export function authorizationFromRow(row: Row): AcmeAuthorization {
  return {
    id: String(row.id),
    orderId: String(row.order_id),
    identifier: { type: row.identifier_type as "dns" | "ip", value: String(row.identifier_value) },
    status: row.status as AcmeAuthorizationStatus,
    expires: num(row.expires),
    wildcard: row.wildcard === true || row.wildcard === 1,
  };
}

export function challengeFromRow(row: Row): AcmeChallenge {
  return {
    id: String(row.id),
    authorizationId: String(row.authorization_id),
    type: String(row.type),
    token: String(row.token),
    status: row.status as AcmeChallengeStatus,
    validated: numOrNull(row.validated),
    error: jsonOrNull(row.error),
  };
}

/** The columns a change writes, each with its value as stored; the column names are fixed here, never taken from input. */
export function accountColumns(change: AccountChange): [string, unknown][] {
  const columns: [string, unknown][] = [];
  if (change.status !== undefined) columns.push(["status", change.status]);
  if (change.contact !== undefined) columns.push(["contact", JSON.stringify(change.contact)]);
  if (change.jwk !== undefined) columns.push(["jwk", JSON.stringify(change.jwk)]);
  if (change.thumbprint !== undefined) columns.push(["thumbprint", change.thumbprint]);
  return columns;
}

export function orderColumns(change: OrderChange): [string, unknown][] {
  const columns: [string, unknown][] = [];
  if (change.status !== undefined) columns.push(["status", change.status]);
  if (change.error !== undefined) columns.push(["error", change.error === null ? null : JSON.stringify(change.error)]);
  if (change.certificateSerial !== undefined) columns.push(["certificate_serial", change.certificateSerial]);
  if (change.certificateAuthorityKeyId !== undefined) columns.push(["certificate_authority_key_id", change.certificateAuthorityKeyId]);
  if (change.certificatePem !== undefined) columns.push(["certificate_pem", change.certificatePem]);
  return columns;
}

export function challengeColumns(change: ChallengeChange): [string, unknown][] {
  const columns: [string, unknown][] = [];
  if (change.status !== undefined) columns.push(["status", change.status]);
  if (change.validated !== undefined) columns.push(["validated", change.validated]);
  if (change.error !== undefined) columns.push(["error", change.error === null ? null : JSON.stringify(change.error)]);
  return columns;
}

/** The values of a new row, in the column order of the INSERT statements of both stores. */
export function accountValues(a: AcmeAccount): unknown[] {
  return [a.id, a.provisioner, a.thumbprint, JSON.stringify(a.jwk), a.status, JSON.stringify(a.contact), a.eabKeyId, a.createdAt];
}
export const accountInsertColumns = "id, provisioner, thumbprint, jwk, status, contact, eab_key_id, created_at";

export function orderValues(o: AcmeOrder): unknown[] {
  return [
    o.id,
    o.accountId,
    o.provisioner,
    o.status,
    o.expires,
    JSON.stringify(o.identifiers),
    o.notBefore,
    o.notAfter,
    o.error === null ? null : JSON.stringify(o.error),
    o.certificateSerial,
    o.certificateAuthorityKeyId,
    o.certificatePem,
    o.createdAt,
  ];
}
export const orderInsertColumns =
  "id, account_id, provisioner, status, expires, identifiers, not_before, not_after, error, certificate_serial, certificate_authority_key_id, certificate_pem, created_at";

export function authorizationValues(z: AcmeAuthorization, wildcard: (flag: boolean) => unknown): unknown[] {
  return [z.id, z.orderId, z.identifier.type, z.identifier.value, z.status, z.expires, wildcard(z.wildcard)];
}
export const authorizationInsertColumns = "id, order_id, identifier_type, identifier_value, status, expires, wildcard";

export function challengeValues(c: AcmeChallenge): unknown[] {
  return [c.id, c.authorizationId, c.type, c.token, c.status, c.validated, c.error === null ? null : JSON.stringify(c.error)];
}
export const challengeInsertColumns = "id, authorization_id, type, token, status, validated, error";
