import { randomBytes } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { C, Emulator, Lucid } from 'lucid-cardano';
import { headKeyFromSeed, headOutputHex, type HeadKey } from './cardano-head-tx.js';
import { EmbeddedHeadChain } from './embedded-chain.js';
import { decodeHeadCustodyDatum } from './head-datum.js';
import type { HeadUTxO } from './head-ledger.js';
import type { ConfirmedSnapshot, HeadChainEvent } from './head-types.js';
import { LucidEmulatorLayer1, signCardanoTransaction } from './layer1.js';
import { hydraSigningKeyFromSeed, signSnapshot, vkeyOf } from './snapshot-signing.js';

const PERIOD = 60;

const setup = async (n: number) => {
  const users = Array.from({ length: n }, () => headKeyFromSeed(randomBytes(32)));
  const layer1 = await LucidEmulatorLayer1.create({
    accounts: users.map((u) => ({ address: u.address, lovelace: 50_000_000n })),
    operatorKey: C.PrivateKey.generate_ed25519().to_bech32(),
  });
  const chain = new EmbeddedHeadChain(layer1);
  const events: HeadChainEvent[] = [];
  chain.observe((e) => events.push(e));
  /** The last chain event other than a Tick (a Tick follows every observation that found something). */
  const lastEvent = () => events.filter((e) => e.tag !== 'Tick').at(-1);
  const keys = users.map(() => hydraSigningKeyFromSeed(randomBytes(32)));
  const parties = keys.map(vkeyOf);
  const expectPosted = async (promise: Promise<string | undefined>) => expect(await promise).toBeUndefined();
  await expectPosted(
    chain.post({ tag: 'InitTx', parameters: { parties, contestationPeriod: PERIOD } }, parties[0]),
  );
  const init = events.find((e) => e.tag === 'OnInitTx');
  if (init?.tag !== 'OnInitTx') throw new Error('no OnInitTx');
  const headId = init.headId;
  const commit = async (i: number) => {
    const refs = layer1.utxosAt(users[i]!.address).map((u) => `${u.txHash}#${u.outputIndex}`);
    const draft = await chain.draftCommit(headId, parties[i]!, refs);
    await chain.submit(signCardanoTransaction(draft.cborHex, users[i]!.privateKey));
    return refs;
  };
  const snapshot = (number: number, utxo: HeadUTxO, signers = keys): ConfirmedSnapshot => {
    const content = { headId, version: 0, number, confirmed: [], utxo };
    return {
      tag: 'ConfirmedSnapshot',
      snapshot: content,
      signatures: signers.map((k) => signSnapshot(k, content)),
    };
  };
  return { users, layer1, chain, events, lastEvent, keys, parties, headId, commit, snapshot, expectPosted };
};

const headDatum = (layer1: LucidEmulatorLayer1, headId: string) =>
  layer1
    .utxosAt(layer1.custodyAddress)
    .map((u) => (u.datum ? decodeHeadCustodyDatum(u.datum) : undefined))
    .filter((d) => d?.headId === headId);

const lovelaceAt = (layer1: LucidEmulatorLayer1, user: HeadKey) =>
  layer1.utxosAt(user.address).reduce((sum, u) => sum + u.assets['lovelace']!, 0n);

