#pragma once

// The integration points of a streaming platform (issue #8, design §2 integrations/):
// each hook is a small interface that a host application implements in process, or that
// a webhook implementation answers over HTTP (libcurl; bodies in integrations.proto as
// JSON). Each is used through a policy object that puts a hook_guard (timeout, circuit
// breaker, metrics; guard.hpp) around it and decides what happens when the partner is
// slow, down, or the node sheds the hook's class:
//
//   hook              class        used by                  when the partner fails
//   ----------------  -----------  -----------------------  ------------------------------
//   entitlement       critical     session opens (verifier) last cached answer, else
//                                                           `allow_when_unavailable`
//   recommendations   best_effort  host apps                last list for region+device,
//                                                           else the configured fallback
//   ads               best_effort  host apps                no ad (also when shed)
//   cdn_purge         bulk         catalog changes (owner)  retried with backoff, bounded
//   cms               interactive  a poller on one node     cursor not advanced; retried
//
// None of these classes block: answers come through callbacks, on a guard thread or the
// caller's (see guard.hpp); a callback must not block.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "actors/content/metadata.hpp"
#include "actors/integrations/guard.hpp"

namespace sv::metrics {
class registry;
} // namespace sv::metrics

namespace sv::integrations {

// -- what the hooks are asked -------------------------------------------------------

struct entitlement_query {
  std::string user;
  std::string content;
  uint32_t subscription = 0; ///< the viewer's tier (session::tier: 0 free .. 3 premium)
  uint32_t required = 0;     ///< the title's tier ("tier:<name>" tag; 0 when none)
};

struct recommendation_query {
  std::string user;
  std::string region;
  std::string device;
  uint32_t limit = 10;
};

struct ad_query {
  std::string user;
  std::string content;
  std::string region;
  std::string device;
  std::string slot = "preroll";
};

struct ad_decision {
  std::string ad_id;
  std::string media_url;
  uint32_t duration_ms = 0;
};

struct cms_page {
  std::vector<content::metadata> items;
  /// Where the next poll starts ("" or the same cursor: nothing new).
  std::string next_cursor;
};

// -- the hooks: implement these in process, or use the webhooks below ----------------
// Each returns "" on success, else why it failed (which counts against the breaker).
// They are called on guard threads and may block (the guard bounds the caller's wait).

class entitlement_hook {
public:
  virtual ~entitlement_hook() = default;
  /// True when calls only compute and never block: they then run on the caller's thread.
  virtual bool immediate() const noexcept {
    return false;
  }
  virtual std::string check(const entitlement_query& q, bool& entitled) = 0;
};

class recommendation_hook {
public:
  virtual ~recommendation_hook() = default;
  /// True when calls only compute and never block: they then run on the caller's thread.
  virtual bool immediate() const noexcept {
    return false;
  }
  virtual std::string recommend(const recommendation_query& q, std::vector<std::string>& ids) = 0;
};

class ad_hook {
public:
  virtual ~ad_hook() = default;
  /// True when calls only compute and never block: they then run on the caller's thread.
  virtual bool immediate() const noexcept {
    return false;
  }
  /// Leave `out.ad_id` empty for no ad.
  virtual std::string decide(const ad_query& q, ad_decision& out) = 0;
};

class cdn_purge_hook {
public:
  virtual ~cdn_purge_hook() = default;
  /// Purges every object tagged with one of `keys` ("content:<id>").
  virtual std::string purge(const std::vector<std::string>& keys) = 0;
};

class cms_hook {
public:
  virtual ~cms_hook() = default;
  /// The changes after `cursor` ("" = from the start).
  virtual std::string poll(const std::string& cursor, cms_page& page) = 0;
};

// -- in-process defaults (what a node uses when no webhook is configured) ------------

/// Entitled when the viewer's tier reaches the title's (`subscription >= required`).
std::shared_ptr<entitlement_hook> tier_entitlement();
/// Always the same list (at most `limit` of it).
std::shared_ptr<recommendation_hook> static_recommendations(std::vector<std::string> ids);
/// Never an ad.
std::shared_ptr<ad_hook> no_ads();
/// Nothing to purge: succeeds at once (a node without a CDN in front of it).
std::shared_ptr<cdn_purge_hook> no_cdn();

/// A CMS feed a host application pushes into (in process): poll() hands out what was
/// pushed after the cursor (the cursor is a sequence number). Thread-safe.
class pushed_cms : public cms_hook {
public:
  pushed_cms();
  void push(content::metadata m);
  std::string poll(const std::string& cursor, cms_page& page) override;

private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

/// The title's tier from its tags ("tier:free|basic|standard|premium"; 0 when none).
uint32_t required_tier(const content::metadata& m);

// -- webhooks -----------------------------------------------------------------------

struct webhook_settings {
  /// http:// or https:// URL the request is POSTed to.
  std::string url;
  /// Extra header lines, e.g. "Authorization: Bearer <token>".
  std::vector<std::string> headers;
  /// The HTTP exchange's limit (set it to the guard's timeout: a guard thread is then
  /// never blocked longer than a caller waits).
  std::chrono::milliseconds timeout{250};
};

/// "" if `url` can be a webhook URL (http:// or https:// and a host), else why not.
std::string check_webhook_url(const std::string& url);

std::shared_ptr<entitlement_hook> entitlement_webhook(webhook_settings s);
std::shared_ptr<recommendation_hook> recommendation_webhook(webhook_settings s);
std::shared_ptr<ad_hook> ad_webhook(webhook_settings s);
std::shared_ptr<cdn_purge_hook> cdn_purge_webhook(webhook_settings s);
std::shared_ptr<cms_hook> cms_webhook(webhook_settings s);

// -- policies around the hooks ------------------------------------------------------

/// True while the node's degrader level sheds the hook's class (best_effort).
using shed_fn = std::function<bool()>;

struct entitlement_settings {
  guard_settings guard = guarded("entitlement", std::chrono::milliseconds{150});
  /// How long a "yes" and a "no" are kept.
  std::chrono::milliseconds ttl{60'000};
  std::chrono::milliseconds denied_ttl{10'000};
  /// The answer when the partner fails and nothing (even expired) is cached: true keeps
  /// playback available through a billing outage (counted as fallbacks).
  bool allow_when_unavailable = true;
  /// Cached answers kept (expired ones go first; then arbitrary ones).
  size_t max_entries = 200'000;
};

/// Entitlement checks for session opens (critical): cached per (user, content) with a
/// TTL; a miss asks the hook through the guard.
class entitlements {
public:
  /// Answers `entitled`; `cached`: from the cache or a fallback, not a fresh call.
  using done_fn = std::function<void(bool entitled)>;

  entitlements(std::shared_ptr<entitlement_hook> hook, entitlement_settings s,
               metrics::registry* metrics);
  ~entitlements();

  /// A fresh cached answer, if any (never calls the hook; for a caller's fast path).
  std::optional<bool> cached(const entitlement_query& q);
  /// The cached answer when fresh; else asks the hook; when it fails, the last answer
  /// even if expired, else `allow_when_unavailable`. Returns the answer when it is known
  /// at once (fresh in the cache, or a hook that only computes); `done` is then not called.
  /// Otherwise returns nothing and `done` comes later, on a guard thread.
  std::optional<bool> check(const entitlement_query& q, done_fn done);

  hook_guard& guard() noexcept;
  uint64_t fallbacks() const noexcept;

private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

struct recommendation_settings {
  guard_settings guard = guarded("recommendations", std::chrono::milliseconds{100});
  /// Served when shed or failing and no earlier list for the region+device is known.
  std::vector<std::string> fallback;
};

/// Recommendations (best_effort): the partner's list when it answers in time; otherwise
/// (shed, slow, failing, breaker open) the last list it gave for the same region and
/// device, else the fallback list. Never an error.
class recommendations {
public:
  /// `fresh`: the partner's answer to this call.
  using done_fn = std::function<void(std::vector<std::string> ids, bool fresh)>;

  recommendations(std::shared_ptr<recommendation_hook> hook, recommendation_settings s,
                  shed_fn shed, metrics::registry* metrics);
  ~recommendations();

  void get(const recommendation_query& q, done_fn done);

  hook_guard& guard() noexcept;
  uint64_t fallbacks() const noexcept;

private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

struct ad_settings {
  guard_settings guard = guarded("ads", std::chrono::milliseconds{100});
};

/// Ad decisions (best_effort): no ad when shed, slow or failing; playback never waits
/// for an ad longer than the timeout.
class ads {
public:
  using done_fn = std::function<void(std::optional<ad_decision>)>;

  ads(std::shared_ptr<ad_hook> hook, ad_settings s, shed_fn shed, metrics::registry* metrics);
  ~ads();

  void decide(const ad_query& q, done_fn done);

  hook_guard& guard() noexcept;

private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

struct cdn_purge_settings {
  guard_settings guard = guarded("cdn_purge", std::chrono::milliseconds{2000});
  /// Keys per purge call.
  uint32_t batch = 100;
  /// How long a key waits for others to fill its batch.
  std::chrono::milliseconds linger{200};
  /// Keys waiting (deduplicated); more are refused and counted as dropped.
  uint32_t max_pending = 100'000;
  /// Calls per batch before it is given up (counted as abandoned). Calls refused by an
  /// open breaker do not count: the batch waits for the partner.
  uint32_t max_attempts = 8;
  /// Wait before the n-th retry: backoff * 2^(n-1), at most max_backoff.
  std::chrono::milliseconds backoff{200};
  std::chrono::milliseconds max_backoff{10'000};
};

/// CDN purges, batched on a thread of their own: keys are deduplicated while they wait,
/// sent `batch` at a time, retried with exponential backoff. Bounded: at most
/// `max_pending` keys wait. Keys still waiting on destruction are counted as unsent.
class cdn_purger {
public:
  cdn_purger(std::shared_ptr<cdn_purge_hook> hook, cdn_purge_settings s,
             metrics::registry* metrics);
  ~cdn_purger();
  cdn_purger(const cdn_purger&) = delete;
  cdn_purger& operator=(const cdn_purger&) = delete;

  /// Queues `keys`; returns how many were refused (queue full), each counted as dropped.
  size_t purge(const std::vector<std::string>& keys);

  /// Waits until nothing waits or is in flight, at most `limit`; true if so.
  bool drain(std::chrono::milliseconds limit);

  struct stats {
    uint64_t purged = 0;    ///< keys the partner confirmed
    uint64_t dropped = 0;   ///< keys refused because the queue was full
    uint64_t abandoned = 0; ///< keys given up after max_attempts
    uint64_t retries = 0;   ///< calls after a failed one
    size_t pending = 0;     ///< keys waiting or in flight
  };
  stats snapshot() const;

  hook_guard& guard() noexcept;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// What applying one CMS item did.
enum class apply_result : uint8_t {
  applied,   ///< stored (or already there)
  rejected,  ///< refused for good (invalid): skipped, counted, logged
  try_later, ///< not now (catalog unavailable): the page is polled again
};

struct cms_settings {
  guard_settings guard = guarded("cms", std::chrono::milliseconds{2000});
  /// Time between polls when the last one brought nothing (a full page polls again at once).
  std::chrono::milliseconds poll{1000};
  /// Where the cursor is kept across restarts ("" = in memory only).
  std::string cursor_file;
};

/// CMS ingest: a thread polls the hook while `active()` (e.g. while this node is the
/// rendezvous owner of "cms", so one node of the cluster polls) and applies each item
/// in order. The cursor advances past a page only when every item was applied or
/// rejected, so an item is applied at least once; `apply` must be idempotent.
class cms_ingest {
public:
  using apply_fn = std::function<apply_result(const content::metadata&)>;

  cms_ingest(std::shared_ptr<cms_hook> hook, apply_fn apply, std::function<bool()> active,
             cms_settings s, metrics::registry* metrics);
  ~cms_ingest();
  cms_ingest(const cms_ingest&) = delete;
  cms_ingest& operator=(const cms_ingest&) = delete;

  /// Polls now instead of at the next interval.
  void poll_now();

  struct stats {
    uint64_t polls = 0;
    uint64_t applied = 0;
    uint64_t rejected = 0;
    std::string cursor;
  };
  stats snapshot() const;

  hook_guard& guard() noexcept;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace sv::integrations
