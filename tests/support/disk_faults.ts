/**
 * Disk faults under a running engine's state directory, for failure and soak tests: a disk that
 * is full ({@linkcode mountSmallDisk}), and files that refuse writes ({@linkcode refuseWrites}).
 * Both need root (the test suite runs as root in the CI container); where they cannot work they
 * throw {@linkcode DiskFaultUnsupported} with the reason, so that a test can be skipped with it.
 *
 * Why not `chmod -w`: root ignores file modes, and for anyone a mode change does not affect a file
 * that is already open, and SQLite keeps its database open. A read-only remount is refused
 * ("mount point is busy") while files are open for writing. What does work:
 *
 * - Full: a small tmpfs mounted on the state directory before the engine starts (it needs
 *   `CAP_SYS_ADMIN`); {@linkcode SmallDisk.fill} fills it, and SQLite then fails with "database
 *   or disk is full" (ENOSPC) until {@linkcode SmallDisk.free}.
 * - Refusing writes: the immutable attribute (`chattr +i`, needs `CAP_LINUX_IMMUTABLE`) on the
 *   directory and its files; ext4 enforces it on open files too, and SQLite then fails with "disk
 *   I/O error" (EPERM) until the returned function restores the files. tmpfs does not enforce it
 *   on open files, so this cannot be combined with {@linkcode mountSmallDisk}. SQLite's `-shm`
 *   file is left alone: it is mapped into memory, and a write to an immutable mapping kills the
 *   process with SIGBUS, which no read-only disk does.
 *
 * ```ts
 * const disk = await mountSmallDisk("state/test-full"); // before the engine starts
 * const engine = await EngineProcess.start([...args, "--state-dir", "state/test-full"]);
 * await disk.fill(); // the outbox cannot store events ...
 * await disk.free(); // ... and can again
 * await engine.dispose();
 * await disk.unmount();
 * ```
 *
 * @module
 */

import { join } from "node:path";

/** This machine or user cannot make the fault; the message says why. */
export class DiskFaultUnsupported extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "DiskFaultUnsupported";
  }
}

async function run(program: string, args: string[]): Promise<{ ok: boolean; text: string }> {
  try {
    const output = await new Deno.Command(program, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decoder = new TextDecoder();
    const text = (decoder.decode(output.stderr) + decoder.decode(output.stdout)).trim();
    return { ok: output.success, text: text || `exit code ${output.code}` };
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { ok: false, text: `${program} not found` };
    throw error;
  }
}

function requireRoot(what: string): void {
  if (Deno.build.os !== "linux") {
    throw new DiskFaultUnsupported(`${what} needs Linux, this is ${Deno.build.os}`);
  }
  if (Deno.uid() !== 0) {
    throw new DiskFaultUnsupported(`${what} needs root, this process runs as uid ${Deno.uid()}`);
  }
}

function isDiskFull(error: unknown): boolean {
  return error instanceof Error && /No space left on device|os error 28/.test(error.message);
}

/** A small tmpfs mounted on a directory (see {@linkcode mountSmallDisk}). */
export interface SmallDisk {
  /** The directory it is mounted on. */
  readonly dir: string;
  /** Fills the disk (a filler file) until not one more block fits. */
  fill(): Promise<void>;
  /** Deletes the filler: the space is free again. */
  free(): Promise<void>;
  /** Unmounts the disk (its content is lost) and deletes the directory. */
  unmount(): Promise<void>;
}

const FILLER = ".disk-fault-filler";

/**
 * Mounts a tmpfs of `sizeBytes` on `dir` (created if needed; it must be empty), for a state
 * directory that can be filled while the engine runs. Mount it before the engine opens its
 * database there: files opened before stay on the disk below.
 *
 * Unmount it in `finally`: a process killed before that leaves the mount behind (`umount DIR`).
 *
 * @throws {DiskFaultUnsupported} when not root, or when mounting is not allowed here (a container
 * without `CAP_SYS_ADMIN`).
 */
export async function mountSmallDisk(dir: string, sizeBytes = 4 * 1024 * 1024): Promise<SmallDisk> {
  requireRoot("A small disk (tmpfs)");
  await Deno.mkdir(dir, { recursive: true });
  const mounted = await run("mount", ["-t", "tmpfs", "-o", `size=${sizeBytes}`, "tmpfs", dir]);
  if (!mounted.ok) {
    await Deno.remove(dir).catch(() => {});
    throw new DiskFaultUnsupported(`Cannot mount a tmpfs on ${dir}: ${mounted.text}`);
  }
  const filler = join(dir, FILLER);
  return {
    dir,
    async fill() {
      const file = await Deno.open(filler, { write: true, create: true, append: true });
      const chunk = new Uint8Array(64 * 1024);
      try {
        // Big chunks first, then single blocks, until not even one block fits.
        for (const size of [chunk.length, 4096]) {
          for (;;) {
            try {
              await file.write(chunk.subarray(0, size));
            } catch (error) {
              if (isDiskFull(error)) break;
              throw error;
            }
          }
        }
      } finally {
        file.close();
      }
    },
    async free() {
      await Deno.remove(filler).catch((error) => {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      });
    },
    async unmount() {
      const unmounted = await run("umount", [dir]);
      if (!unmounted.ok) {
        // Still in use (a process that was not stopped): detach it now, gone when unused.
        const lazy = await run("umount", ["--lazy", dir]);
        if (!lazy.ok) throw new Error(`Cannot unmount the tmpfs on ${dir}: ${lazy.text}`);
      }
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

async function chattr(flag: "+i" | "-i", paths: string[]): Promise<void> {
  if (paths.length === 0) return;
  const result = await run("chattr", [flag, ...paths]);
  if (!result.ok) {
    throw new DiskFaultUnsupported(`Cannot chattr ${flag} ${paths.join(" ")}: ${result.text}`);
  }
}

/**
 * Makes `dir` and the files in it refuse every write, also through descriptors that are already
 * open (the engine's database): no file can be created, written, truncated or deleted there until
 * the returned function is called. SQLite's `-shm` files are left writable (see the module
 * comment).
 *
 * @returns a function that makes them writable again (call it in `finally`).
 * @throws {DiskFaultUnsupported} when not root, when `chattr` is missing or refused, or when the
 * file system of `dir` does not enforce the immutable attribute on open files (tmpfs).
 */
export async function refuseWrites(dir: string): Promise<() => Promise<void>> {
  requireRoot("Refusing writes (chattr +i)");
  // First check that this file system enforces it on a file that is already open.
  const probe = join(dir, ".disk-fault-probe");
  const file = await Deno.open(probe, { write: true, create: true, truncate: true });
  try {
    await chattr("+i", [probe]);
    let enforced = false;
    try {
      await file.write(new Uint8Array([1]));
    } catch (error) {
      enforced = error instanceof Deno.errors.PermissionDenied;
      if (!enforced) throw error;
    } finally {
      await chattr("-i", [probe]);
    }
    if (!enforced) {
      throw new DiskFaultUnsupported(
        `The file system of ${dir} does not enforce the immutable attribute on open files ` +
          "(tmpfs does not; ext4 does)",
      );
    }
  } finally {
    file.close();
    await Deno.remove(probe);
  }

  const files: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isFile && !entry.name.endsWith("-shm")) files.push(join(dir, entry.name));
  }
  await chattr("+i", files);
  try {
    await chattr("+i", [dir]);
  } catch (error) {
    await chattr("-i", files);
    throw error;
  }
  let restored = false;
  return async () => {
    if (restored) return;
    restored = true;
    await chattr("-i", [dir, ...files]);
  };
}
