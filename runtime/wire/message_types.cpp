#include "runtime/wire/message_types.hpp"

#include <atomic>

#include <spdlog/spdlog.h>

#include "caf/actor_system_config.hpp"
#include "runtime/wire/message_type_list.hpp"

namespace sv::wire {

namespace {

std::atomic<uint64_t> undecodable_total{0};

template <class... Ts>
void add_all(caf::actor_system_config& cfg, type_list<Ts...>) {
  // The proto's full name is the wire name: identical on every node by construction.
  (cfg.add_message_type<Ts>(Ts::descriptor()->full_name()), ...);
}

} // namespace

codec_counters& counters() {
  static codec_counters instance;
  return instance;
}

void register_message_types(caf::actor_system_config& cfg) {
  add_error_category(cfg);
  add_all(cfg, cluster_message_types{});
}

caf::error undecodable(const char* receiver) {
  undecodable_total.fetch_add(1, std::memory_order_relaxed);
  spdlog::warn("{} received an undecodable message (unknown type or corrupt payload)", receiver);
  return make_error(errc::undecodable_payload, receiver);
}

uint64_t undecodable_count() {
  return undecodable_total.load(std::memory_order_relaxed);
}

} // namespace sv::wire
