/** Token name prefixes: claim, kill, signal (the name is prefix byte ++ the party's key hash). */
export const CLAIM_PREFIX = 0x63; // 'c'
export const KILL_PREFIX = 0x6b; // 'k'
export const SIGNAL_PREFIX = 0x73; // 's'
