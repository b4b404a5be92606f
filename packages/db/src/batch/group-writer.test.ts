import { describe, expect, it } from "vitest";
import { createGroupWriter } from "./group-writer.ts";

const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

describe("createGroupWriter", () => {
  it("writes a lone call at once and groups calls that arrive while a write is in flight", async () => {
    const writes: number[][] = [];
    const write = createGroupWriter<number>(async (items) => {
      writes.push(items);
      await tick();
    });
    await write(1);
    await Promise.all([write(2), write(3), write(4), write(5)]);
    expect(writes).toEqual([[1], [2], [3, 4, 5]]);
  });

  it("caps the batch size", async () => {
    const sizes: number[] = [];
    const write = createGroupWriter<number>(
      async (items) => {
        sizes.push(items.length);
        await tick();
      },
      { maxBatch: 3 },
    );
    await Promise.all(Array.from({ length: 8 }, (_, i) => write(i)));
    expect(sizes).toEqual([1, 3, 3, 1]);
  });

  it("retries a failed batch row by row so only the bad row fails", async () => {
    const stored: number[] = [];
    const write = createGroupWriter<number>(
      async (items) => {
        await tick();
        if (items.includes(13)) throw new Error("bad row");
        stored.push(...items);
      },
      {
        writeOne: async (item) => {
          if (item === 13) throw new Error("bad row");
          stored.push(item);
        },
      },
    );
    const results = await Promise.allSettled([write(1), write(2), write(13), write(4)]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "fulfilled", "rejected", "fulfilled"]);
    expect(stored.sort()).toEqual([1, 2, 4]);
  });
});