describe('the embedded head on layer 1 (chain object and custody transactions)', () => {
  it('init, commit, collect, close, contests that push the deadline (not past the last party), fanout after it', async () => {
    const { users, layer1, chain, events, lastEvent, keys, parties, headId, commit, snapshot, expectPosted } =
      await setup(3);
    expect(headDatum(layer1, headId)).toEqual([expect.objectContaining({ state: 'Initial', parties })]);
    const committedRefs = [await commit(0), await commit(1)];
    await expect(chain.post({ tag: 'CollectComTx', headId, utxo: {} }, parties[0])).resolves.toBe(
      'not every party committed',
    );
    committedRefs.push(await commit(2));
    const commits = events.filter((e) => e.tag === 'OnCommitTx');
    expect(commits.map((e) => e.tag === 'OnCommitTx' && Object.keys(e.committed))).toEqual(committedRefs);
    await expectPosted(chain.post({ tag: 'CollectComTx', headId, utxo: {} }, parties[1]));
    expect(lastEvent()).toEqual({ tag: 'OnCollectComTx', headId });
    // A second collect (another party's node) finds the head open: nothing to do.
    await expectPosted(chain.post({ tag: 'CollectComTx', headId, utxo: {} }, parties[2]));
    expect(headDatum(layer1, headId)).toEqual([expect.objectContaining({ state: 'Open' })]);
    expect(users.map((u) => lovelaceAt(layer1, u))).toEqual([0n, 0n, 0n]);

    const total = 150_000_000n;
    const utxoOf = (n: number): HeadUTxO => ({
      [`${'ab'.repeat(32)}#${n}`]: headOutputHex({ address: users[n % 3]!.address, lovelace: total }),
    });
    const t0 = layer1.now();
    await expectPosted(
      chain.post({ tag: 'CloseTx', headId, confirmedSnapshot: snapshot(1, utxoOf(1)) }, parties[0]),
    );
    expect(lastEvent()).toEqual({
      tag: 'OnCloseTx',
      headId,
      snapshotNumber: 1,
      contestationDeadline: t0 + 60_000,
    });

    const contest = (n: number, by: number, signers = keys) =>
      chain.post(
        { tag: 'ContestTx', headId, confirmedSnapshot: snapshot(n, utxoOf(n), signers) },
        parties[by],
      );
    expect(await contest(1, 0)).toMatch(/^TooOldSnapshot/);
    expect(await contest(2, 1, [keys[0]!, keys[2]!, keys[1]!])).toBe('snapshot not signed by every party');
    await expectPosted(contest(2, 1));
    expect(lastEvent()).toEqual({
      tag: 'OnContestTx',
      headId,
      snapshotNumber: 2,
      contestationDeadline: t0 + 120_000,
    });
    expect(await contest(3, 1)).toMatch(/^SignerAlreadyContested/);
    await chain.advanceTime(30_000);
    expect(events.at(-1)).toEqual({ tag: 'Tick', chainTime: t0 + 30_000 });
    await expectPosted(contest(3, 2));
    expect(lastEvent()).toMatchObject({ snapshotNumber: 3, contestationDeadline: t0 + 180_000 });
    // The last party to contest does not push the deadline any more.
    await expectPosted(contest(4, 0));
    expect(lastEvent()).toMatchObject({
      tag: 'OnContestTx',
      snapshotNumber: 4,
      contestationDeadline: t0 + 180_000,
    });
    expect(headDatum(layer1, headId)).toEqual([
      expect.objectContaining({
        state: 'Closed',
        snapshotNumber: 4,
        contestationDeadline: t0 + 180_000,
        contesters: [parties[1], parties[2], parties[0]],
      }),
    ]);

    expect(await chain.post({ tag: 'FanoutTx', headId }, parties[0])).toBe(
      'before the contestation deadline',
    );
    await chain.advanceTime(150_000); // t0 + 180 s: at the deadline, not past it
    expect(await chain.post({ tag: 'FanoutTx', headId }, parties[0])).toBe(
      'before the contestation deadline',
    );
    expect(await contest(5, 1)).toMatch(/SignerAlreadyContested|deadline/);
    await chain.advanceTime(1_000);
    await expectPosted(chain.post({ tag: 'FanoutTx', headId }, parties[2]));
    expect(lastEvent()).toEqual({ tag: 'OnFanoutTx', headId, utxo: utxoOf(4) });
    // Snapshot 4 gave everything to user 1 (4 mod 3); the head output is gone.
    expect(users.map((u) => lovelaceAt(layer1, u))).toEqual([0n, total, 0n]);
    expect(headDatum(layer1, headId)).toEqual([]);
    expect(chain.posted.map((p) => p.tx)).toEqual([
      'InitTx',
      'CollectComTx',
      'CloseTx',
      'ContestTx',
      'ContestTx',
      'ContestTx',
      'FanoutTx',
    ]);
    // Each is a distinct layer-1 transaction.
    expect(new Set(chain.posted.map((p) => p.txId)).size).toBe(7);
  });

  it('closes with the initial snapshot only if it is the collected UTxO', async () => {
    const { chain, events, lastEvent, parties, headId, commit, expectPosted } = await setup(2);
    const refs = [...(await commit(0)), ...(await commit(1))];
    await expectPosted(chain.post({ tag: 'CollectComTx', headId, utxo: {} }, parties[0]));
    const committed = Object.assign(
      {},
      ...events.flatMap((e) => (e.tag === 'OnCommitTx' ? [e.committed] : [])),
    ) as HeadUTxO;
    expect(Object.keys(committed).sort()).toEqual(refs.sort());
    const forged = { ...committed, [`${'cd'.repeat(32)}#0`]: Object.values(committed)[0]! };
    expect(
      await chain.post(
        {
          tag: 'CloseTx',
          headId,
          confirmedSnapshot: { tag: 'InitialSnapshot', headId, initialUTxO: forged },
        },
        parties[0],
      ),
    ).toBe('snapshot not signed by every party');
    await expectPosted(
      chain.post(
        {
          tag: 'CloseTx',
          headId,
          confirmedSnapshot: { tag: 'InitialSnapshot', headId, initialUTxO: committed },
        },
        parties[1],
      ),
    );
    expect(lastEvent()).toMatchObject({ tag: 'OnCloseTx', snapshotNumber: 0 });
  });

  it('abort pays every commit back as it was; a foreign key cannot post; an unsigned commit is rejected by layer 1', async () => {
    const { users, layer1, chain, lastEvent, parties, headId, commit, expectPosted } = await setup(2);
    const before = lovelaceAt(layer1, users[0]!);
    const refs = layer1.utxosAt(users[1]!.address).map((u) => `${u.txHash}#${u.outputIndex}`);
    const draft = await chain.draftCommit(headId, parties[1]!, refs);
    await expect(chain.submit(draft.cborHex)).rejects.toMatchObject({ code: 'HYDRA_L1_REJECTED' });
    await commit(0);
    await expect(chain.draftCommit(headId, parties[0]!, [])).rejects.toMatchObject({
      code: 'HYDRA_ALREADY_COMMITTED',
    });
    expect(await chain.post({ tag: 'AbortTx', headId, committed: {} }, 'ff'.repeat(32))).toBe(
      'the poster is not a party of the head',
    );
    await expectPosted(chain.post({ tag: 'AbortTx', headId, committed: {} }, parties[1]));
    expect(lastEvent()).toEqual({ tag: 'OnAbortTx', headId });
    expect(lovelaceAt(layer1, users[0]!)).toBe(before);
    expect(headDatum(layer1, headId)).toEqual([]);
    expect(await chain.post({ tag: 'CollectComTx', headId, utxo: {} }, parties[0])).toMatch(/no head output/);
  });

  it('reports a transaction it cannot post (an operator without funds) and emits nothing', async () => {
    const emulator = new Emulator([]);
    const layer1 = LucidEmulatorLayer1.fromLucid(
      await Lucid.new(emulator, 'Custom'),
      C.PrivateKey.generate_ed25519().to_bech32(),
    );
    const chain = new EmbeddedHeadChain(layer1);
    const events: HeadChainEvent[] = [];
    chain.observe((e) => events.push(e));
    const reason = await chain.post({
      tag: 'InitTx',
      parameters: { parties: ['aa'.repeat(32)], contestationPeriod: 1 },
    });
    expect(reason).toMatch(/has no funds/);
    expect(chain.rejections).toEqual([{ tx: 'InitTx', reason }]);
    expect(events).toEqual([]);
  });
});
