import { describe, expect, it } from 'vitest';
import { BenchConfigError, loadConfig, SHAPE_NAMES } from '../bench/config';
import { criticalPath, stepLabel, type Span } from '../bench/critical-path';
import { geometricMean } from '../bench/shape-report';

const T0 = Date.UTC(2026, 0, 1);
const span = (step: string, from: number, to: number, summary?: string): Span => ({
  step,
  summary,
  start: T0 + from * 1000,
  end: T0 + to * 1000,
});

describe('the bench by shape', () => {
  it('finds the step that ran alone at the end, the tail after both lanes were last busy, and the idle lanes', () => {
    const spans = [
      span('copySchemaSection', 0.5, 1),
      span('copyChunks', 1, 6, 'copy 1 chunk: big'),
      span('copyChunks', 1, 3, 'copy 1 chunk: small'),
      span('buildTableIndexes', 3, 4, 'indexes of 1 copied table: small'),
      span('buildTableIndexes', 6, 10, 'indexes of 1 copied table: big'),
    ];
    const p = criticalPath(spans, { start: T0, close: T0 + 10_500 }, 2, 12);
    expect(p.last).toEqual({
      step: 'buildTableIndexes',
      summary: 'indexes of 1 copied table: big',
      seconds: 4,
      aloneSeconds: 4,
    });
    // Both lanes were busy from 1 s to 4 s; from there on one lane or none.
    expect(p.tailSeconds).toBeCloseTo(6.5);
    expect(p.tail.map((t) => [t.summary, t.seconds])).toEqual([
      ['indexes of 1 copied table: big', 4],
      ['copy 1 chunk: big', 2],
    ]);
    // Alone: the big copy from 4 s to 6 s, the big index build throughout, the schema at the start.
    expect(p.idleLanes.map((t) => [t.summary ?? t.step, t.seconds])).toEqual([
      ['indexes of 1 copied table: big', 4],
      ['copy 1 chunk: big', 2],
      ['copySchemaSection', 0.5],
    ]);
    // What the wall time waited on: the schema, the big table's copy, then its indexes.
    expect(p.chain.map((c) => [c.step, c.seconds])).toEqual([
      ['copySchemaSection', 0.5],
      ['copyChunks', 5],
      ['buildTableIndexes', 4],
    ]);
    expect(p.chainGapSeconds).toBeCloseTo(1);
    expect(p.allLanesSeconds).toBeCloseTo(3);
    expect(p.someLanesSeconds).toBeCloseTo(6.5);
    expect(p.noStepSeconds).toBeCloseTo(1);
    expect(p.afterLastStepSeconds).toBeCloseTo(0.5);
    expect(p.outsideWorkflowSeconds).toBeCloseTo(1.5);
  });

  it('counts a last step that overlapped another until its end as not alone', () => {
    const p = criticalPath([span('a', 0, 5), span('b', 1, 5)], { start: T0, close: T0 + 5000 }, 2, 5);
    expect(p.last?.aloneSeconds).toBe(0);
    expect(p.tailSeconds).toBe(0);
  });

  it('names a step by its summary without the databases it ran between', () => {
    const label = (summary: string) => stepLabel({ step: 's', summary });
    expect(label('post-data schema: 127.0.0.1:5432/bench_src → 127.0.0.1:5432/bench_dst')).toBe(
      's (post-data schema)',
    );
    expect(label('verify that no write passed the fence on 127.0.0.1:5432/bench_src')).toBe(
      's (verify that no write passed the fence)',
    );
    expect(label('copy 2 chunks: narrow.ticks, toast.blobs')).toBe(
      's (copy 2 chunks: narrow.ticks, toast.blobs)',
    );
  });

  it('means ratios geometrically over the shapes that were measured', () => {
    expect(geometricMean([2, 0.5, undefined])).toEqual({ mean: 1, n: 2 });
    expect(geometricMean([undefined])).toBeUndefined();
  });

  it('takes shapes by name or all of them, and refuses an unknown one naming the flag', () => {
    const parse = (argv: string[]) => loadConfig(argv, {});
    expect(parse(['--shape', 'narrow,toast'])).toMatchObject({
      shapes: ['toast', 'narrow'],
      size: 'default',
    });
    expect(parse(['--shape', 'all', '--size', 'small'])).toMatchObject({
      shapes: [...SHAPE_NAMES],
      size: 'small',
    });
    expect(parse([])).toMatchObject({ shapes: [] });
    expect(() => parse(['--shape', 'wide'])).toThrow(BenchConfigError);
    expect(() => parse(['--shape', 'wide'])).toThrow(/--shape: expected all or shape names/);
    expect(() => parse(['--size', 'huge'])).toThrow(/--size/);
  });
});
