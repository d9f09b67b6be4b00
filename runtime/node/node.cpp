#include "runtime/node/node.hpp"

#include <atomic>
#include <chrono>
#include <filesystem>
#include <system_error>
#include <variant>

#include <spdlog/spdlog.h>

#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/atom.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/exit_reason.hpp"
#include "caf/io/middleman.hpp"
#include "caf/io/middleman_actor.hpp"
#include "caf/openssl/manager.hpp"
#include "caf/scoped_actor.hpp"
#include "caf/send.hpp"
#include "runtime/cluster/client.hpp"
#include "runtime/cluster/endpoint.hpp"
#include "runtime/cluster/tls_io.hpp"
#include "runtime/cluster/transport_guard.hpp"
#include "runtime/flow/flow_context.hpp"
#include "runtime/flow/load_monitor.hpp"
#include "runtime/metrics/http_server.hpp"
#include "runtime/metrics/registry.hpp"
#include "runtime/node/readiness.hpp"
#include "runtime/node/tls.hpp"
#include "runtime/node/version.hpp"
#include "runtime/util/clock.hpp"
#include "runtime/wire/message_types.hpp"
#include "runtime/wire/protobuf.hpp"
#include "runtime/wire/undecodable.hpp"

namespace sv {

const char* version() {
  return SV_VERSION_STRING;
}

namespace {

uint64_t now_ms() {
  return static_cast<uint64_t>(sv::clock::wall_ms());
}

using metrics_atom = caf::atom_constant<caf::atom("sv_metrics")>;
constexpr auto metrics_service_name = caf::atom("sv_metrics");

caf::timespan ms(uint32_t x) {
  return caf::timespan{std::chrono::milliseconds{x}};
}

flow::flow_settings to_flow_settings(const config::node_settings& s) {
  using std::chrono::milliseconds;
  flow::flow_settings f;
  auto& w = s.watermarks;
  f.gate.watermarks = {w.critical, w.interactive, w.best_effort, w.bulk};
  f.gate.policy = {};
  for (size_t l = 0; l < s.flow.sheds.size(); ++l) {
    for (auto& name : s.flow.sheds[l]) {
      // Names were validated at load time.
      auto c = flow::parse_service_class(name);
      f.gate.policy.sheds[l + 1][flow::index(*c)] = true;
    }
  }
  f.degrader.enter = s.flow.enter;
  f.degrader.exit_gap = s.flow.exit_gap;
  f.degrader.hold = milliseconds{s.flow.hold_ms};
  f.degrader.exit_utilization = s.flow.exit_utilization;
  f.workers = s.scheduler_threads;
  f.budget.dispatch_lag = milliseconds{s.flow.dispatch_lag_budget_ms};
  f.budget.critical_p99 = milliseconds{s.flow.critical_budget_ms};
  f.monitor_interval = milliseconds{s.flow.monitor_interval_ms};
  f.gate.queue_delay_budget = milliseconds{s.flow.queue_delay_budget_ms};
  f.gate.critical_backlog_budget = std::chrono::microseconds{s.flow.critical_backlog_budget_us};
  return f;
}

// Sends an exit to `a` and waits until it has terminated; clears the handle.
template <class Handle>
void stop_actor(caf::actor_system& sys, Handle& a) {
  if (!a) {
    return;
  }
  caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  caf::scoped_actor self{sys};
  self->wait_for(a);
  a = nullptr;
}

} // namespace

std::string readyz_body(bool started,
                        const std::vector<std::pair<std::string, std::string>>& unready) {
  if (!started) {
    return "not ready\n";
  }
  if (unready.empty()) {
    return "ready\n";
  }
  std::string out = "not ready\n";
  for (auto& [service, why] : unready) {
    out += service + ": " + why + "\n";
  }
  return out;
}

struct node::impl {
  config::node_settings settings;
  // Declared before the actor system: actors hold pointers into it.
  metrics::registry registry;
  std::shared_ptr<cluster::peer_table> peers = std::make_shared<cluster::peer_table>();
  std::shared_ptr<flow::flow_context> flow;
  caf::actor monitor;
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  cluster::endpoint_actor endpoint;
  // The cluster port's guard: the endpoint is published and peers are dialed through it.
  std::unique_ptr<cluster::transport_guard> guard;
  uint16_t cluster_port = 0;
  metrics::http_server http;
  std::atomic<bool> ready{false};
  std::shared_ptr<readiness> services = std::make_shared<readiness>();

