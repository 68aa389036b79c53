/**
 * The framed variant of the health check (protocol.md section 5): pure encoding and decoding,
 * no I/O, shared by the health server and the probe client.
 *
 * A frame is `<STX> payload <ETX> <LRC>`, where the LRC is the XOR of the payload bytes (the
 * bytes between STX and ETX). A client asks `<STX>STATUS?<ETX><LRC>`; the engine answers
 * `<ACK><STX>OK<ETX><LRC>` (or `KO`), or a lone `<NACK>` when the LRC does not match.
 *
 * The decoders work on a window `[start, end)` of a caller-owned buffer and return offsets and
 * views instead of copies, so that a connection's read loop does not allocate per byte.
 *
 * @module
 */

/** Start of text: the first byte of every frame, and the byte that switches a connection to framed mode. */
export const STX = 0x02;
/** End of text: closes a frame's payload; the LRC byte follows it. */
export const ETX = 0x03;
/** Acknowledge: the engine accepted a frame; the reply frame follows. */
export const ACK = 0x06;
/** Negative acknowledge: the frame's LRC did not match its payload. */
export const NACK = 0x15;

/** The payload of a health request frame. */
export const STATUS_REQUEST = "STATUS?";

/** The answers a health check can carry. */
export type FrameAnswer = "OK" | "KO";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const STATUS_REQUEST_BYTES = encoder.encode(STATUS_REQUEST);

/**
 * The longitudinal redundancy check of `bytes[start..end)`: the XOR of those bytes.
 *
 * @example
 * ```ts
 * lrc(new TextEncoder().encode("OK")); // 0x4f ^ 0x4b === 0x04
 * ```
 */
export function lrc(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let check = 0;
  for (let index = start; index < end; index++) check ^= bytes[index]!;
  return check;
}

/**
 * Wraps a payload in a frame: `<STX> payload <ETX> <LRC>`.
 *
 * @throws {RangeError} if the payload contains STX or ETX, which would make the frame ambiguous.
 */
export function encodeFrame(payload: Uint8Array | string): Uint8Array {
  const bytes = typeof payload === "string" ? encoder.encode(payload) : payload;
  for (const byte of bytes) {
    if (byte === STX || byte === ETX) {
      throw new RangeError(
        "Cannot encode a health frame: the payload contains an STX (0x02) or ETX (0x03) byte, " +
          "which would end or restart the frame",
      );
    }
  }
  const frame = new Uint8Array(bytes.length + 3);
  frame[0] = STX;
  frame.set(bytes, 1);
  frame[bytes.length + 1] = ETX;
  frame[bytes.length + 2] = lrc(bytes);
  return frame;
}

/** The frame a framed client sends to ask for the health status: `<STX>STATUS?<ETX><LRC>`. */
export function encodeStatusRequestFrame(): Uint8Array {
  return encodeFrame(STATUS_REQUEST_BYTES);
}

/** The engine's whole reply to a good request frame: `<ACK><STX>OK<ETX><LRC>` (or `KO`). */
export function encodeStatusReplyFrame(answer: FrameAnswer | "ERR"): Uint8Array {
  const frame = encodeFrame(answer);
  const reply = new Uint8Array(frame.length + 1);
  reply[0] = ACK;
  reply.set(frame, 1);
  return reply;
}

/** The outcome of {@linkcode readFrame} on a window of received bytes. */
export type FrameRead =
  /**
   * No complete frame yet. The first `skipped` bytes of the window precede any STX and belong
   * to no frame: the caller may drop them and keep the rest until more bytes arrive.
   */
  | { readonly kind: "incomplete"; readonly skipped: number }
  /**
   * A complete frame whose LRC matches. `payloadStart`/`payloadEnd` are absolute offsets into
   * the buffer; `consumed` counts every byte of the window up to and including the LRC (stray
   * bytes before the STX included).
   */
  | {
    readonly kind: "frame";
    readonly payloadStart: number;
    readonly payloadEnd: number;
    readonly consumed: number;
  }
  /** A complete frame whose LRC does not match its payload; `consumed` as for `frame`. */
  | { readonly kind: "bad_lrc"; readonly consumed: number };

/**
 * Looks for the first frame in `bytes[start..end)`. Bytes before the first STX are skipped
 * (they are line noise or a client's garbage, never part of a frame). An STX inside a payload
 * restarts the frame, so that a truncated frame followed by a good one still decodes.
 */
export function readFrame(bytes: Uint8Array, start = 0, end = bytes.length): FrameRead {
  let frameStart = -1;
  for (let index = start; index < end; index++) {
    const byte = bytes[index]!;
    if (byte === STX) {
      frameStart = index;
    } else if (byte === ETX && frameStart !== -1) {
      const lrcIndex = index + 1;
      if (lrcIndex >= end) break;
      const consumed = lrcIndex + 1 - start;
      const payloadStart = frameStart + 1;
      if (lrc(bytes, payloadStart, index) !== bytes[lrcIndex]) return { kind: "bad_lrc", consumed };
      return { kind: "frame", payloadStart, payloadEnd: index, consumed };
    }
  }
  return { kind: "incomplete", skipped: (frameStart === -1 ? end : frameStart) - start };
}

/** True when `bytes[start..end)` is exactly the ASCII text `STATUS?`. */
export function isStatusRequest(bytes: Uint8Array, start = 0, end = bytes.length): boolean {
  if (end - start !== STATUS_REQUEST_BYTES.length) return false;
  for (let index = 0; index < STATUS_REQUEST_BYTES.length; index++) {
    if (bytes[start + index] !== STATUS_REQUEST_BYTES[index]) return false;
  }
  return true;
}

/** The outcome of {@linkcode readStatusReplyFrame} on the bytes a framed client has received. */
export type StatusReplyRead =
  | { readonly kind: "incomplete" }
  | { readonly kind: "answer"; readonly answer: FrameAnswer }
  | { readonly kind: "nack" }
  | { readonly kind: "invalid"; readonly reason: string };

/**
 * Decodes the engine's reply to a request frame from `bytes[start..end)`: `<ACK>` then a frame
 * carrying `OK` or `KO`, or a lone `<NACK>`.
 */
export function readStatusReplyFrame(
  bytes: Uint8Array,
  start = 0,
  end = bytes.length,
): StatusReplyRead {
  if (end <= start) return { kind: "incomplete" };
  const first = bytes[start]!;
  if (first === NACK) return { kind: "nack" };
  if (first !== ACK) {
    return {
      kind: "invalid",
      reason: `expected ACK (0x06) or NACK (0x15) first, got 0x${hex(first)}`,
    };
  }
  if (end === start + 1) return { kind: "incomplete" };
  if (bytes[start + 1] !== STX) {
    return {
      kind: "invalid",
      reason: `expected STX (0x02) after the ACK, got 0x${hex(bytes[start + 1]!)}`,
    };
  }
  const frame = readFrame(bytes, start + 1, end);
  switch (frame.kind) {
    case "incomplete":
      return { kind: "incomplete" };
    case "bad_lrc":
      return { kind: "invalid", reason: "the reply frame's LRC does not match its payload" };
    case "frame": {
      const payload = decoder.decode(bytes.subarray(frame.payloadStart, frame.payloadEnd));
      if (payload === "OK" || payload === "KO") return { kind: "answer", answer: payload };
      return { kind: "invalid", reason: `expected OK or KO in the reply frame, got "${payload}"` };
    }
  }
}

function hex(byte: number): string {
  return byte.toString(16).padStart(2, "0");
}
