/** One measured figure of a benchmark. */
export interface BenchFigure {
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  readonly backend?: string;
  readonly note?: string;
}

/** A benchmark file `bench/<area>.bench.ts` default-exports one of these. */
export type Benchmark = () => Promise<readonly BenchFigure[]>;

/** A figure as recorded in bench/results.json. */
export interface BenchRecord extends BenchFigure {
  readonly area: string;
  readonly cores: number;
  readonly date: string;
  readonly commit: string;
}