  impl(config::node_settings s, const std::vector<node::type_registrar>& extra_types)
      : settings(std::move(s)),
        flow(std::make_shared<flow::flow_context>(to_flow_settings(settings))) {
    cfg.load<caf::io::middleman>();
    if (tls()) {
      // Mutual TLS: with these set, caf_openssl requires a peer certificate from this CA
      // on both sides of every connection.
      cfg.load<caf::openssl::manager>();
      cfg.set("openssl.certificate", settings.tls_certificate);
      cfg.set("openssl.key", settings.tls_key);
      cfg.set("openssl.cafile", settings.tls_ca);
    }
    wire::register_message_types(cfg);
    for (auto add : extra_types) {
      add(cfg);
    }
    cfg.set("scheduler.max-threads", static_cast<size_t>(settings.scheduler_threads));
    // An idle worker polls its queue 100 times, then 500 times 50 us apart (25 ms of
    // nanosleep calls) before it waits on its condition variable, which an enqueue wakes
    // at once. Under bursty load that polling was 3% of the machine; a few rounds of it
    // are enough.
    cfg.set("work-stealing.moderate-poll-attempts", size_t{10});
    if (settings.max_throughput != 0) {
      // Fairness: a flooded actor yields after this many messages (CAF's default is never).
      cfg.set("scheduler.max-throughput", static_cast<size_t>(settings.max_throughput));
    }
    // Heartbeats must be on, and equal, on every node: CAF 0.17 ships them off, and
    // a frozen peer is then never detected.
    cfg.set("middleman.heartbeat-interval", ms(settings.heartbeat_interval_ms));
    cfg.set("middleman.connection-timeout", ms(settings.connection_timeout_ms));
    cfg.set("middleman.workers", size_t{0});
    cfg.set("logger.file-verbosity", caf::atom("quiet"));
    cfg.set("logger.console-verbosity", caf::atom("quiet"));
    // No cfg.parse(): it would read ./caf-application.ini behind our back.
    sys = std::make_unique<caf::actor_system>(cfg);
    register_metrics();
  }

  void register_metrics() {
    registry
        .gauge_metric("sv_node_info", "Constant 1, labelled with the node's identity",
                      {{"node", settings.name},
                       {"version", version()},
                       {"region", settings.region},
                       {"zone", settings.zone}})
        .set(1);
    registry.gauge_callback(
        "sv_actors_running", "Actors running in this node's actor system",
        [s = sys.get()] { return static_cast<double>(s->registry().running()); });
    registry.gauge_callback("sv_cluster_peers", "Peers connected to this node",
                            [p = peers] { return static_cast<double>(p->size()); });
    auto& c = wire::counters();
    registry.counter_callback("sv_wire_encoded_total", "Protobuf messages encoded for the wire",
                              [&c] { return static_cast<double>(c.encoded.load()); });
    registry.counter_callback("sv_wire_decoded_total", "Protobuf messages decoded from the wire",
                              [&c] { return static_cast<double>(c.decoded.load()); });
    registry.counter_callback("sv_wire_decode_failures_total",
                              "Protobuf payloads that failed to decode",
                              [&c] { return static_cast<double>(c.decode_failures.load()); });
    auto svc = services;
    registry.gauge_callback("sv_node_unready_services",
                            "Services of this node not ready (e.g. a store whose writes fail)",
                            [svc] { return static_cast<double>(svc->unready().size()); });
    registry.counter_callback("sv_store_write_failures_total",
                              "Store writes that failed (disk full, I/O error), answered with "
                              "an error and not acknowledged",
                              [svc] { return static_cast<double>(svc->failures()); });
    registry.counter_callback("sv_wire_undecodable_messages_total",
                              "Messages that reached an actor undecodable (answered with "
                              "an error)",
                              [] { return static_cast<double>(wire::undecodable_count()); });
  }

  metrics::http_response serve(const std::string& path) {
    if (path == "/metrics") {
      return {200, metrics::exposition_content_type, registry.render()};
    }
    if (path == "/healthz") {
      return {200, "text/plain; charset=utf-8", "ok\n"};
    }
    if (path == "/readyz") {
      auto body = readyz_body(ready, services->unready());
      return {body == "ready\n" ? 200 : 503, "text/plain; charset=utf-8", body};
    }
    return {404, "text/plain; charset=utf-8", "not found\n"};
  }

