/**
 * Group commit: while one write is in flight, later calls queue up and go out together as the next
 * write. Under no load every call is written at once (no timer, no added latency); under load many
 * calls share one statement, which is what keeps one row per execute cheap on the hot path.
 */
export function createGroupWriter<T>(
  writeMany: (items: T[]) => Promise<void>,
  options: { maxBatch?: number; writeOne?: (item: T) => Promise<void> } = {},
): (item: T) => Promise<void> {
  const maxBatch = options.maxBatch ?? 200;
  const writeOne = options.writeOne ?? ((item: T) => writeMany([item]));
  let queue: { item: T; resolve: () => void; reject: (error: unknown) => void }[] = [];
  let writing = false;

  async function drain(): Promise<void> {
    writing = true;
    while (queue.length > 0) {
      const batch = queue.slice(0, maxBatch);
      queue = queue.slice(batch.length);
      try {
        await writeMany(batch.map((entry) => entry.item));
        for (const entry of batch) entry.resolve();
      } catch (error) {
        if (batch.length === 1) {
          batch[0]?.reject(error);
          continue;
        }
        // One bad row must not fail its neighbours: retry them one by one.
        await Promise.all(batch.map((entry) => writeOne(entry.item).then(entry.resolve, entry.reject)));
      }
    }
    writing = false;
  }

  return (item) =>
    new Promise<void>((resolve, reject) => {
      queue.push({ item, resolve, reject });
      if (!writing) void drain();
    });
}
