import cluster from 'node:cluster';
import type { Registry } from 'prom-client';
import type { MetricsCollect, MetricsReply, MetricsRequest } from './primary';

const REPLY_TIMEOUT_MS = 10_000;

/**
 * /metrics in a cluster worker: the scrape lands on one worker, but what it must show is the
 * whole process. The worker asks the primary, which collects every worker's registry
 * (`getMetricsAsJSON`) and aggregates them (counters and histograms summed; metrics marked
 * `aggregator: 'first'`, the registry-wide database readings, taken once). This worker also
 * answers the primary's collection requests with its own registry.
 */
export class ClusterMetrics {
  private seq = 0;
  private readonly pending = new Map<number, (reply: MetricsReply) => void>();
  private readonly onMessage = (message: unknown): void => {
    const kind = (message as { kind?: string } | undefined)?.kind;
    if (kind === 'registry-metrics-collect') {
      const { round } = message as MetricsCollect;
      this.registry.getMetricsAsJSON().then(
        (metrics) => this.send({ kind: 'registry-metrics-collect', round, metrics }),
        () => this.send({ kind: 'registry-metrics-collect', round, metrics: [] }),
      );
    } else if (kind === 'registry-metrics') {
      const reply = message as MetricsReply;
      this.pending.get(reply.seq)?.(reply);
      this.pending.delete(reply.seq);
    }
  };

  private constructor(private readonly registry: Registry) {
    process.on('message', this.onMessage);
  }

  /** In a cluster worker, the client for `registry`; undefined in a process of its own. */
  static forWorker(registry: Registry): ClusterMetrics | undefined {
    return cluster.isWorker && process.send ? new ClusterMetrics(registry) : undefined;
  }

  private send(message: MetricsRequest | MetricsCollect): void {
    process.send?.(message);
  }

  /** The exposition text of every worker, aggregated by the primary. */
  metrics(): Promise<string> {
    const seq = ++this.seq;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(seq);
        reject(new Error(`the cluster primary did not answer a metrics request within ${REPLY_TIMEOUT_MS} ms`));
      }, REPLY_TIMEOUT_MS);
      this.pending.set(seq, (reply) => {
        clearTimeout(timer);
        if (reply.text !== undefined) resolve(reply.text);
        else reject(new Error(reply.error ?? 'metrics aggregation failed'));
      });
      this.send({ kind: 'registry-metrics', seq });
    });
  }

  close(): void {
    process.off('message', this.onMessage);
  }
}
