interface Waiting<I, O> {
  input: I;
  resolve: (output: O) => void;
  reject: (error: unknown) => void;
}

export interface GroupStatementOptions<I> {
  /** The most inputs one statement takes; the rest wait for the next. */
  maxBatch?: number;
  /**
   * Inputs with the same key never share a statement: the later one waits for the next, so it
   * sees what the earlier one did (two heartbeats of one machine).
   */
  keyOf?: (input: I) => string;
}

/**
 * Runs many callers' statements as one. While one statement is in flight the next inputs
 * collect, and go together when it returns; an input that finds nothing in flight goes at once,
 * so a quiet server adds no latency. Under load this trades N round trips, N statements and (for
 * writes) N commits for one: the work the database and the driver do per request falls as load
 * rises. `run` answers one output per input, in the inputs' order.
 */
export class GroupStatement<I, O> {
  readonly #run: (inputs: I[]) => Promise<O[]>;
  readonly #maxBatch: number;
  readonly #keyOf: ((input: I) => string) | undefined;
  #queue: Waiting<I, O>[] = [];
  #running = false;
  #draining: Promise<void> | undefined;

  constructor(run: (inputs: I[]) => Promise<O[]>, options: GroupStatementOptions<I> = {}) {
    this.#run = run;
    this.#maxBatch = options.maxBatch ?? 500;
    this.#keyOf = options.keyOf;
  }

  submit(input: I): Promise<O> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ input, resolve, reject });
      if (!this.#running) this.#draining = this.#drain();
    });
  }

  /**
   * Resolves once every input submitted so far is run and answered: a stopping server waits for
   * this before it closes the pool, so nothing it accepted is cut off mid-statement.
   */
  async flush(): Promise<void> {
    while (this.#draining !== undefined) await this.#draining;
  }

  async #drain(): Promise<void> {
    this.#running = true;
    try {
      while (this.#queue.length > 0) {
        const batch = this.#take();
        try {
          const outputs = await this.#run(batch.map((w) => w.input));
          for (const [i, waiting] of batch.entries()) waiting.resolve(outputs[i]!);
        } catch (error) {
          for (const waiting of batch) waiting.reject(error);
        }
      }
    } finally {
      this.#running = false;
      this.#draining = undefined;
    }
  }

  #take(): Waiting<I, O>[] {
    const keyOf = this.#keyOf;
    if (keyOf === undefined) return this.#queue.splice(0, this.#maxBatch);
    const batch: Waiting<I, O>[] = [];
    const keys = new Set<string>();
    const later: Waiting<I, O>[] = [];
    for (const waiting of this.#queue) {
      const key = keyOf(waiting.input);
      if (batch.length < this.#maxBatch && !keys.has(key)) {
        keys.add(key);
        batch.push(waiting);
      } else later.push(waiting);
    }
    this.#queue = later;
    return batch;
  }
}
