/** Specification of the framed health protocol's pure encoding and decoding. */
import assert from "node:assert/strict";
import {
  ACK,
  encodeFrame,
  encodeStatusReplyFrame,
  encodeStatusRequestFrame,
  ETX,
  isStatusRequest,
  lrc,
  NACK,
  readFrame,
  readStatusReplyFrame,
  STX,
} from "../src/protocol/health_frames.ts";

const encoder = new TextEncoder();
const bytes = (text: string) => encoder.encode(text);

Deno.test("the LRC is the XOR of the payload bytes", async (t) => {
  await t.step("of STATUS? is 0x2b", () => {
    assert.equal(lrc(bytes("STATUS?")), 0x2b);
  });
  await t.step("of OK and of KO is 0x04 (XOR does not see the order)", () => {
    assert.equal(lrc(bytes("OK")), 0x04);
    assert.equal(lrc(bytes("KO")), 0x04);
  });
  await t.step("of nothing is 0", () => {
    assert.equal(lrc(new Uint8Array(0)), 0);
  });
  await t.step("of a window covers only that window", () => {
    const buffer = bytes("xxOKxx");
    assert.equal(lrc(buffer, 2, 4), 0x04);
  });
});

Deno.test("encoding frames", async (t) => {
  await t.step("a payload is wrapped as STX payload ETX LRC", () => {
    assert.deepEqual([...encodeFrame("OK")], [STX, 0x4f, 0x4b, ETX, 0x04]);
    assert.deepEqual([...encodeFrame(bytes("OK"))], [STX, 0x4f, 0x4b, ETX, 0x04]);
  });
  await t.step("the request frame is STX STATUS? ETX 0x2b", () => {
    assert.deepEqual([...encodeStatusRequestFrame()], [STX, ...bytes("STATUS?"), ETX, 0x2b]);
  });
  await t.step("the reply is ACK then the answer's frame", () => {
    assert.deepEqual([...encodeStatusReplyFrame("OK")], [ACK, STX, 0x4f, 0x4b, ETX, 0x04]);
    assert.deepEqual([...encodeStatusReplyFrame("KO")], [ACK, STX, 0x4b, 0x4f, ETX, 0x04]);
  });
  await t.step("a payload containing STX or ETX is refused", () => {
    assert.throws(() => encodeFrame(Uint8Array.of(0x41, STX)), RangeError);
    assert.throws(() => encodeFrame(Uint8Array.of(ETX)), RangeError);
  });
});

Deno.test("reading request frames from a buffer window", async (t) => {
  const request = encodeStatusRequestFrame();

  await t.step("a whole frame gives its payload offsets and the bytes it consumed", () => {
    const read = readFrame(request);
    assert.equal(read.kind, "frame");
    if (read.kind !== "frame") return;
    assert.equal(read.consumed, request.length);
    assert.ok(isStatusRequest(request, read.payloadStart, read.payloadEnd));
  });

  await t.step("every strict prefix of a frame is incomplete and skips nothing", () => {
    for (let length = 0; length < request.length; length++) {
      assert.deepEqual(readFrame(request, 0, length), { kind: "incomplete", skipped: 0 });
    }
  });

  await t.step("a wrong LRC is reported with the bytes to drop", () => {
    const bad = Uint8Array.of(...request.subarray(0, -1), 0x00);
    assert.deepEqual(readFrame(bad), { kind: "bad_lrc", consumed: bad.length });
  });

  await t.step("bytes before the STX are skipped", () => {
    const noisy = Uint8Array.of(0x0a, 0x41, ETX, ...request);
    const read = readFrame(noisy);
    assert.equal(read.kind, "frame");
    if (read.kind !== "frame") return;
    assert.equal(read.consumed, noisy.length);
    assert.ok(isStatusRequest(noisy, read.payloadStart, read.payloadEnd));
    assert.deepEqual(readFrame(noisy, 0, 3), { kind: "incomplete", skipped: 3 });
    assert.deepEqual(readFrame(noisy, 0, 5), { kind: "incomplete", skipped: 3 });
  });

  await t.step("an STX inside a payload restarts the frame", () => {
    const restarted = Uint8Array.of(STX, 0x41, 0x42, ...request);
    const read = readFrame(restarted);
    assert.equal(read.kind, "frame");
    if (read.kind !== "frame") return;
    assert.equal(read.payloadStart, 4);
    assert.equal(read.consumed, restarted.length);
  });

  await t.step("two frames in a row are read one after the other", () => {
    const two = Uint8Array.of(...request, ...encodeFrame("OK"));
    const first = readFrame(two);
    assert.equal(first.kind, "frame");
    if (first.kind !== "frame") return;
    const second = readFrame(two, first.consumed);
    assert.equal(second.kind, "frame");
    if (second.kind !== "frame") return;
    assert.equal(first.consumed + second.consumed, two.length);
    assert.ok(!isStatusRequest(two, second.payloadStart, second.payloadEnd));
  });

  await t.step("an LRC byte equal to STX or ETX is still read as the LRC", () => {
    // "A" ^ "C" === 0x02 (STX) and "A" ^ "B" === 0x03 (ETX).
    assert.equal(readFrame(encodeFrame("AC")).kind, "frame");
    assert.equal(readFrame(encodeFrame("AB")).kind, "frame");
  });
});

Deno.test("isStatusRequest matches exactly STATUS?", () => {
  assert.ok(isStatusRequest(bytes("STATUS?")));
  assert.ok(isStatusRequest(bytes(" STATUS? "), 1, 8));
  assert.ok(!isStatusRequest(bytes("status?")));
  assert.ok(!isStatusRequest(bytes("STATUS")));
  assert.ok(!isStatusRequest(bytes("STATUS??")));
});

Deno.test("reading the engine's framed reply", async (t) => {
  await t.step("ACK and a framed OK or KO is the answer", () => {
    assert.deepEqual(readStatusReplyFrame(encodeStatusReplyFrame("OK")), {
      kind: "answer",
      answer: "OK",
    });
    assert.deepEqual(readStatusReplyFrame(encodeStatusReplyFrame("KO")), {
      kind: "answer",
      answer: "KO",
    });
  });

  await t.step("every strict prefix of a reply is incomplete", () => {
    const reply = encodeStatusReplyFrame("OK");
    for (let length = 0; length < reply.length; length++) {
      assert.deepEqual(readStatusReplyFrame(reply, 0, length), { kind: "incomplete" });
    }
  });

  await t.step("a NACK is reported as such", () => {
    assert.deepEqual(readStatusReplyFrame(Uint8Array.of(NACK)), { kind: "nack" });
  });

  await t.step("anything else is invalid, with a reason", () => {
    const cases: Array<[string, Uint8Array]> = [
      ["a plain line", bytes("OK\n")],
      ["no STX after the ACK", Uint8Array.of(ACK, 0x4f)],
      ["a bad LRC", Uint8Array.of(ACK, STX, 0x4f, 0x4b, ETX, 0x05)],
      ["an unexpected payload", encodeStatusReplyFrame("ERR")],
    ];
    for (const [name, reply] of cases) {
      const read = readStatusReplyFrame(reply);
      assert.equal(read.kind, "invalid", name);
      if (read.kind === "invalid") assert.ok(read.reason.length > 0, name);
    }
  });
});
