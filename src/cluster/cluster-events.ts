import cluster from 'node:cluster';

/** Worker → primary → every other worker: an event one worker saw that the others must know. */
export interface ClusterEvent {
  kind: 'registry-event';
  topic: string;
  payload: unknown;
}

export const isClusterEvent = (m: unknown): m is ClusterEvent => (m as ClusterEvent | undefined)?.kind === 'registry-event' && typeof (m as ClusterEvent).topic === 'string';

/**
 * Events between the workers of one registry process, relayed by the primary (who sends each
 * to every worker but its sender). For in-memory state that must hold for the whole process,
 * such as the login throttle: each worker applies its own events at once and the others'
 * as they arrive. Outside a cluster there is nobody to tell: `clusterEvents()` is undefined.
 */
export class ClusterEvents {
  private readonly handlers = new Map<string, Set<(payload: unknown) => void>>();
  private readonly onMessage = (message: unknown): void => {
    if (!isClusterEvent(message)) return;
    for (const handler of this.handlers.get(message.topic) ?? []) handler(message.payload);
  };

  constructor(private readonly channel: { send(message: ClusterEvent): unknown; on(event: 'message', listener: (m: unknown) => void): unknown }) {
    channel.on('message', this.onMessage);
  }

  publish(topic: string, payload: unknown): void {
    this.channel.send({ kind: 'registry-event', topic, payload });
  }

  /** Handles the other workers' events on `topic`; returns the unsubscribe function. */
  subscribe<T>(topic: string, handler: (payload: T) => void): () => void {
    let set = this.handlers.get(topic);
    if (!set) this.handlers.set(topic, (set = new Set()));
    const h = handler as (payload: unknown) => void;
    set.add(h);
    return () => set.delete(h);
  }
}

let workerEvents: ClusterEvents | undefined;

/** This worker's events (one per process), or undefined outside a cluster. */
export function clusterEvents(): ClusterEvents | undefined {
  if (!cluster.isWorker || !process.send) return undefined;
  return (workerEvents ??= new ClusterEvents({ send: (m) => process.send!(m), on: (event, listener) => process.on(event, listener) }));
}
