import { CertwrightError } from "../errors.js";

/**
 * The CAs a service signs with, by cfssl's label (multirootca's model): a request names one with
 * `label`, and an empty or absent label means the default. A service with one CA has a set of one,
 * whose label is empty.
 */
export class CaSet<T extends { label: string }> {
  private readonly byLabel = new Map<string, T>();

  /** `others` are served beside the default under their own labels, which must differ. */
  constructor(
    readonly defaultCa: T,
    others: readonly T[] = [],
  ) {
    for (const entry of [defaultCa, ...others]) {
      if (this.byLabel.has(entry.label)) throw new Error(`two CAs have the label "${entry.label}"`);
      this.byLabel.set(entry.label, entry);
    }
  }

  /** Every CA, the default first. */
  get all(): T[] {
    return [...this.byLabel.values()];
  }

  /** The CA a request's label names; unknown labels are refused with the labels served. */
  get(label: string | null | undefined): T {
    if (label === undefined || label === null || label === "") return this.defaultCa;
    const found = this.byLabel.get(label);
    if (found) return found;
    if (this.byLabel.size === 1) {
      throw new CertwrightError("unknownCaLabel", `label "${label}": no such CA here; the default CA's label is "${this.defaultCa.label}"`);
    }
    const labels = [...this.byLabel.keys()].map((name) => `"${name}"`).join(", ");
    throw new CertwrightError("unknownCaLabel", `label "${label}": no such CA here; the CAs served are ${labels} (an empty or absent label is "${this.defaultCa.label}")`);
  }
}
