#include "actors/content/catalog_client.hpp"

#include "caf/actor_system.hpp"
#include "runtime/cluster/client.hpp"
#include "runtime/node/ask.hpp"
#include "runtime/wire/protobuf.hpp"

namespace sv::content {

caf::expected<catalog_actor> connect_catalog(caf::actor_system& sys, const std::string& host,
                                             uint16_t port, std::chrono::milliseconds timeout) {
  return cluster::lookup_service_as<catalog_actor>(sys, host, port, caf::atom("sv_catalog"),
                                                   timeout);
}

caf::expected<uint64_t> remote_update(caf::actor_system& sys, const std::string& host,
                                      uint16_t port, metadata m, uint64_t expected_version,
                                      std::chrono::milliseconds timeout) {
  auto cat = connect_catalog(sys, host, port, timeout);
  if (!cat) {
    return cat.error();
  }
  update_msg u;
  *u.mutable_metadata() = std::move(m);
  u.set_expected_version(expected_version);
  u.set_origin("streamverse-ctl");
  return sv::ask<uint64_t>(sys, *cat, timeout, std::move(u));
}

caf::expected<metadata> remote_get(caf::actor_system& sys, const std::string& host, uint16_t port,
                                   const std::string& id, std::chrono::milliseconds timeout) {
  auto cat = connect_catalog(sys, host, port, timeout);
  if (!cat) {
    return cat.error();
  }
  return sv::ask<metadata>(sys, *cat, timeout, caf::get_atom::value, id);
}

} // namespace sv::content
