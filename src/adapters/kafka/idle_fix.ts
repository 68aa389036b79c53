/**
 * Stops kafkajs 2.2.4 from spinning while idle. Its request queue re-arms a timer after every
 * check, with a negative delay when the connection is not throttled (`throttledUntil` is -1), so
 * every broker connection runs a timer loop about once a millisecond with nothing to do: that
 * loop was most of an idle engine's CPU (about 3 % of a core for one consumer alone, in Deno and
 * in Node alike). Known upstream (tulios/kafkajs#1556, #1704; fix proposed in #1667, #1768) and
 * never released.
 *
 * The patch skips re-arming only when nothing is pending and the connection is not throttled.
 * Nothing is lost: kafkajs sends a new request at once when it can, and checks the queue again
 * whenever an in-flight request completes; with requests pending, or while throttled, the
 * original scheduling runs unchanged.
 *
 * Imported for its effect by the Kafka adapter.
 *
 * @module
 */
import RequestQueueModule from "kafkajs/src/network/requestQueue/index.js";

/** The fields of kafkajs' internal RequestQueue that the patch reads. */
interface RequestQueueInternals {
  pending: unknown[];
  throttledUntil: number;
  throttleCheckTimeoutId: unknown;
  scheduleCheckPendingRequests(): void;
}

const prototype = (RequestQueueModule as { prototype: RequestQueueInternals }).prototype;
const original = prototype.scheduleCheckPendingRequests;
if (typeof original === "function") {
  prototype.scheduleCheckPendingRequests = function (this: RequestQueueInternals): void {
    const idle = this.pending.length === 0 && this.throttledUntil - Date.now() <= 0;
    if (idle && !this.throttleCheckTimeoutId) return;
    original.call(this);
  };
}
