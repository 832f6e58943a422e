/**
 * What the fault suite counts. The promise under test: a message acked to its sender reaches every
 * other device of every member of its conversation, once. So the ledger keeps every ack (with the
 * device and region it came through) and every `message` event each device emitted to the app,
 * after the SDK's own dedup — a second emission of one id is a duplicate the user would see.
 */

export interface AckRecord {
  id: string;
  conversationId: string;
  /** Device key of the sender. */
  from: string;
  /** When the sender's promise resolved (ms since epoch). */
  at: number;
  /** Region of the gateway the sender was connected to when the ack came. */
  region: string | null;
  /** The server had stored this clientMsgId already (a resend). */
  duplicate: boolean;
}

export interface DeviceCount {
  device: string;
  user: string;
  home: string;
  /** Acked messages this device should have received. */
  expected: number;
  /** Distinct ids emitted to the app. */
  received: number;
  lost: number;
  /** Emissions beyond the first of an id. */
  duplicates: number;
  /** Up to 20 lost ids, to look up in the logs. */
  lostIds: string[];
}

export class Ledger {
  readonly acks = new Map<string, AckRecord>();
  /** Sends whose promise rejected (not acked, so nothing is expected for them). */
  readonly rejected: { from: string; code: string; at: number }[] = [];
  /** device → message id → times emitted. */
  private readonly received = new Map<string, Map<string, number>>();

  ack(rec: AckRecord): void {
    // One id acked twice (a resend answered `duplicate`) is still one message.
    if (!this.acks.has(rec.id)) this.acks.set(rec.id, rec);
  }

  delivered(device: string, id: string): void {
    let seen = this.received.get(device);
    if (!seen) {
      seen = new Map();
      this.received.set(device, seen);
    }
    seen.set(id, (seen.get(id) ?? 0) + 1);
  }

  /**
   * Per recipient device: which acked messages it should have (its user is a member, and it is
   * not the device that sent it), which of those never came, and which came twice.
   */
  count(
    devices: { key: string; user: string; home: string }[],
    members: ReadonlyMap<string, ReadonlySet<string>>,
  ): DeviceCount[] {
    return devices.map((d) => {
      const seen = this.received.get(d.key) ?? new Map<string, number>();
      let expected = 0;
      const lostIds: string[] = [];
      let lost = 0;
      for (const a of this.acks.values()) {
        if (a.from === d.key || !members.get(a.conversationId)?.has(d.user)) continue;
        expected++;
        if (!seen.has(a.id)) {
          lost++;
          if (lostIds.length < 20) lostIds.push(a.id);
        }
      }
      let duplicates = 0;
      for (const n of seen.values()) duplicates += n - 1;
      return {
        device: d.key,
        user: d.user,
        home: d.home,
        expected,
        received: seen.size,
        lost,
        duplicates,
        lostIds,
      };
    });
  }

  /** Ids some device received that no sender saw acked (stored, but the ack was lost). */
  unackedDeliveries(): number {
    const ids = new Set<string>();
    for (const seen of this.received.values())
      for (const id of seen.keys()) if (!this.acks.has(id)) ids.add(id);
    return ids.size;
  }
}

export interface Recovery {
  /** Heal → first ack to a device the fault affected; null when none came. */
  firstAckAfterHealMs: number | null;
  /** Longest time, over the affected devices, from the fault to that device's next ack. */
  maxStallMs: number | null;
  /** Affected devices with no ack at all after the fault (stalled to the end of the run). */
  neverAcked: number;
  /**
   * Affected devices that got an ack through a region other than the faulted one, during the
   * fault; null when the fault is not a region's (Cassandra is shared, a slow consumer is one socket).
   */
  movedDevices: number | null;
  affectedDevices: number;
  /** Fault → the last of those devices' first ack through another region. */
  maxMoveMs: number | null;
}

/**
 * Recovery times from the ack log. `affected` are the devices connected to what broke when it
 * broke; `region` is the faulted region (null for a fault every region shares, like Cassandra).
 */
export function recovery(
  acks: Iterable<AckRecord>,
  affected: ReadonlySet<string>,
  region: string | null,
  faultAt: number,
  healAt: number | null,
): Recovery {
  const list = [...acks].filter((a) => affected.has(a.from)).sort((x, y) => x.at - y.at);
  const afterHeal = healAt === null ? undefined : list.find((a) => a.at >= healAt);
  let maxStallMs: number | null = null;
  let maxMoveMs: number | null = null;
  let movedDevices = 0;
  let neverAcked = 0;
  for (const device of affected) {
    const mine = list.filter((a) => a.from === device && a.at >= faultAt);
    const next = mine[0];
    if (next) maxStallMs = Math.max(maxStallMs ?? 0, next.at - faultAt);
    else neverAcked++;
    if (region !== null) {
      const moved = mine.find(
        (a) => a.region !== null && a.region !== region && (healAt === null || a.at < healAt),
      );
      if (moved) {
        movedDevices++;
        maxMoveMs = Math.max(maxMoveMs ?? 0, moved.at - faultAt);
      }
    }
  }
  return {
    movedDevices: region === null ? null : movedDevices,
    firstAckAfterHealMs: afterHeal && healAt !== null ? afterHeal.at - healAt : null,
    maxStallMs,
    neverAcked,
    affectedDevices: affected.size,
    maxMoveMs,
  };
}
