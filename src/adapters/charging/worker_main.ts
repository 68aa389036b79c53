/**
 * The charging loop, run inside a Web Worker: it advances every session's meter by the real
 * time that passed (times the time scale) and posts the readings once per tick.
 *
 * Elapsed time is measured with the monotonic `performance.now()`, so a late timer only delays
 * a reading; the energy it shows is still exact.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { MeterBank } from "../../domain/session.ts";
import type { FromChargingWorker, ToChargingWorker } from "./messages.ts";

const bank = new MeterBank();
let timeScale = 1;
let lastAdvance = performance.now();
let interval: ReturnType<typeof setInterval> | undefined;

function post(message: FromChargingWorker): void {
  self.postMessage(message);
}

function catchUp(): void {
  const now = performance.now();
  bank.advance(((now - lastAdvance) / 1000) * timeScale);
  lastAdvance = now;
}

function tick(): void {
  catchUp();
  if (bank.size > 0) post({ type: "readings", readings: bank.readings() });
}

self.onmessage = (event: MessageEvent<ToChargingWorker>) => {
  const message = event.data;
  switch (message.type) {
    case "configure":
      timeScale = message.timeScale;
      if (interval !== undefined) clearInterval(interval);
      lastAdvance = performance.now();
      interval = setInterval(tick, message.tickMs);
      break;
    case "start":
      catchUp();
      bank.start(
        message.sessionId,
        message.profile,
        message.baseEnergyKwh,
        message.suppliedSeconds ?? 0,
      );
      break;
    case "supply":
      catchUp();
      bank.supply(message.sessionId);
      break;
    case "stop":
      catchUp();
      post({
        type: "stopped",
        requestId: message.requestId,
        reading: bank.stop(message.sessionId),
      });
      break;
    case "fail":
      throw new Error(message.reason);
    case "close":
      if (interval !== undefined) clearInterval(interval);
      interval = undefined;
      post({ type: "closed" });
      self.close();
      break;
  }
};
