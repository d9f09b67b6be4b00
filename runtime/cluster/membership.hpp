#pragma once

// The member list of a cluster as one node sees it, with the rules that merge what other
// nodes gossip and the failure detector's timeouts (design §5). No CAF in here: the
// cluster endpoint feeds it events and time, tests drive it with any clock.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sv::cluster {

/// A member's state. Order matters: for the same incarnation a later state wins a merge
/// (what one node learned about a failure or a departure is not undone by an older rumour).
enum class member_state : uint8_t {
  joining, ///< known, not heard from directly yet
  up,      ///< heard from within `suspect_after`
  suspect, ///< silent for `suspect_after`, or its connection dropped
  leaving, ///< announced a graceful leave
  down,    ///< silent for `down_after` more while suspect; owns nothing
};

std::string_view to_string(member_state s) noexcept;

struct member {
  std::string name;
  std::string address; ///< host:port of its cluster endpoint
  std::string version;
  /// Start time of the member's process (ms since the epoch), raised by the member
  /// itself to refute a suspicion: a higher incarnation always wins a merge.
  uint64_t incarnation = 0;
  member_state state = member_state::joining;
  /// Where the member runs (node.region, node.zone; empty when not configured).
  std::string region;
  std::string zone;
};

/// Whether the link between members in regions `a` and `b` crosses regions (both set and
/// different): such links use the remote thresholds of membership_settings.
bool crosses_regions(const std::string& a, const std::string& b) noexcept;

/// Names of the members in `ms` that are up, sorted: the view placement hashes over (for
/// code that holds a member list, e.g. from `node::members()`).
std::vector<std::string> up_names(const std::vector<member>& ms);

/// The regions (node.region) with at least one member of `ms` up, sorted, each once; empty
/// when no up member names a region.
std::vector<std::string> up_regions(const std::vector<member>& ms);

/// The names of the members of `ms` that are up and in `region`, sorted; every up member's
/// when `region` is empty.
std::vector<std::string> up_names_in(const std::vector<member>& ms, const std::string& region);

/// Where a key that belongs to a region (a user's home region) is kept, owner first, at most
/// two names: the owner among the up members of `home` (while `home` has none up, of the
/// first region in the key's rendezvous order of regions), then a replica among the up
/// members of the next region in that order, so the loss of one whole region loses no copy.
/// With a single region up (or none configured) the replica is that region's runner-up.
/// Every node with the same member view picks the same two.
std::vector<std::string> holders_across_regions(std::string_view key, const std::string& home,
                                                const std::vector<member>& ms);

/// holders_across_regions for many keys over one member view: the up members are grouped
/// by region once, not per key (a service placing a batch of keys builds one per batch).
class region_holders {
public:
  explicit region_holders(const std::vector<member>& ms);

  /// The same names as holders_across_regions(key, home, ms), owner first.
  std::vector<std::string> operator()(std::string_view key, const std::string& home) const;

  /// Whether some member of `region` is up.
  bool has_region(const std::string& region) const noexcept;

private:
  struct group {
    std::string region;
    std::vector<std::string> names; // up, sorted
  };
  const group* find(const std::string& region) const noexcept;

  std::vector<group> groups_; // by region name
};

struct membership_settings {
  /// Silence after which a member becomes suspect.
  std::chrono::milliseconds suspect_after{1500};
  /// Further silence after which a suspect member is down.
  std::chrono::milliseconds down_after{3000};
  /// How long a down or departed member stays listed (so its state gossips out).
  std::chrono::milliseconds forget_after{60'000};
  /// The same two timeouts for members in another region than this node's: a WAN link
  /// has more latency and jitter than a LAN, so it gets more slack before a suspicion, and
  /// a dead region is still down within remote_suspect_after + remote_down_after (plus one
  /// gossip interval: the detector runs once per interval).
  std::chrono::milliseconds remote_suspect_after{2000};
  std::chrono::milliseconds remote_down_after{3000};
};

/// Whether the state of `a` supersedes that of `b` (same member): higher incarnation,
/// or the same incarnation and a later state.
bool supersedes(const member& a, const member& b) noexcept;

/// One node's member list, itself included. Not thread-safe: owned by the endpoint actor.
/// Times are any monotonic clock in nanoseconds (virtual time in tests).
class membership {
public:
  membership(member self, membership_settings settings = {});

  /// The node itself as it currently gossips itself.
  const member& self() const noexcept {
    return members_.front().info;
  }

  /// Sets the address this node gossips for itself (known once it is published).
  void set_self_address(std::string address) {
    members_.front().info.address = std::move(address);
  }

  /// A message came straight from `name` (gossip, hello, a reply): it is up. Unknown
  /// names are ignored (they join through merge() or hello()).
  void heard_from(const std::string& name, std::chrono::nanoseconds now);

  /// A peer said hello: adds or updates it as up. Returns true when this changed the list.
  bool hello(const member& m, std::chrono::nanoseconds now);

  /// The connection to `name` dropped: up becomes suspect at once (the timers decide the
  /// rest).
  void connection_lost(const std::string& name, std::chrono::nanoseconds now);

  /// Merges one gossiped entry. A rumour about this node that would make it suspect,
  /// down or leaving (while it is not leaving) is refuted: the node raises its own
  /// incarnation. Returns true when the list changed (new member, newer state).
  bool merge(const member& m, std::chrono::nanoseconds now);

  /// Applies the failure detector's timeouts; returns the members whose state changed.
  std::vector<member> tick(std::chrono::nanoseconds now);

  /// This node announces a graceful leave (gossiped with its current incarnation).
  void leave();

  /// Every listed member, this node first.
  std::vector<member> snapshot() const;

  /// Names of the members that are up (this node included unless it is leaving), sorted:
  /// the view placement hashes over.
  std::vector<std::string> up_members() const;

  /// The entry for `name`, if listed.
  std::optional<member> find(const std::string& name) const;

  /// Members per state (index = member_state).
  std::vector<size_t> count_by_state() const;

  const membership_settings& settings() const noexcept {
    return settings_;
  }

private:
  struct entry;
  std::chrono::nanoseconds suspect_after(const entry& e) const noexcept;
  std::chrono::nanoseconds down_after(const entry& e) const noexcept;

  struct entry {
    member info;
    std::chrono::nanoseconds last_heard{0};
    std::chrono::nanoseconds state_since{0};
  };

  entry* lookup(const std::string& name);
  void set_state(entry& e, member_state s, std::chrono::nanoseconds now);

  membership_settings settings_;
  std::vector<entry> members_; // [0] is this node
};

} // namespace sv::cluster
