/**
 * Just enough of the Kafka protocol to tell when a test broker serves requests, which brokers it
 * lists as alive, and which node leads the KRaft metadata quorum (kafkajs has no DescribeQuorum).
 * One request per connection, over TCP or TLS.
 *
 * @module
 */

/** How to reach a listener: its port on 127.0.0.1 and, for TLS, the CA certificates (PEM). */
export interface ListenerAddress {
  /** The listener's port on 127.0.0.1. */
  readonly port: number;
  /** PEM of the CA that signed the listener's certificate: connect with TLS and check it. */
  readonly tlsCaPem?: string;
}

async function readExactly(conn: Deno.Conn, size: number): Promise<Uint8Array> {
  const out = new Uint8Array(size);
  let offset = 0;
  while (offset < size) {
    const n = await conn.read(out.subarray(offset));
    if (n === null) throw new Error("connection closed by the broker");
    offset += n;
  }
  return out;
}

function connect(address: ListenerAddress): Promise<Deno.Conn> {
  if (address.tlsCaPem === undefined) {
    return Deno.connect({ hostname: "127.0.0.1", port: address.port });
  }
  return Deno.connectTls({
    hostname: "127.0.0.1",
    port: address.port,
    caCerts: [address.tlsCaPem],
  });
}

const CORRELATION_ID = 4242;

/**
 * Sends one request and returns the response body. `flexible` requests use request header v2
 * (tagged fields) and their responses header v1.
 */
async function kafkaRequest(
  address: ListenerAddress,
  request: { apiKey: number; apiVersion: number; body: Uint8Array; flexible?: boolean },
  timeoutMs: number,
): Promise<DataView> {
  const clientId = new TextEncoder().encode("kafka-test-broker-probe");
  const tagged = request.flexible ? 1 : 0;
  const size = 2 + 2 + 4 + 2 + clientId.length + tagged + request.body.length;
  const bytes = new Uint8Array(4 + size);
  const view = new DataView(bytes.buffer);
  view.setInt32(0, size);
  view.setInt16(4, request.apiKey);
  view.setInt16(6, request.apiVersion);
  view.setInt32(8, CORRELATION_ID);
  view.setInt16(12, clientId.length);
  bytes.set(clientId, 14);
  // An empty tagged-field section is the single byte 0, already there.
  bytes.set(request.body, 14 + clientId.length + tagged);

  let timedOut = false;
  let conn: Deno.Conn | undefined;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      conn?.close();
    } catch {
      // already closed
    }
  }, timeoutMs);
  try {
    conn = await connect(address);
    if (timedOut) throw new Error(`no answer within ${timeoutMs} ms`);
    let written = 0;
    while (written < bytes.length) written += await conn.write(bytes.subarray(written));
    const length = new DataView((await readExactly(conn, 4)).buffer).getInt32(0);
    if (length < 4 || length > 16 * 1024 * 1024) throw new Error(`bad response size ${length}`);
    const response = await readExactly(conn, length);
    const responseView = new DataView(response.buffer);
    if (responseView.getInt32(0) !== CORRELATION_ID) throw new Error("unexpected correlation id");
    // A flexible response header ends with its (empty) tagged fields: one byte.
    return new DataView(response.buffer, request.flexible ? 5 : 4);
  } catch (error) {
    if (timedOut) throw new Error(`no answer within ${timeoutMs} ms`, { cause: error });
    throw error;
  } finally {
    clearTimeout(timer);
    try {
      conn?.close();
    } catch {
      // already closed by the timer
    }
  }
}

/**
 * Asks the listener whether it serves requests: an ApiVersions request, answered even on a SASL
 * listener before authentication. Throws when it does not.
 */
export async function probeApiVersions(
  address: ListenerAddress,
  timeoutMs = 2_000,
): Promise<void> {
  const response = await kafkaRequest(
    address,
    { apiKey: 18, apiVersion: 0, body: new Uint8Array(0) },
    timeoutMs,
  );
  const errorCode = response.getInt16(0);
  if (errorCode !== 0) throw new Error(`ApiVersions answered error code ${errorCode}`);
}

/**
 * The ids of the brokers the listener's broker lists as alive (registered and not fenced), from
 * a Metadata v4 request for no topic.
 */
export async function aliveBrokerIds(
  address: ListenerAddress,
  timeoutMs = 2_000,
): Promise<number[]> {
  // Metadata v4: topics = [] (none), allow_auto_topic_creation = false.
  const body = new Uint8Array([0, 0, 0, 0, 0]);
  const response = await kafkaRequest(address, { apiKey: 3, apiVersion: 4, body }, timeoutMs);
  let offset = 4; // after throttle_time_ms
  const count = response.getInt32(offset);
  offset += 4;
  const ids: number[] = [];
  for (let i = 0; i < count; i++) {
    ids.push(response.getInt32(offset));
    offset += 4;
    offset += 2 + response.getInt16(offset); // host
    offset += 4; // port
    const rack = response.getInt16(offset);
    offset += 2 + Math.max(rack, 0);
  }
  return ids.sort((a, b) => a - b);
}

/**
 * The node id of the active KRaft controller (the leader of the `__cluster_metadata` quorum),
 * from a DescribeQuorum v0 request, which a broker forwards to the controllers.
 */
export async function quorumLeaderId(
  address: ListenerAddress,
  timeoutMs = 2_000,
): Promise<number> {
  const topic = new TextEncoder().encode("__cluster_metadata");
  // Flexible encoding: compact arrays and strings carry length + 1 as an unsigned varint (all
  // below 128 here, so one byte), and every structure ends with empty tagged fields (0).
  const body = new Uint8Array([
    2, // topics: 1 entry
    topic.length + 1,
    ...topic,
    2, // partitions: 1 entry
    0,
    0,
    0,
    0, // partition_index 0
    0, // partition tagged fields
    0, // topic tagged fields
    0, // request tagged fields
  ]);
  const response = await kafkaRequest(
    address,
    { apiKey: 55, apiVersion: 0, body, flexible: true },
    timeoutMs,
  );
  const errorCode = response.getInt16(0);
  if (errorCode !== 0) throw new Error(`DescribeQuorum answered error code ${errorCode}`);
  let offset = 2;
  const [topics, afterTopics] = readUnsignedVarint(response, offset);
  if (topics - 1 < 1) throw new Error("DescribeQuorum answered no topic");
  offset = afterTopics;
  const [nameLength, afterLength] = readUnsignedVarint(response, offset);
  offset = afterLength + nameLength - 1;
  const [partitions, afterPartitions] = readUnsignedVarint(response, offset);
  if (partitions - 1 < 1) throw new Error("DescribeQuorum answered no partition");
  offset = afterPartitions + 4; // partition_index
  const partitionError = response.getInt16(offset);
  if (partitionError !== 0) {
    throw new Error(`DescribeQuorum answered partition error code ${partitionError}`);
  }
  const leaderId = response.getInt32(offset + 2);
  if (leaderId < 0) throw new Error("the metadata quorum has no leader right now");
  return leaderId;
}

function readUnsignedVarint(view: DataView, offset: number): [number, number] {
  let value = 0;
  for (let shift = 0; shift < 35; shift += 7) {
    const byte = view.getUint8(offset++);
    value |= (byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return [value, offset];
  }
  throw new Error("malformed varint in the response");
}
