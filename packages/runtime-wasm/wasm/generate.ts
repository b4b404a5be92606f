/**
 * Builds hostile modules too repetitive to write as WAT (tens of thousands of declarations) straight
 * as bytes, for the hostile corpus tests. Each is a valid WASI command shape (one exported memory,
 * `_start`) plus what it stresses.
 */

function uleb(value: number): Buffer {
  const out: number[] = [];
  let rest = value;
  do {
    let b = rest % 128;
    rest = Math.floor(rest / 128);
    if (rest > 0) b |= 0x80;
    out.push(b);
  } while (rest > 0);
  return Buffer.from(out);
}

const bytes = (...values: number[]) => Buffer.from(values);

function section(id: number, content: Buffer): Buffer {
  return Buffer.concat([bytes(id), uleb(content.length), content]);
}

function vec(items: Buffer[]): Buffer {
  return Buffer.concat([uleb(items.length), ...items]);
}

/** A vector of `count` copies of `item`. */
function repeated(count: number, item: Buffer): Buffer {
  return vec(Array.from({ length: count }, () => item));
}

const name = (text: string) => Buffer.concat([uleb(Buffer.byteLength(text)), Buffer.from(text, "utf8")]);

export interface GeneratedModule {
  /** Functions besides `_start`, each `() -> ()` with a body of `bodyOps` `nop`s. */
  functions?: number;
  bodyOps?: number;
  globals?: number;
  tables?: number;
  /** Passive element segments, each listing `_start` `elementsPerSegment` times. */
  elementSegments?: number;
  elementsPerSegment?: number;
  /** Passive data segments of `dataSegmentBytes` bytes each. */
  dataSegments?: number;
  dataSegmentBytes?: number;
  /** Extra exports of `_start` under other names. */
  exports?: number;
}

export function generateModule(spec: GeneratedModule): Uint8Array {
  const functions = spec.functions ?? 0;
  const start = uleb(functions);
  const parts: Buffer[] = [bytes(0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00)];
  parts.push(section(1, vec([bytes(0x60, 0x00, 0x00)])));
  parts.push(section(3, repeated(functions + 1, bytes(0x00))));
  if (spec.tables) parts.push(section(4, repeated(spec.tables, bytes(0x70, 0x00, 0x01))));
  parts.push(section(5, vec([bytes(0x00, 0x01)])));
  if (spec.globals) parts.push(section(6, repeated(spec.globals, bytes(0x7f, 0x00, 0x41, 0x00, 0x0b))));
  const extra = Array.from({ length: spec.exports ?? 0 }, (_, i) =>
    Buffer.concat([name(`e${i}`), bytes(0x00), start]),
  );
  parts.push(
    section(
      7,
      vec([
        Buffer.concat([name("memory"), bytes(0x02, 0x00)]),
        Buffer.concat([name("_start"), bytes(0x00), start]),
        ...extra,
      ]),
    ),
  );
  if (spec.elementSegments) {
    const segment = Buffer.concat([bytes(0x01, 0x00), repeated(spec.elementsPerSegment ?? 1, start)]);
    parts.push(section(9, repeated(spec.elementSegments, segment)));
  }
  if (spec.dataSegments) parts.push(section(12, uleb(spec.dataSegments)));
  const body = (ops: number) => {
    const code = Buffer.concat([bytes(0x00), Buffer.alloc(ops, 0x01), bytes(0x0b)]);
    return Buffer.concat([uleb(code.length), code]);
  };
  const filler = body(spec.bodyOps ?? 0);
  parts.push(section(10, vec([...Array.from({ length: functions }, () => filler), body(0)])));
  if (spec.dataSegments) {
    const size = spec.dataSegmentBytes ?? 1;
    parts.push(
      section(11, repeated(spec.dataSegments, Buffer.concat([bytes(0x01), uleb(size), Buffer.alloc(size)]))),
    );
  }
  return new Uint8Array(Buffer.concat(parts));
}
