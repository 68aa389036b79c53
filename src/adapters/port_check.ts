/**
 * Whether a TCP port can be listened on, checked before start-up registers anything (the health
 * port and the web panel's).
 *
 * @module
 */

/**
 * Opens and closes a listener on `address`; port 0 is always free, and a problem other than a
 * port in use is left for the real opening to report.
 *
 * @throws the error made by `inUse` when something already listens there.
 */
export function ensurePortFree(
  address: { readonly hostname: string; readonly port: number },
  inUse: (cause: Deno.errors.AddrInUse) => Error,
): void {
  if (address.port === 0) return;
  let listener: Deno.TcpListener;
  try {
    listener = Deno.listen({ hostname: address.hostname, port: address.port, transport: "tcp" });
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) throw inUse(error);
    return;
  }
  listener.close();
}
