import { Logger } from '@nestjs/common';
import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import { isClusterEvent } from './cluster-events';
import { isLockRequest, LockServer, type LockReply } from './shared-locks';

type metric = MetricObjectWithValues<MetricValue<string>>;

/** A worker asking for the cluster-wide metrics (it serves GET /metrics). */
export interface MetricsRequest {
  kind: 'registry-metrics';
  seq: number;
}
/** The primary asking one worker for its own metrics, or that worker's answer. */
export interface MetricsCollect {
  kind: 'registry-metrics-collect';
  round: number;
  metrics?: MetricObjectWithValues<MetricValue<string>>[];
}
/** The primary's answer to a MetricsRequest: the exposition text of every worker, aggregated. */
export interface MetricsReply {
  kind: 'registry-metrics';
  seq: number;
  text?: string;
  error?: string;
}

const COLLECT_TIMEOUT_MS = 5_000;
/** A worker that dies this soon after its start counts as a crash loop: back off before the next fork. */
const RESTART_BACKOFF_MS = [250, 1_000, 5_000, 15_000];
/** Consecutive workers that exit before listening after which the primary gives up (exit 1). */
const MAX_FAILED_STARTS = 3;

/**
 * The cluster primary (REGISTRY_WORKERS > 1): it serves no HTTP itself. It forks the workers
 * (each runs the whole application; the listening socket is shared and connections are
 * dealt round-robin), keeps the locks they share (LockServer), relays the events one worker
 * publishes to the others (ClusterEvents), aggregates /metrics across them, restarts a worker
 * that dies, and on SIGTERM/SIGINT passes the signal on and exits once every worker has shut
 * down gracefully.
 */
export class ClusterPrimary {
  private readonly logger = new Logger('Cluster');
  private readonly locks = new LockServer((id, message) => this.sendTo(id, message));
  private readonly collections = new Map<number, { pending: Set<number>; parts: metric[][]; done: (text?: string, error?: string) => void }>();
  private collectRound = 0;
  private stopping = false;
  private stopSignal?: NodeJS.Signals;
  private crashes = 0;
  private exitCode = 0;
  /** Workers that have listened; one that exits without having listened is a failed start. */
  private readonly listening = new Set<number>();
  private failedStarts = 0;

  constructor(private readonly workers: number) {}

  start(): Promise<number> {
    cluster.setupPrimary({ serialization: 'advanced' });
    cluster.on('message', (worker, message: unknown) => this.onMessage(worker, message));
    const allExited = new Promise<number>((resolve) => {
      cluster.on('exit', (worker, code, signal) => {
        this.locks.forget(worker.id);
        this.dropFromCollections(worker.id);
        if (this.stopping) {
          // A worker still booting when the signal came has no handler yet and dies of it: that is a clean stop too.
          if (code !== 0 && signal !== this.stopSignal) this.exitCode = 1;
          if (Object.keys(cluster.workers ?? {}).length === 0) resolve(this.exitCode);
          return;
        }
        if (!this.listening.delete(worker.id) && ++this.failedStarts >= MAX_FAILED_STARTS) {
          // Workers die before they listen (a port in use, a database they cannot open): restarting cannot help.
          this.logger.error(`${this.failedStarts} workers in a row exited before listening; stopping (see their errors above)`);
          this.exitCode = 1;
          this.stop('SIGTERM');
          if (Object.keys(cluster.workers ?? {}).length === 0) resolve(this.exitCode);
          return;
        }
        const delay = RESTART_BACKOFF_MS[Math.min(this.crashes, RESTART_BACKOFF_MS.length - 1)]!;
        this.crashes++;
        this.logger.error(`worker ${worker.process.pid} exited (${signal ?? `code ${code}`}); starting another in ${delay} ms`);
        // Not unref'd: with every worker dead, this timer is what keeps the primary alive to restart them.
        setTimeout(() => {
          if (!this.stopping) this.fork();
        }, delay);
      });
    });
    cluster.on('listening', (worker) => {
      this.listening.add(worker.id);
      this.failedStarts = 0;
    });
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      process.on(signal, () => this.stop(signal));
    }
    for (let i = 0; i < this.workers; i++) this.fork();
    this.logger.log(`primary ${process.pid}: ${this.workers} workers`);
    return allExited;
  }

  private fork(): void {
    const worker = cluster.fork();
    // A worker that stayed up for a minute ends a crash streak.
    const healthy = setTimeout(() => (this.crashes = 0), 60_000);
    healthy.unref();
    worker.once('exit', () => clearTimeout(healthy));
  }

  /** Passes the signal on to every worker (each shuts down gracefully on its own) and stops restarting them. */
  private stop(signal: NodeJS.Signals): void {
    if (this.stopping) return;
    this.stopping = true;
    this.stopSignal = signal;
    this.logger.log(`${signal}: stopping ${Object.keys(cluster.workers ?? {}).length} workers`);
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill(signal);
  }

  private sendTo(workerId: number, message: LockReply | MetricsReply | MetricsCollect): void {
    const worker = cluster.workers?.[workerId];
    if (worker?.isConnected()) worker.send(message);
  }

  private onMessage(worker: Worker, message: unknown): void {
    if (isLockRequest(message)) {
      this.locks.handle(worker.id, message);
      return;
    }
    if (isClusterEvent(message)) {
      for (const other of Object.values(cluster.workers ?? {})) if (other && other.id !== worker.id && other.isConnected()) other.send(message);
      return;
    }
    const kind = (message as { kind?: string } | undefined)?.kind;
    if (kind === 'registry-metrics') this.collectFor(worker.id, (message as MetricsRequest).seq);
    else if (kind === 'registry-metrics-collect') this.collected(worker.id, message as MetricsCollect);
  }

  /** Asks every live worker for its metrics, then answers the asking worker with their aggregate. */
  private collectFor(askingWorker: number, seq: number): void {
    const round = ++this.collectRound;
    const live = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && w.isConnected());
    const timer = setTimeout(() => finish(undefined, `metrics of ${collection.pending.size} workers did not arrive within ${COLLECT_TIMEOUT_MS} ms`), COLLECT_TIMEOUT_MS);
    const finish = (text?: string, error?: string): void => {
      clearTimeout(timer);
      this.collections.delete(round);
      this.sendTo(askingWorker, { kind: 'registry-metrics', seq, text, error });
    };
    const collection = {
      pending: new Set(live.map((w) => w.id)),
      parts: [] as metric[][],
      done: (text?: string, error?: string) => finish(text, error),
    };
    this.collections.set(round, collection);
    for (const w of live) w.send({ kind: 'registry-metrics-collect', round } satisfies MetricsCollect);
  }

  private collected(workerId: number, message: MetricsCollect): void {
    const collection = this.collections.get(message.round);
    if (!collection?.pending.delete(workerId)) return;
    collection.parts.push(message.metrics ?? []);
    if (collection.pending.size === 0) this.aggregate(collection);
  }

  private dropFromCollections(workerId: number): void {
    for (const collection of this.collections.values()) {
      if (collection.pending.delete(workerId) && collection.pending.size === 0) this.aggregate(collection);
    }
  }

  private aggregate(collection: { parts: metric[][]; done: (text?: string, error?: string) => void }): void {
    AggregatorRegistry.aggregate(collection.parts)
      .metrics()
      .then(
        (text) => collection.done(text),
        (error: unknown) => collection.done(undefined, error instanceof Error ? error.message : String(error)),
      );
  }
}
