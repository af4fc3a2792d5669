/**
 * The workers this service has heard from lately, and when: every claim
 * (an idle worker polls), lease renewal (the heartbeat of a running job),
 * move, log post and end marks its worker seen. For the overview page.
 *
 * Kept in memory: a worker talks every few seconds, and a table written at
 * that rate would be one more write on the queue's hot path for a page that
 * only needs "seen a moment ago". In a cluster each replica hears only its
 * own workers; the cluster notifier shares what each heard, every few
 * seconds, so every replica lists them all.
 */

/** A worker not heard from for this long is no longer listed. */
export const WORKER_SEEN_WINDOW_MS = 60 * 60_000;

export class WorkerRegistry {
  private readonly lastSeen = new Map<string, number>();
  /** Seen here since the last share with other replicas. */
  private recent = new Map<string, number>();

  mark(workerId: string, at = Date.now()): void {
    this.lastSeen.set(workerId, at);
    this.recent.set(workerId, at);
  }

  /** What other replicas heard: the later time wins. */
  merge(entries: [workerId: string, at: number][]): void {
    for (const [id, at] of entries) {
      if (at > (this.lastSeen.get(id) ?? 0)) this.lastSeen.set(id, at);
    }
  }

  /** What was seen here since the last call, to share. */
  takeRecent(): [workerId: string, at: number][] {
    const entries = [...this.recent];
    this.recent = new Map();
    return entries;
  }

  /** Workers seen in the window, most recent first (older ones are forgotten). */
  list(now = Date.now()): { id: string; lastSeen: number }[] {
    const out: { id: string; lastSeen: number }[] = [];
    for (const [id, at] of this.lastSeen) {
      if (now - at > WORKER_SEEN_WINDOW_MS) this.lastSeen.delete(id);
      else out.push({ id, lastSeen: at });
    }
    return out.sort((a, b) => b.lastSeen - a.lastSeen);
  }
}
