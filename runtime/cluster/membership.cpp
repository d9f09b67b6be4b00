#include "runtime/cluster/membership.hpp"

#include <algorithm>
#include <map>

#include "runtime/cluster/placement.hpp"

namespace sv::cluster {

std::string_view to_string(member_state s) noexcept {
  switch (s) {
  case member_state::joining:
    return "joining";
  case member_state::up:
    return "up";
  case member_state::suspect:
    return "suspect";
  case member_state::leaving:
    return "leaving";
  case member_state::down:
    return "down";
  }
  return "unknown";
}

bool crosses_regions(const std::string& a, const std::string& b) noexcept {
  return !a.empty() && !b.empty() && a != b;
}

bool supersedes(const member& a, const member& b) noexcept {
  return a.incarnation > b.incarnation || (a.incarnation == b.incarnation && a.state > b.state);
}

membership::membership(member self, membership_settings settings) : settings_(settings) {
  self.state = member_state::up;
  members_.push_back(entry{std::move(self), {}, {}});
}

membership::entry* membership::lookup(const std::string& name) {
  auto i = std::find_if(members_.begin(), members_.end(),
                        [&](const entry& e) { return e.info.name == name; });
  return i == members_.end() ? nullptr : &*i;
}

std::chrono::nanoseconds membership::suspect_after(const entry& e) const noexcept {
  return crosses_regions(self().region, e.info.region) ? settings_.remote_suspect_after
                                                       : settings_.suspect_after;
}

std::chrono::nanoseconds membership::down_after(const entry& e) const noexcept {
  return crosses_regions(self().region, e.info.region) ? settings_.remote_down_after
                                                       : settings_.down_after;
}

void membership::set_state(entry& e, member_state s, std::chrono::nanoseconds now) {
  if (e.info.state != s) {
    e.info.state = s;
    e.state_since = now;
  }
}

void membership::heard_from(const std::string& name, std::chrono::nanoseconds now) {
  auto* e = lookup(name);
  if (e == nullptr || e == &members_.front()) {
    return;
  }
  e->last_heard = now;
  // Direct contact clears a suspicion; down and leaving are only undone by the member
  // itself, with a higher incarnation.
  if (e->info.state == member_state::joining || e->info.state == member_state::suspect) {
    set_state(*e, member_state::up, now);
  }
}

bool membership::hello(const member& m, std::chrono::nanoseconds now) {
  if (m.name == self().name) {
    return false;
  }
  auto* e = lookup(m.name);
  if (e == nullptr) {
    members_.push_back(entry{m, now, now});
    members_.back().info.state = member_state::up;
    return true;
  }
  // A handshake is the member itself speaking: it is up, whatever was rumoured.
  auto before = e->info;
  if (!m.address.empty()) {
    e->info.address = m.address;
  }
  if (!m.region.empty()) {
    e->info.region = m.region;
    e->info.zone = m.zone;
  }
  e->info.version = m.version;
  e->info.incarnation = std::max(e->info.incarnation, m.incarnation);
  e->last_heard = now;
  set_state(*e, member_state::up, now);
  return before.state != e->info.state || before.incarnation != e->info.incarnation
         || before.address != e->info.address || before.region != e->info.region;
}

void membership::connection_lost(const std::string& name, std::chrono::nanoseconds now) {
  auto* e = lookup(name);
  if (e != nullptr && e != &members_.front()
      && (e->info.state == member_state::up || e->info.state == member_state::joining)) {
    set_state(*e, member_state::suspect, now);
  }
}

bool membership::merge(const member& m, std::chrono::nanoseconds now) {
  auto& me = members_.front();
  if (m.name == me.info.name) {
    auto harmful = m.state == member_state::suspect || m.state == member_state::down
                   || (m.state == member_state::leaving && me.info.state != member_state::leaving);
    if (harmful && m.incarnation >= me.info.incarnation) {
      me.info.incarnation = m.incarnation + 1; // refute: "I am alive, and newer"
      return true;
    }
    return false;
  }
  auto* e = lookup(m.name);
  if (e == nullptr) {
    if (m.state == member_state::down) {
      return false; // nothing to learn about a member we never knew
    }
    members_.push_back(entry{m, now, now});
    return true;
  }
  // A member whose first hello came while it was still starting (before it knew its own
  // address) is listed without one: take the address from the first news that has it.
  auto learned =
      e->info.address.empty() && !m.address.empty() && m.incarnation >= e->info.incarnation;
  if (learned) {
    e->info.address = m.address;
  }
  // Likewise its region and zone (a member of an older build gossips none).
  if (e->info.region.empty() && !m.region.empty() && m.incarnation >= e->info.incarnation) {
    e->info.region = m.region;
    e->info.zone = m.zone;
    learned = true;
  }
  if (!supersedes(m, e->info)) {
    return learned;
  }
  auto was = e->info.state;
  e->info.incarnation = m.incarnation;
  e->info.address = m.address.empty() ? e->info.address : m.address;
  e->info.version = m.version;
  if (!m.region.empty()) {
    e->info.region = m.region;
    e->info.zone = m.zone;
  }
  set_state(*e, m.state, now);
  if (was != m.state && m.state == member_state::up) {
    e->last_heard = now; // give it the full suspect_after before doubting it
  }
  return true;
}

std::vector<member> membership::tick(std::chrono::nanoseconds now) {
  std::vector<member> changed;
  for (size_t i = 1; i < members_.size(); ++i) {
    auto& e = members_[i];
    auto before = e.info.state;
    switch (e.info.state) {
    case member_state::joining:
    case member_state::up:
      if (now - e.last_heard >= suspect_after(e)) {
        set_state(e, member_state::suspect, now);
      }
      break;
    case member_state::suspect:
      if (now - e.state_since >= down_after(e)) {
        set_state(e, member_state::down, now);
      }
      break;
    case member_state::leaving:
      // A leaving member still speaking is handing its keys over: down once it went quiet.
      if (now - std::max(e.state_since, e.last_heard) >= down_after(e)) {
        set_state(e, member_state::down, now);
      }
      break;
    case member_state::down:
      break;
    }
    if (e.info.state != before) {
      changed.push_back(e.info);
    }
  }
  // Down members are listed for a while so that their state gossips out, then forgotten.
  auto forget = std::remove_if(members_.begin() + 1, members_.end(), [&](const entry& e) {
    return e.info.state == member_state::down && now - e.state_since >= settings_.forget_after;
  });
  members_.erase(forget, members_.end());
  return changed;
}

void membership::leave() {
  members_.front().info.state = member_state::leaving;
}

std::vector<member> membership::snapshot() const {
  std::vector<member> out;
  out.reserve(members_.size());
  for (auto& e : members_) {
    out.push_back(e.info);
  }
  return out;
}

std::vector<std::string> up_names(const std::vector<member>& ms) {
  std::vector<std::string> out;
  for (auto& m : ms) {
    if (m.state == member_state::up) {
      out.push_back(m.name);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> up_regions(const std::vector<member>& ms) {
  std::vector<std::string> out;
  for (auto& m : ms) {
    if (m.state == member_state::up && !m.region.empty()) {
      out.push_back(m.region);
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::vector<std::string> up_names_in(const std::vector<member>& ms, const std::string& region) {
  std::vector<std::string> out;
  for (auto& m : ms) {
    if (m.state == member_state::up && (region.empty() || m.region == region)) {
      out.push_back(m.name);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> holders_across_regions(std::string_view key, const std::string& home,
                                                const std::vector<member>& ms) {
  return region_holders{ms}(key, home);
}

region_holders::region_holders(const std::vector<member>& ms) {
  for (auto& m : ms) {
    if (m.state != member_state::up) {
      continue;
    }
    auto i = std::lower_bound(groups_.begin(), groups_.end(), m.region,
                              [](const group& g, const std::string& r) { return g.region < r; });
    if (i == groups_.end() || i->region != m.region) {
      i = groups_.insert(i, group{m.region, {}});
    }
    i->names.push_back(m.name);
  }
  for (auto& g : groups_) {
    std::sort(g.names.begin(), g.names.end());
  }
}

const region_holders::group* region_holders::find(const std::string& region) const noexcept {
  auto i = std::lower_bound(groups_.begin(), groups_.end(), region,
                            [](const group& g, const std::string& r) { return g.region < r; });
  return i != groups_.end() && i->region == region ? &*i : nullptr;
}

bool region_holders::has_region(const std::string& region) const noexcept {
  return find(region) != nullptr;
}

namespace {

// The best and the second best of `names` for `key` by rendezvous weight (nullptr where
// there is none). Ties go to the smaller name, as in owners_of: `names` is sorted and
// only a strictly higher weight displaces an earlier one.
template <class T, class Name>
std::pair<const T*, const T*> best_two(std::string_view key, const std::vector<T>& xs, Name name,
                                       const T* skip = nullptr) {
  const T* first = nullptr;
  const T* second = nullptr;
  uint64_t w1 = 0;
  uint64_t w2 = 0;
  for (auto& x : xs) {
    if (&x == skip) {
      continue;
    }
    auto w = rendezvous_weight(name(x), key);
    if (first == nullptr || w > w1) {
      second = first;
      w2 = w1;
      first = &x;
      w1 = w;
    } else if (second == nullptr || w > w2) {
      second = &x;
      w2 = w;
    }
  }
  return {first, second};
}

} // namespace

std::vector<std::string> region_holders::operator()(std::string_view key,
                                                    const std::string& home) const {
  if (groups_.empty()) {
    return {};
  }
  // The regions in the key's order: home first while it has a member up, then the others
  // by rendezvous weight of (region, key).
  auto by_region = [](const group& g) -> std::string_view {
    return g.region;
  };
  auto by_name = [](const std::string& n) -> std::string_view {
    return n;
  };
  const group* home_group = find(home);
  auto [best, next] = best_two(key, groups_, by_region, home_group);
  const group* first = home_group != nullptr ? home_group : best;
  const group* second = home_group != nullptr ? best : next;
  if (second == nullptr) {
    auto [a, b] = best_two(key, first->names, by_name);
    std::vector<std::string> out{*a};
    if (b != nullptr) {
      out.push_back(*b);
    }
    return out;
  }
  return {*best_two(key, first->names, by_name).first,
          *best_two(key, second->names, by_name).first};
}

std::vector<std::string> membership::up_members() const {
  std::vector<std::string> out;
  for (auto& e : members_) {
    if (e.info.state == member_state::up) {
      out.push_back(e.info.name);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::optional<member> membership::find(const std::string& name) const {
  for (auto& e : members_) {
    if (e.info.name == name) {
      return e.info;
    }
  }
  return std::nullopt;
}

std::vector<size_t> membership::count_by_state() const {
  std::vector<size_t> out(5, 0);
  for (auto& e : members_) {
    ++out[static_cast<size_t>(e.info.state)];
  }
  return out;
}

} // namespace sv::cluster
