#include "runtime/cluster/client.hpp"

#include <set>

#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/io/middleman.hpp"
#include "caf/io/middleman_actor.hpp"
#include "caf/openssl/manager.hpp"
#include "caf/scoped_actor.hpp"
#include "runtime/cluster/cluster.pb.h"
#include "runtime/cluster/endpoint.hpp"
#include "runtime/cluster/member_codec.hpp"
#include "runtime/cluster/tls_io.hpp"
#include "runtime/wire/errc.hpp"
#include "runtime/wire/message_types.hpp"
#include "runtime/wire/protobuf.hpp"

namespace sv::cluster {

void configure_client(caf::actor_system_config& cfg, std::chrono::milliseconds heartbeat) {
  cfg.load<caf::io::middleman>();
  wire::register_message_types(cfg);
  // A timespan: CAF 0.17 ignores (and so turns off) a heartbeat interval of another type.
  cfg.set("middleman.heartbeat-interval", caf::timespan{heartbeat});
}

caf::expected<caf::actor> connect_published(caf::actor_system& sys, const std::string& host,
                                            uint16_t port, std::chrono::milliseconds timeout) {
  caf::scoped_actor self{sys};
  caf::expected<caf::actor> result = caf::make_error(caf::sec::request_timeout);
  // A system that loaded caf_openssl talks TLS (clusters with cluster.tls_* set).
  if (sys.has_openssl_manager()) {
    if (auto why = prepare_tls_io(); !why.empty()) {
      return caf::make_error(caf::sec::runtime_error, why);
    }
  }
  auto mm = sys.has_openssl_manager() ? sys.openssl_manager().actor_handle()
                                      : sys.middleman().actor_handle();
  self->request(mm, caf::duration{timeout}, caf::connect_atom::value, host, port)
      .receive(
          [&](const caf::node_id&, caf::strong_actor_ptr& ptr, const std::set<std::string>&) {
            if (!ptr) {
              result = make_error(errc::invalid_argument,
                                  "nothing is published on " + host + ":" + std::to_string(port));
              return;
            }
            result = caf::actor_cast<caf::actor>(std::move(ptr));
          },
          [&](caf::error& err) { result = std::move(err); });
  return result;
}

caf::expected<endpoint_actor> connect_endpoint(caf::actor_system& sys, const std::string& host,
                                               uint16_t port, std::chrono::milliseconds timeout) {
  auto a = connect_published(sys, host, port, timeout);
  if (!a) {
    return a.error();
  }
  return caf::actor_cast<endpoint_actor>(std::move(*a));
}

caf::expected<caf::actor> lookup_service(caf::actor_system& sys, const std::string& host,
                                         uint16_t port, caf::atom_value service,
                                         std::chrono::milliseconds timeout) {
  auto endpoint = connect_endpoint(sys, host, port, timeout);
  if (!endpoint) {
    return endpoint.error();
  }
  caf::scoped_actor self{sys};
  caf::expected<caf::actor> result = caf::make_error(caf::sec::request_timeout);
  self->request(*endpoint, caf::duration{timeout}, lookup_atom::value, service)
      .receive([&](caf::actor& a) { result = std::move(a); },
               [&](caf::error& err) { result = std::move(err); });
  return result;
}

caf::expected<std::vector<member>> fetch_members(caf::actor_system& sys, const std::string& host,
                                                 uint16_t port, std::chrono::milliseconds timeout) {
  auto endpoint = connect_endpoint(sys, host, port, timeout);
  if (!endpoint) {
    return endpoint.error();
  }
  streamverse::v1::MembersRequest req;
  req.set_requester("streamverse-ctl");
  caf::scoped_actor self{sys};
  caf::expected<std::vector<member>> result = caf::make_error(caf::sec::request_timeout);
  self->request(*endpoint, caf::duration{timeout}, req)
      .receive(
          [&](const streamverse::v1::Gossip& g) {
            std::vector<member> out;
            for (auto& m : g.members()) {
              out.push_back(from_proto(m));
            }
            result = std::move(out);
          },
          [&](caf::error& err) { result = std::move(err); });
  return result;
}

} // namespace sv::cluster
