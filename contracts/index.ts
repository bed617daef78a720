// The public face of contracts/: the on-chain validators and their blueprint.
export {};
