// One device id per live player page. Browsers copy `sessionStorage` (and
// the URL) into a duplicated tab or a `window.open` copy, so two pages can
// start with one device id. The service gives a device's acquire that
// device's lease back, so the copy would play on the original's lease: one
// slot, two players, and closing either releases it for both. A session
// therefore claims its device id with a Web Lock for as long as it lives;
// when another page of this origin holds the claim, it plays as a device of
// its own (the id with a suffix), which counts against the limit like any
// other player.

/** What the session needs of `navigator.locks`. */
export interface LockManagerLike {
  request(
    name: string,
    options: { ifAvailable: true },
    callback: (lock: unknown) => Promise<void> | undefined,
  ): Promise<unknown>;
}

export interface DeviceClaim {
  /** The id to send: the one asked for, or a new one when another page holds that. */
  deviceId: string;
  /** Lets another page claim the id. */
  release(): void;
}

/** The longest id the service takes, in bytes (ids are ASCII). */
const MAX_ID_BYTES = 128;

/** Claims `deviceId` for `userId` in this browser; without Web Locks (old
 * smart-TV browsers), takes it as it is. */
export async function claimDevice(userId: string, deviceId: string, locks: LockManagerLike | null): Promise<DeviceClaim> {
  if (!locks) return { deviceId, release: () => {} };
  for (let attempt = 0; ; attempt += 1) {
    const candidate = attempt === 0 ? deviceId : `${deviceId.slice(0, MAX_ID_BYTES - 9)}.${randomSuffix()}`;
    const release = await tryLock(locks, `streamlease:${userId}:${candidate}`);
    // A random suffix is free on the first try but for a clash of 1 in 36^8.
    if (release) return { deviceId: candidate, release };
    if (attempt >= 3) return { deviceId: candidate, release: () => {} };
  }
}

/** The lock's release, or null when another page holds it. */
function tryLock(locks: LockManagerLike, name: string): Promise<(() => void) | null> {
  return new Promise((answer) => {
    let release = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    locks
      .request(name, { ifAvailable: true }, (lock) => {
        answer(lock ? release : null);
        return lock ? held : undefined;
      })
      .catch(() => answer(null));
  });
}

function randomSuffix(): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  let suffix = "";
  for (let i = 0; i < 8; i += 1) suffix += alphabet[Math.floor(Math.random() * alphabet.length)];
  return suffix;
}

/**
 * A device id for this tab, kept in `sessionStorage` so a reload gets its
 * lease back. A duplicated tab starts with the same id; the session's
 * claim (above) gives it one of its own.
 */
export function tabDeviceId(storageKey = "streamlease-device"): string {
  const storage = globalThis.sessionStorage;
  let id = storage?.getItem(storageKey) ?? null;
  if (!id) {
    id = `tab-${randomSuffix()}${randomSuffix()}`;
    storage?.setItem(storageKey, id);
  }
  return id;
}
