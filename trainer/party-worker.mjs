// The entry of a party worker thread. Plain JavaScript so that Node can start it under any
// runner (tsx, jest, node): it loads the TypeScript worker body through tsx's tsImport.
import { tsImport } from 'tsx/esm/api';

const { runPartyWorker } = await tsImport('./party-worker-body.ts', import.meta.url);
await runPartyWorker();
