/** Types for scripts/ensure-built.mjs (plain JavaScript so that node alone runs it). */
export declare const ROOT: string;
export declare const DIST: string;
export declare const STAMP_FILE: string;
export declare function sourceDigest(root: string): string | null;
export declare function builtDigest(root: string): string | null;
export declare function ensureBuilt(root?: string): { built: boolean; ms: number };
