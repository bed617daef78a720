import type Database from 'better-sqlite3';

/** A projection's checkpoint: the last position folded into its state, and the state itself. */
export interface Checkpoint {
  readonly position: number;
  readonly state: unknown;
}

/** Where projections keep their checkpoints. */
export interface CheckpointStore {
  load(name: string): Promise<Checkpoint | undefined>;
  save(name: string, checkpoint: Checkpoint): Promise<void>;
}

export class MemoryCheckpointStore implements CheckpointStore {
  private readonly saved = new Map<string, string>();
  async load(name: string): Promise<Checkpoint | undefined> {
    const json = this.saved.get(name);
    return json === undefined ? undefined : (JSON.parse(json) as Checkpoint);
  }
  async save(name: string, checkpoint: Checkpoint): Promise<void> {
    this.saved.set(name, JSON.stringify(checkpoint));
  }
}

/** Checkpoints in a SQLite database (the event log's own file, table `checkpoints`). */
export class SqliteCheckpointStore implements CheckpointStore {
  private readonly db: Database.Database;
  constructor(db: Database.Database) {
    this.db = db;
    db.exec(
      'CREATE TABLE IF NOT EXISTS checkpoints (name TEXT PRIMARY KEY, position INTEGER NOT NULL, state TEXT)',
    );
  }
  async load(name: string): Promise<Checkpoint | undefined> {
    const row = this.db
      .prepare<[string], { position: number; state: string | null }>(
        'SELECT position, state FROM checkpoints WHERE name = ?',
      )
      .get(name);
    return row
      ? { position: row.position, state: row.state === null ? undefined : JSON.parse(row.state) }
      : undefined;
  }
  async save(name: string, checkpoint: Checkpoint): Promise<void> {
    this.db
      .prepare(
        'INSERT INTO checkpoints (name, position, state) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET position = excluded.position, state = excluded.state',
      )
      .run(name, checkpoint.position, JSON.stringify(checkpoint.state ?? null));
  }
}
