#pragma once

// Request traces for evaluating cache policies, generated from a fixed seed, and Belady's
// optimal hit count for a trace (the upper bound any policy is measured against).

#include <cstddef>
#include <cstdint>
#include <vector>

namespace sv::cache {

/// `requests` keys from `keys` distinct ones, Zipf-distributed with exponent `s` (rank 1 most
/// popular); ranks are shuffled onto key ids so popularity is not key order.
std::vector<uint64_t> zipf_trace(size_t keys, double s, size_t requests, uint64_t seed);

/// A release calendar: every `requests / releases` requests a new batch of titles is
/// released and becomes the most popular, then fades as the next batches arrive; under it
/// a stationary Zipf catalogue.
std::vector<uint64_t> release_trace(size_t keys, size_t requests, size_t releases, uint64_t seed);

/// Zipf(s) requests interrupted by sequential scans over keys never requested otherwise
/// (a batch job or a crawler): `scan_share` of all requests are scan requests.
std::vector<uint64_t> scan_trace(size_t keys, double s, size_t requests, double scan_share,
                                 uint64_t seed);

/// Hits of Belady's optimal policy with `capacity` entries (evicts the entry used again
/// furthest in the future; never admits a key whose next use is later than every cached one).
uint64_t belady_hits(const std::vector<uint64_t>& trace, size_t capacity);

} // namespace sv::cache
