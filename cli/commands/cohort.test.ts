import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, writeFile, cp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Lucid } from 'lucid-cardano';
import {
  DevnetLedger,
  DevnetProvider,
  closeTx,
  finalizeTx,
  findCohortState,
  readCohortState,
  signTrainingSnapshot,
  startDevnetServer,
  type CohortScripts,
  type DevnetServer,
} from '../../offchain/index.js';
import { main } from '../main.js';
import { CapturedStream } from '../test-io.js';
import { loadPartyWallet, type PartyWallet } from '../party-wallet.js';
import { openCohort } from '../cohort-session.js';

let home: string;
let ledger: DevnetLedger;
let server: DevnetServer;
let provider: DevnetProvider;
let env: Record<string, string>;

const run = async (argv: string[]) => {
  const stdout = new CapturedStream();
  const stderr = new CapturedStream();
  const code = await main(argv, { stdout, stderr, env });
  return { code, stdout: stdout.text, stderr: stderr.text };
};
const as = (party: string, argv: string[]) => ['--keys', join(home, party), ...argv];
const ok = async <T = Record<string, unknown>>(argv: string[]): Promise<T> => {
  const result = await run(['--json', ...argv]);
  if (result.code !== 0) throw new Error(`dml ${argv.join(' ')} -> ${result.code}: ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
};
/** A refused command: exit 1 and one line on stderr containing `text`. */
const refused = async (argv: string[], text: string | RegExp) => {
  const result = await run(argv);
  expect(result.stderr).toMatch(text);
  expect(result.code).toBe(1);
  expect(result.stderr.trim().split('\n')).toHaveLength(1);
};

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'dml-cohort-cli-'));
  ledger = await DevnetLedger.open(join(home, 'devnet'));
  server = await startDevnetServer(ledger);
  provider = new DevnetProvider(server.url);
  env = { DML_HOME: home, DML_DEVNET_URL: server.url };
  for (const party of ['creator', 'a', 'b', 'c', 'd']) {
    await ok(as(party, ['keys', 'new']));
    await ok(as(party, ['devnet', 'fund', '--ada', '100']));
  }
});
afterAll(async () => {
  await server.close();
  ledger.close();
});

/** Close the epoch at `round` with every party's Hydra signature, then finalize after the deadline. */
const closeAndFinalize = async (
  lucid: Lucid,
  scripts: CohortScripts,
  parties: PartyWallet[],
  round: bigint,
) => {
  const state = readCohortState(await findCohortState(lucid, scripts));
  const hash = 'cd'.repeat(32);
  const signatures = state.parties.map((sp) => {
    const w = parties.find((p) => p.pkh === sp.pkh)!;
    return signTrainingSnapshot(w.keys.hydraSigningKey, {
      cohortId: scripts.cohortId,
      epoch: state.epoch,
      round,
      aggregateHash: hash,
    });
  });
  const closer = parties[0]!;
  lucid.selectWalletFromPrivateKey(closer.privateKey);
  let now = (await provider.info()).time;
  const close = await closeTx(
    lucid,
    scripts,
    await findCohortState(lucid, scripts),
    { round, aggregateHash: hash, signatures },
    closer.pkh,
    now + 20_000,
  ).complete();
  await provider.awaitTx(await (await close.sign().complete()).submit());
  await provider.advance({ slots: 100 });
  now = (await provider.info()).time;
  const fin = await finalizeTx(lucid, scripts, await findCohortState(lucid, scripts), now).complete();
  await provider.awaitTx(await (await fin.sign().complete()).submit());
};

/** The same close; the finalize through `dml cohort finalize`, refused inside the contestation period. */
const closeThenFinalizeByCli = async (
  lucid: Lucid,
  id: string,
  parties: PartyWallet[],
  round: bigint,
  party: string,
) => {
  const { scripts } = await openCohort(lucid, id);
  const state = readCohortState(await findCohortState(lucid, scripts));
  const hash = 'ef'.repeat(32);
  const signatures = state.parties.map((sp) =>
    signTrainingSnapshot(parties.find((p) => p.pkh === sp.pkh)!.keys.hydraSigningKey, {
      cohortId: scripts.cohortId,
      epoch: state.epoch,
      round,
      aggregateHash: hash,
    }),
  );
  lucid.selectWalletFromPrivateKey(parties[0]!.privateKey);
  const now = (await provider.info()).time;
  const close = await closeTx(
    lucid,
    scripts,
    await findCohortState(lucid, scripts),
    { round, aggregateHash: hash, signatures },
    parties[0]!.pkh,
    now + 20_000,
  ).complete();
  await provider.awaitTx(await (await close.sign().complete()).submit());
  await refused(as(party, ['cohort', 'finalize', '--cohort', id]), /contestation period .* runs until/);
  await ok(['devnet', 'advance', '--seconds', '100']);
  return ok<{ phase: string; epoch: number }>(as(party, ['cohort', 'finalize', '--cohort', id]));
};

describe('dml cohort, against a devnet', () => {
  it('creates, joins, shows, starts an epoch; refuses bad input in one line; slashes by a vote file exchanged between voters', async () => {
    const { cohort: id } = await ok<{ cohort: string }>(
      as('creator', ['cohort', 'create', '--min-deposit', '10']),
    );
    expect(id).toMatch(/^[0-9a-f]{64}#\d+$/);

    await refused(
      as('a', ['cohort', 'join', '--cohort', id, '--deposit', '5']),
      /below the cohort's minimum of 10 ada/,
    );
    for (const p of ['a', 'b', 'c']) await ok(as(p, ['cohort', 'join', '--cohort', id, '--deposit', '10']));
    await refused(as('a', ['cohort', 'join', '--cohort', id, '--deposit', '10']), /already a member/);

    // Bad input: malformed key file, malformed and unknown cohort ids, claiming before completion.
    await cp(join(home, 'd'), join(home, 'broken'), { recursive: true });
    await writeFile(
      join(home, 'broken', 'payment.sk'),
      '{"type": "PaymentSigningKeyShelley_ed25519", "cborHex": "00"}',
    );
    await refused(
      as('broken', ['cohort', 'join', '--cohort', id, '--deposit', '10']),
      /payment\.sk does not hold a 32-byte key/,
    );
    await refused(as('a', ['cohort', 'show', '--cohort', 'nonsense']), /not a cohort id: nonsense/);
    await refused(as('a', ['cohort', 'show', '--cohort', `${'ab'.repeat(32)}#0`]), /unknown cohort/);
    await refused(
      as('a', ['cohort', 'claim', '--cohort', id]),
      /not Completed: a deposit is claimed only after completion/,
    );

    await ok(as('a', ['cohort', 'start-epoch', '--cohort', id]));
    const shown = await ok<{ epoch: number; members: unknown[]; parties: unknown[]; deposits: unknown[] }>(
      as('b', ['cohort', 'show', '--cohort', id]),
    );
    expect(shown).toMatchObject({ epoch: 1 });
    expect(shown.members).toHaveLength(3);
    expect(shown.parties).toHaveLength(3);
    expect(shown.deposits).toHaveLength(3);
    const human = await run(as('b', ['cohort', 'show', '--cohort', id]));
    expect(human.stdout).toContain('epoch 1, Open (round 0)');

    // The head ends early (round 3 of 10, not an epoch boundary): Premature.
    const lucid = await provider.lucid();
    const wallets = await Promise.all(['a', 'b', 'c'].map((p) => loadPartyWallet(join(home, p))));
    const { scripts } = await openCohort(lucid, id);
    await closeAndFinalize(lucid, scripts, wallets, 3n);
    expect(
      (await ok<{ phase: { kind: string } }>(as('a', ['cohort', 'show', '--cohort', id]))).phase.kind,
    ).toBe('Premature');
    await refused(as('d', ['cohort', 'join', '--cohort', id, '--deposit', '10']), /has ended \(Premature\)/);
    await refused(as('a', ['cohort', 'refund', '--cohort', id]), /voting window .* is open/);

    // a and b vote to slash c: a writes the vote, b signs it, anyone submits it.
    const [a, b, c] = wallets as [PartyWallet, PartyWallet, PartyWallet];
    const file = join(home, 'vote.json');
    await refused(
      as('a', ['cohort', 'vote-slash', '--cohort', id, '--accused', c.pkh]),
      /not a strict majority/,
    );
    await ok(
      as('a', ['cohort', 'vote-slash', '--cohort', id, '--accused', c.pkh, '--voters', b.pkh, '--out', file]),
    );
    await refused(as('c', ['cohort', 'sign-vote', '--tx', file]), /not among the voters/);
    await ok(as('b', ['cohort', 'sign-vote', '--tx', file]));
    const slashed = await ok<{ txHash: string }>(as('d', ['cohort', 'submit-vote', '--tx', file]));
    expect(slashed.txHash).toMatch(/^[0-9a-f]{64}$/);
    const paid = (await lucid.utxosAt(a.address)).filter((u) => u.txHash === slashed.txHash);
    expect(paid.map((u) => u.assets['lovelace'])).toContain(15_000_000n); // its 10 ada back + half of c's 10
    const end = await ok<{ deposits: unknown[] }>(as('a', ['cohort', 'show', '--cohort', id]));
    expect(end.deposits).toHaveLength(0);
  });

  it('completes a cohort and lets each party claim its deposit once; refunds after an unvoted premature end', async () => {
    const { cohort: id } = await ok<{ cohort: string }>(
      as('d', ['cohort', 'create', '--min-deposit', '5', '--final-round', '2', '--epoch-rounds', '2']),
    );
    for (const p of ['a', 'b']) await ok(as(p, ['cohort', 'join', '--cohort', id, '--deposit', '7.5']));
    await ok(as('b', ['cohort', 'start-epoch', '--cohort', id]));
    const lucid = await provider.lucid();
    const wallets = await Promise.all(['a', 'b'].map((p) => loadPartyWallet(join(home, p))));
    await refused(as('a', ['cohort', 'finalize', '--cohort', id]), /Open: only a closed cohort is finalized/);
    expect(await closeThenFinalizeByCli(lucid, id, wallets, 2n, 'd')).toMatchObject({ phase: 'Completed' });
    const claimed = await ok<{ lovelace: string }>(as('a', ['cohort', 'claim', '--cohort', id]));
    expect(claimed.lovelace).toBe('7500000');
    await refused(as('a', ['cohort', 'claim', '--cohort', id]), /no deposit of this party/);
    await refused(as('a', ['cohort', 'refund', '--cohort', id]), /Completed: a refund needs a premature end/);

    const { cohort: id2 } = await ok<{ cohort: string }>(
      as('c', ['cohort', 'create', '--voting-window', '60']),
    );
    await ok(as('a', ['cohort', 'join', '--cohort', id2, '--deposit', '10']));
    await ok(as('a', ['cohort', 'start-epoch', '--cohort', id2]));
    await closeAndFinalize(lucid, (await openCohort(lucid, id2)).scripts, [wallets[0]!], 1n);
    await ok(['devnet', 'advance', '--seconds', '120']);
    const refunded = await ok<{ lovelace: string }>(as('a', ['cohort', 'refund', '--cohort', id2]));
    expect(refunded.lovelace).toBe('10000000');
  });

  it('slashes with every voter signing on this machine (--with-keys)', async () => {
    const { cohort: id } = await ok<{ cohort: string }>(as('b', ['cohort', 'create']));
    for (const p of ['a', 'b', 'c']) await ok(as(p, ['cohort', 'join', '--cohort', id, '--deposit', '10']));
    await ok(as('c', ['cohort', 'start-epoch', '--cohort', id]));
    const lucid = await provider.lucid();
    const wallets = await Promise.all(['a', 'b', 'c'].map((p) => loadPartyWallet(join(home, p))));
    await closeAndFinalize(lucid, (await openCohort(lucid, id)).scripts, wallets, 4n);
    await refused(
      as('a', ['cohort', 'vote-slash', '--cohort', id, '--accused', wallets[0]!.pkh]),
      /cannot vote on itself/,
    );
    const slashed = await ok<{ share: string; voters: string[] }>(
      as('b', [
        'cohort',
        'vote-slash',
        '--cohort',
        id,
        '--accused',
        wallets[0]!.pkh,
        '--with-keys',
        join(home, 'c'),
      ]),
    );
    expect(slashed).toMatchObject({ share: '5000000', voters: [wallets[1]!.pkh, wallets[2]!.pkh] });
    await refused(as('a', ['cohort', 'claim', '--cohort', id]), /Premature, not Completed/);
  });
});
