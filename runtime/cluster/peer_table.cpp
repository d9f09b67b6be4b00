#include "runtime/cluster/peer_table.hpp"

#include <algorithm>

namespace sv::cluster {

void peer_table::upsert(peer_info p) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = std::find_if(peers_.begin(), peers_.end(),
                        [&](const peer_info& x) { return x.name == p.name; });
  if (i != peers_.end()) {
    *i = std::move(p);
  } else {
    peers_.push_back(std::move(p));
  }
}

void peer_table::erase(const std::string& name) {
  std::lock_guard<std::mutex> guard{mtx_};
  peers_.erase(std::remove_if(peers_.begin(), peers_.end(),
                              [&](const peer_info& x) { return x.name == name; }),
               peers_.end());
}

size_t peer_table::size() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return peers_.size();
}

std::vector<peer_info> peer_table::snapshot() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return peers_;
}

void peer_table::set_members(std::vector<member> members) {
  std::lock_guard<std::mutex> guard{mtx_};
  members_ = std::move(members);
}

std::vector<member> peer_table::members() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return members_;
}

size_t peer_table::count(member_state s) const {
  std::lock_guard<std::mutex> guard{mtx_};
  return static_cast<size_t>(std::count_if(members_.begin(), members_.end(),
                                           [s](const member& m) { return m.state == s; }));
}

} // namespace sv::cluster
