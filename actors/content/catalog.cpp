// The catalog's host API; the actor is in catalog_replica.cpp, catalog_consensus.cpp and
// catalog_repair.cpp.

#include "actors/content/catalog.hpp"
#include "actors/content/catalog_actor.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <stdexcept>
#include <vector>

#include <spdlog/spdlog.h>

#include "actors/content/catalog_store.hpp"
#include "actors/content/consensus.hpp"
#include "actors/content/view_cache.hpp"
#include "caf/actor_system.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/scoped_actor.hpp"
#include "caf/stateful_actor.hpp"
#include "runtime/cluster/endpoint.hpp"
#include "runtime/cluster/membership.hpp"
#include "runtime/cluster/owner_router.hpp"
#include "runtime/cluster/placement.hpp"
#include "runtime/metrics/registry.hpp"
#include "runtime/node/ask.hpp"
#include "runtime/node/node.hpp"
#include "runtime/util/clock.hpp"
#include "runtime/wire/errc.hpp"
#include "runtime/wire/message_types.hpp"
#include "runtime/wire/protobuf.hpp"

namespace sv::content {

using namespace detail;

catalog::catalog(node& n, std::chrono::milliseconds timeout,
                 std::chrono::milliseconds repair_interval)
    : sys_(n.system()), timeout_(timeout) {
  auto path = n.settings().data_dir + "/catalog.db";
  auto store = std::make_shared<catalog_store>(path);
  if (!store->error().empty()) {
    throw std::runtime_error("catalog: " + store->error());
  }
  store->report_to(n.service_readiness(), "catalog");
  auto* np = &n;
  auto members = [np] {
    return np->members();
  };
  actor_ = spawn_catalog(sys_, n.settings().name, store, n.cluster_endpoint(),
                         std::function<std::vector<cluster::member>()>{members}, timeout,
                         &n.metrics(), repair_interval);
  cluster::register_service(sys_, service_name, caf::actor_cast<caf::actor>(actor_));
}

catalog::~catalog() {
  sys_.registry().erase(service_name);
  caf::scoped_actor self{sys_};
  self->send_exit(actor_, caf::exit_reason::user_shutdown);
  self->wait_for(actor_);
}

caf::expected<uint64_t> catalog::update(metadata m, uint64_t expected_version, std::string origin) {
  update_msg u;
  *u.mutable_metadata() = std::move(m);
  u.set_expected_version(expected_version);
  u.set_origin(std::move(origin));
  return sv::ask<uint64_t>(sys_, actor_, timeout_, std::move(u));
}

caf::expected<metadata> catalog::get(const std::string& id) {
  return sv::ask<metadata>(sys_, actor_, timeout_, caf::get_atom::value, id);
}

caf::expected<std::string> catalog::view(const std::string& id) {
  return sv::ask<std::string>(sys_, actor_, timeout_, view_atom::value, id);
}

size_t catalog::size() {
  auto n = sv::ask<uint64_t>(sys_, actor_, timeout_, size_atom::value);
  return n ? static_cast<size_t>(*n) : 0;
}

catalog_stats catalog::stats() {
  auto v = sv::ask<std::vector<uint64_t>>(sys_, actor_, timeout_, stats_atom::value);
  catalog_stats s;
  if (v && v->size() == 5) {
    s = {(*v)[0], (*v)[1], (*v)[2], (*v)[3], (*v)[4]};
  }
  return s;
}

} // namespace sv::content
