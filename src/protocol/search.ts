/**
 * How message text becomes search terms, defined once for the gateway (validating a `search`
 * query), both stores (indexing a body) and the SDK: a query matches a message when every term of
 * the query is a term of its body. Pure code (Intl only), so the browser bundle can use it too.
 *
 * Words are Unicode word segments (UAX #29, through `Intl.Segmenter`; ICU also splits Chinese and
 * Japanese into dictionary words), folded with NFKC and lower case, so "École", "ÉCOLE" and
 * "école" are one term and "fox-trot" is two. Cassandra 5.0's own indexes cannot do this (SAI has
 * no tokenizing analyzer in 5.0, SASI is disabled by default: docs/architecture.md, "Search"), so
 * the Cassandra store indexes the set these functions compute.
 */

/** Longest query accepted, in UTF-16 units. */
export const SEARCH_QUERY_MAX_CHARS = 200;
/** Most distinct terms in one query: each is one more index restriction per partition read. */
export const SEARCH_MAX_TERMS = 8;
/** Page size when the request names none. */
export const SEARCH_DEFAULT_LIMIT = 20;
/** Largest page a `search` returns. */
export const SEARCH_MAX_LIMIT = 50;
/**
 * Terms are cut to this many code points, in bodies and queries alike (so a long token still
 * matches itself): it bounds index keys and cells whatever a body holds.
 */
export const SEARCH_TERM_MAX_CHARS = 64;

let segmenter: Intl.Segmenter | undefined;

/** The distinct terms of a text, in first-occurrence order. Empty for a text with no words. */
export function searchTerms(text: string): string[] {
  segmenter ??= new Intl.Segmenter('und', { granularity: 'word' });
  const terms = new Set<string>();
  for (const segment of segmenter.segment(text.normalize('NFKC').toLowerCase())) {
    if (!segment.isWordLike) continue;
    const word = segment.segment;
    // Cut by code points, so a cut never leaves half a surrogate pair.
    terms.add(word.length <= SEARCH_TERM_MAX_CHARS ? word : cut(word));
  }
  return [...terms];
}

function cut(word: string): string {
  return Array.from(word).slice(0, SEARCH_TERM_MAX_CHARS).join('');
}
