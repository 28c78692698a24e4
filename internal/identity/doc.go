// Package identity is how the agent gets an Authorization value for a
// downstream API as its Entra agent identity, in three flows: autonomous
// (TR), on behalf of the signed-in user (TU, from their token Tc), and as
// its agent user (TAU). Two providers: the Microsoft Entra auth sidecar over
// HTTP, or MSAL Go in process. docs/identity.md is how to use them; this is
// how they work inside.
//
// Every answer carries the token decoded (header and claims, never the
// signature) and non-secret facts for the trace; the token itself only as
// a secret.Value, which every formatter prints as [redacted].
//
// Reuse. The MSAL provider builds its clients once, at start, and lets
// MSAL's caches do the reuse: T1 sits in the blueprint client's cache, TR
// in the agent client's, TAU in the agent client's user cache (asked for
// with AcquireTokenSilent and the account the first user_fic answer
// named), and an on-behalf-of result in a partition of its own per user
// assertion (one MSAL client per partition, in a bounded LRU whose entries
// expire with their tokens), so two users' turns never share a TU (the
// tests run 50 concurrent OBO acquisitions for two users through both
// providers and check each gets its own user's oid; 20 autonomous
// acquisitions make at most 2 token requests). Concurrent requests for the
// same token share one request (agentid.Flight). The sidecar keeps its own
// cache behind its HTTP API, so every sidecar turn is one loopback call;
// concurrent ones for the same token (flow, target, user) share it.
//
// Decoding. A cached token comes back on every turn, and decoding its
// header and claims again was the identity step's largest cost, so each
// provider keeps the decoded cards in DecodedTokens, keyed by the token's
// SHA-256 (never the token), bounded to maxDecoded entries.
//
// Errors. Each failure is one line naming the likely fix: hints maps
// Entra's AADSTS codes to it for both providers (the sidecar relays
// Entra's message), and the sidecar client reads the sidecar's own
// answers (status, ProblemDetails) the same way.
package identity