  bool tls() const {
    return !settings.tls_certificate.empty();
  }

  void stop_endpoint() {
    if (!endpoint) {
      return;
    }
    if (cluster_port != 0) {
      // Graceful leave: peers learn that this node is leaving before its connections drop.
      cluster::leave_cluster(*sys, endpoint, std::chrono::milliseconds{1000});
      // The guard's middleman actor published it, for plain TCP and TLS alike.
      caf::scoped_actor self{*sys};
      self->request(caf::actor_cast<caf::io::middleman_actor>(guard->dialer()),
                    caf::duration{std::chrono::seconds{1}}, caf::unpublish_atom::value,
                    endpoint.address(), cluster_port)
          .receive([] {}, [](caf::error&) {});
    }
    stop_actor(*sys, endpoint);
    cluster_port = 0;
  }

  void stop_guard() {
    if (guard) {
      guard->stop();
      guard.reset();
    }
  }
};

node::node(config::node_settings settings, std::vector<type_registrar> extra_types)
    : impl_(std::make_unique<impl>(std::move(settings), extra_types)) {}

node::~node() {
  stop();
}

std::string node::start() {
  auto& d = *impl_;
  if (d.ready) {
    return "node already started";
  }
  std::error_code ec;
  std::filesystem::create_directories(d.settings.data_dir, ec);
  if (ec) {
    return "cannot create data directory " + d.settings.data_dir + ": " + ec.message();
  }
  if (d.tls()) {
    // caf_openssl reads these files only when a connection is made, and throws on its
    // own threads then: check them now, and fail start() with the reason.
    if (auto why =
            check_tls_files(d.settings.tls_certificate, d.settings.tls_key, d.settings.tls_ca);
        !why.empty()) {
      return "mutual TLS: " + why;
    }
    if (auto why = cluster::prepare_tls_io(); !why.empty()) {
      return "mutual TLS: " + why;
    }
  }
  // Start order: load monitor, cluster endpoint, metrics endpoint (stop: the reverse).
  d.monitor = flow::spawn_load_monitor(*d.sys, d.flow, d.registry);
  cluster::endpoint_settings es;
  es.node_name = d.settings.name;
  es.version = version();
  for (auto& s : d.settings.seeds) {
    es.seeds.push_back(cluster::seed{s.host, s.port});
  }
  for (auto& [from, to] : d.settings.dial_via) {
    es.dial_via[from.host + ":" + std::to_string(from.port)] = cluster::seed{to.host, to.port};
  }
  es.connect_timeout = std::chrono::milliseconds{d.settings.connection_timeout_ms};
  es.retry_interval = std::chrono::milliseconds{d.settings.seed_retry_ms};
  es.incarnation = now_ms();
  es.tls = d.tls();
  es.gossip_interval = std::chrono::milliseconds{d.settings.gossip_interval_ms};
  es.membership.suspect_after = std::chrono::milliseconds{d.settings.suspect_after_ms};
  es.membership.down_after = std::chrono::milliseconds{d.settings.down_after_ms};
  es.membership.remote_suspect_after =
      std::chrono::milliseconds{d.settings.remote_suspect_after_ms};
  es.membership.remote_down_after = std::chrono::milliseconds{d.settings.remote_down_after_ms};
  es.region = d.settings.region;
  es.zone = d.settings.zone;
  cluster::guard_settings gs;
  gs.frames.max_frame_bytes = d.settings.max_frame_bytes;
  gs.max_connections = d.settings.max_connections;
  gs.max_pending = d.settings.max_pending_connections;
  gs.handshake_timeout = std::chrono::milliseconds{d.settings.handshake_timeout_ms};
  gs.tls = d.tls();
  d.guard = std::make_unique<cluster::transport_guard>(*d.sys, gs, &d.registry);
  es.dialer = d.guard->dialer();
  d.endpoint = cluster::spawn_endpoint(*d.sys, std::move(es), d.peers, d.registry);
  // reuse = true: a restarted node must re-bind at once despite TIME_WAIT sockets.
  auto published = d.guard->publish(caf::actor_cast<caf::strong_actor_ptr>(d.endpoint),
                                    d.sys->message_types(d.endpoint), d.settings.cluster_port,
                                    d.settings.bind_address, true);
  if (auto* err = std::get_if<std::string>(&published)) {
    auto why = "cannot publish the cluster endpoint on " + d.settings.bind_address + ":"
               + std::to_string(d.settings.cluster_port) + ": " + *err;
    d.stop_endpoint();
    d.stop_guard();
    stop_actor(*d.sys, d.monitor);
    return why;
  }
  auto port = std::get<uint16_t>(published);
  d.cluster_port = port;
  if (d.settings.metrics_port != 0) {
    auto err = d.http.start(d.settings.metrics_bind_address, d.settings.metrics_port,
                            [&d](const std::string& path) { return d.serve(path); });
    if (!err.empty()) {
      d.stop_endpoint();
      d.stop_guard();
      stop_actor(*d.sys, d.monitor);
      return "cannot start the metrics endpoint: " + err;
    }
  }
  cluster::start_endpoint(d.endpoint, d.settings.bind_address + ":" + std::to_string(port));
  d.ready = true;
  return {};
}

void node::stop() {
  auto& d = *impl_;
  d.ready = false;
  // Reverse start order: metrics endpoint, cluster endpoint, load monitor.
  d.http.stop();
  d.stop_endpoint();
  d.stop_guard();
  stop_actor(*d.sys, d.monitor);
}

bool node::leave(std::chrono::milliseconds timeout) {
  auto& d = *impl_;
  if (!d.endpoint || d.cluster_port == 0) {
    return false;
  }
  return cluster::leave_cluster(*d.sys, d.endpoint, timeout);
}

node_status node::status() const {
  auto& d = *impl_;
  node_status st;
  st.name = d.settings.name;
  st.peers = d.peers->size();
  st.members_up = d.peers->count(cluster::member_state::up);
  st.members = d.peers->members().size();
  st.actors = d.sys->registry().running();
  st.load_level = static_cast<int>(d.flow->current_level());
  st.unready = d.services->unready();
  st.started = d.ready;
  st.ready = st.started && st.unready.empty();
  return st;
}

std::shared_ptr<readiness> node::service_readiness() const {
  return impl_->services;
}

std::vector<cluster::peer_info> node::peers() const {
  return impl_->peers->snapshot();
}

caf::actor node::cluster_endpoint() const {
  return caf::actor_cast<caf::actor>(impl_->endpoint);
}

std::vector<cluster::member> node::members() const {
  return impl_->peers->members();
}

uint16_t node::cluster_port() const {
  return impl_->cluster_port;
}

uint16_t node::metrics_port() const {
  return impl_->http.port();
}

const config::node_settings& node::settings() const {
  return impl_->settings;
}

caf::actor_system& node::system() {
  return *impl_->sys;
}

metrics::registry& node::metrics() {
  return impl_->registry;
}

flow::flow_context& node::flow() {
  return *impl_->flow;
}

std::shared_ptr<void> serve_metrics(node& n) {
  auto& sys = n.system();
  auto* reg = &n.metrics();
  auto actor = sys.spawn([reg](caf::event_based_actor* self) -> caf::behavior {
    wire::answer_undecodable(self, "metrics"); // never renders what it does not know

    return {[reg](metrics_atom) {
      return reg->render();
    }};
  });
  cluster::register_service(sys, metrics_service_name, actor);
  auto* sysp = &sys;
  return std::shared_ptr<void>{new caf::actor{actor}, [sysp](void* p) {
                                 auto* a = static_cast<caf::actor*>(p);
                                 sysp->registry().erase(metrics_service_name);
                                 stop_actor(*sysp, *a);
                                 delete a;
                               }};
}

caf::expected<std::string> fetch_metrics(caf::actor_system& sys, const std::string& host,
                                         uint16_t port, std::chrono::milliseconds timeout) {
  auto svc = cluster::lookup_service(sys, host, port, metrics_service_name, timeout);
  if (!svc) {
    return svc.error();
  }
  caf::scoped_actor self{sys};
  caf::expected<std::string> out = caf::make_error(caf::sec::request_timeout);
  self->request(*svc, caf::duration{timeout}, metrics_atom::value)
      .receive([&](std::string& text) { out = std::move(text); },
               [&](caf::error& err) { out = std::move(err); });
  return out;
}

} // namespace sv
