import type { ResponseMessage } from "../schemas/wire.js";

/** cfssl's envelope for a success; notes become `messages` with code 0, as cfssl sends them. */
export function successEnvelope<T>(result: T, messages: readonly string[] = []) {
  return {
    success: true as const,
    result,
    errors: [] as ResponseMessage[],
    messages: messages.map((message) => ({ code: 0, message })),
  };
}

export function errorEnvelope(code: number, message: string) {
  return { success: false as const, result: null, errors: [{ code, message }], messages: [] as ResponseMessage[] };
}
