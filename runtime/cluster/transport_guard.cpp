#include "runtime/cluster/transport_guard.hpp"

#include <sys/socket.h>

#include <condition_variable>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <utility>

#include <spdlog/spdlog.h>

#include "caf/actor_system.hpp"
#include "caf/function_view.hpp"
#include "caf/io/basp_broker.hpp"
#include "caf/io/middleman.hpp"
#include "caf/io/middleman_actor_impl.hpp"
#include "caf/io/network/default_multiplexer.hpp"
#include "caf/io/network/doorman_impl.hpp"
#include "caf/io/network/native_socket.hpp"
#include "caf/io/network/stream_impl.hpp"
#include "caf/io/scribe.hpp"
#include "caf/openssl/session.hpp"
#include "caf/policy/tcp.hpp"
#include "caf/scoped_actor.hpp"
#include "runtime/metrics/registry.hpp"

namespace sv::cluster {

using native_socket = caf::io::network::native_socket;
using rw_state = caf::io::network::rw_state;
using steady = std::chrono::steady_clock;

// What all guarded connections of one node share: the limits, the open connections (for
// the limit and the handshake deadline) and the counters.
struct transport_guard::hub {
  struct entry {
    native_socket fd;
    steady::time_point deadline;
    bool accepted;
    bool handshake = false;
    bool shut = false;
  };

  explicit hub(guard_settings s) : settings(std::move(s)) {}

  guard_settings settings;
  std::mutex mtx;
  std::unordered_map<uint64_t, entry> conns;
  uint64_t next_id = 1;
  std::atomic<size_t> accepted_open{0};
  std::array<std::atomic<uint64_t>, guard_refusal_count> refused{};
  std::array<metrics::counter*, guard_refusal_count> refused_metric{};
  std::atomic<int64_t> last_log_ms{0};
  std::atomic<uint32_t> largest_frame{0};

  void saw_frame(uint32_t size) {
    auto seen = largest_frame.load(std::memory_order_relaxed);
    while (size > seen && !largest_frame.compare_exchange_weak(seen, size)) {
    }
  }

  uint64_t add(native_socket fd, bool accepted) {
    std::lock_guard<std::mutex> guard{mtx};
    auto id = next_id++;
    conns.emplace(id, entry{fd, steady::now() + settings.handshake_timeout, accepted});
    if (accepted) {
      accepted_open.fetch_add(1, std::memory_order_relaxed);
    }
    return id;
  }

  // Called from the connection's destructor, before CAF closes its socket: the sweeper
  // never touches a descriptor number that may already belong to something else.
  void remove(uint64_t id) {
    std::lock_guard<std::mutex> guard{mtx};
    auto i = conns.find(id);
    if (i == conns.end()) {
      return;
    }
    if (i->second.accepted) {
      accepted_open.fetch_sub(1, std::memory_order_relaxed);
    }
    conns.erase(i);
  }

  // Makes room for one more connection without handshake: past max_pending, the oldest
  // one is shut down. Then whether the total allows one more.
  bool admit() {
    bool evicted = false;
    {
      std::lock_guard<std::mutex> guard{mtx};
      size_t pending = 0;
      entry* oldest = nullptr;
      for (auto& [id, e] : conns) {
        if (e.accepted && !e.handshake && !e.shut) {
          ++pending;
          if (oldest == nullptr || e.deadline < oldest->deadline) {
            oldest = &e;
          }
        }
      }
      if (oldest != nullptr && pending >= settings.max_pending) {
        ::shutdown(oldest->fd, SHUT_RDWR);
        oldest->shut = true;
        evicted = true;
      }
    }
    if (evicted) {
      count(guard_refusal::pending_limit, {});
    }
    return accepted_open.load(std::memory_order_relaxed) < settings.max_connections;
  }

  void handshake_done(uint64_t id) {
    std::lock_guard<std::mutex> guard{mtx};
    if (auto i = conns.find(id); i != conns.end()) {
      i->second.handshake = true;
    }
  }

  void count(guard_refusal why, const std::string& peer) {
    auto k = static_cast<size_t>(why);
    refused[k].fetch_add(1, std::memory_order_relaxed);
    if (refused_metric[k] != nullptr) {
      refused_metric[k]->inc();
    }
    auto now =
        std::chrono::duration_cast<std::chrono::milliseconds>(steady::now().time_since_epoch())
            .count();
    auto last = last_log_ms.load(std::memory_order_relaxed);
    if (now - last >= 1000 && last_log_ms.compare_exchange_strong(last, now)) {
      spdlog::warn("cluster port: closed a connection from {}: {} (refusals so far: {})",
                   peer.empty() ? "?" : peer, to_string(why), total_refusals());
    }
  }

  uint64_t total_refusals() const {
    uint64_t n = 0;
    for (auto& r : refused) {
      n += r.load(std::memory_order_relaxed);
    }
    return n;
  }

  // Shuts down the connections past their handshake deadline: CAF's multiplexer then sees
  // the socket end and closes it as it closes any other.
  void sweep() {
    auto now = steady::now();
    size_t expired = 0;
    {
      std::lock_guard<std::mutex> guard{mtx};
      for (auto& [id, e] : conns) {
        if (!e.handshake && !e.shut && now >= e.deadline) {
          ::shutdown(e.fd, SHUT_RDWR);
          e.shut = true;
          ++expired;
        }
      }
    }
    for (size_t i = 0; i < expired; ++i) {
      count(guard_refusal::handshake_timeout, {});
    }
  }
};

namespace {

std::string peer_of(native_socket fd) {
  auto addr = caf::io::network::remote_addr_of_fd(fd);
  auto port = caf::io::network::remote_port_of_fd(fd);
  if (!addr || !port) {
    return {};
  }
  return *addr + ":" + std::to_string(*port);
}

// CAF's stream policy for one guarded connection: plain TCP or caf_openssl's TLS state
// underneath, every byte read passed through the connection's frame_guard.
class guard_policy {
public:
  guard_policy(std::shared_ptr<transport_guard::hub> hub, native_socket fd, bool accepted,
               caf::openssl::session_ptr tls)
      : hub_(std::move(hub)), tls_(std::move(tls)), frames_(hub_->settings.frames, accepted),
        id_(hub_->add(fd, accepted)) {}

  ~guard_policy() {
    hub_->remove(id_);
  }

  guard_policy(const guard_policy&) = delete;
  guard_policy& operator=(const guard_policy&) = delete;

  rw_state read_some(size_t& result, native_socket fd, void* buf, size_t len) {
    auto state = tls_ ? tls_->read_some(result, fd, buf, len)
                      : caf::policy::tcp::read_some(result, fd, buf, len);
    if (state != rw_state::success || result == 0) {
      return state;
    }
    auto before = frames_.handshake_done();
    auto why = frames_.feed(static_cast<const char*>(buf), result);
    if (why != guard_refusal::none) {
      hub_->count(why, peer_of(fd));
      result = 0;
      return rw_state::failure;
    }
    if (!before && frames_.handshake_done()) {
      hub_->handshake_done(id_);
    }
    if (frames_.largest_payload() > largest_seen_) {
      largest_seen_ = frames_.largest_payload();
      hub_->saw_frame(largest_seen_);
    }
    return state;
  }

  rw_state write_some(size_t& result, native_socket fd, const void* buf, size_t len) {
    return tls_ ? tls_->write_some(result, fd, buf, len)
                : caf::policy::tcp::write_some(result, fd, buf, len);
  }

  bool must_read_more(native_socket fd, size_t threshold) {
    return tls_ ? tls_->must_read_more(fd, threshold) : false;
  }

private:
  std::shared_ptr<transport_guard::hub> hub_;
  caf::openssl::session_ptr tls_;
  frame_guard frames_;
  uint64_t id_;
  uint32_t largest_seen_ = 0;
};

using default_mpx = caf::io::network::default_multiplexer;

// A BASP connection over a guarded stream (the scribe interface CAF's brokers use).
class guarded_scribe : public caf::io::scribe {
public:
  guarded_scribe(default_mpx& mpx, native_socket fd, std::shared_ptr<transport_guard::hub> hub,
                 bool accepted, caf::openssl::session_ptr tls)
      : caf::io::scribe(caf::io::network::conn_hdl_from_socket(fd)), tls_(tls != nullptr),
        stream_(mpx, fd, std::move(hub), fd, accepted, std::move(tls)) {}

  void configure_read(caf::io::receive_policy::config config) override {
    stream_.configure_read(config);
    if (!launched_) {
      launched_ = true;
      stream_.start(this);
      if (tls_) {
        // Drives the TLS handshake even before there is anything to write.
        stream_.force_empty_write(this);
      }
    }
  }

  void ack_writes(bool enable) override {
    stream_.ack_writes(enable);
  }

  std::vector<char>& wr_buf() override {
    return stream_.wr_buf();
  }

  std::vector<char>& rd_buf() override {
    return stream_.rd_buf();
  }

  void graceful_shutdown() override {
    stream_.graceful_shutdown();
    detach(&stream_.backend(), false);
  }

  void flush() override {
    stream_.flush(this);
  }

  std::string addr() const override {
    auto x = caf::io::network::remote_addr_of_fd(stream_.fd());
    return x ? *x : std::string{};
  }

  uint16_t port() const override {
    auto x = caf::io::network::remote_port_of_fd(stream_.fd());
    return x ? *x : 0;
  }

  void add_to_loop() override {
    stream_.activate(this);
  }

  void remove_from_loop() override {
    stream_.passivate();
  }

private:
  bool tls_;
  bool launched_ = false;
  caf::io::network::stream_impl<guard_policy> stream_;
};

// Accepts connections up to the limit and wraps each in a guarded scribe.
class guarded_doorman : public caf::io::network::doorman_impl {
public:
  guarded_doorman(default_mpx& mpx, native_socket fd, std::shared_ptr<transport_guard::hub> hub)
      : caf::io::network::doorman_impl(mpx, fd), hub_(std::move(hub)) {}

  bool new_connection() override {
    if (detached()) {
      return false;
    }
    auto& mpx = acceptor_.backend();
    auto fd = acceptor_.accepted_socket();
    if (!hub_->admit()) {
      hub_->count(guard_refusal::connection_limit, peer_of(fd));
      caf::io::network::close_socket(fd);
      return false;
    }
    caf::io::network::nonblocking(fd, true);
    caf::io::network::keepalive(fd, true);
    caf::openssl::session_ptr tls;
    if (hub_->settings.tls) {
      tls = caf::openssl::make_session(parent()->system(), fd, true);
      if (tls == nullptr) {
        spdlog::warn("cluster port: cannot start TLS for {}", peer_of(fd));
        caf::io::network::close_socket(fd);
        return false;
      }
    }
    auto scribe = caf::make_counted<guarded_scribe>(mpx, fd, hub_, true, std::move(tls));
    auto hdl = scribe->hdl();
    parent()->add_scribe(std::move(scribe));
    return doorman::new_connection(&mpx, hdl);
  }

private:
  std::shared_ptr<transport_guard::hub> hub_;
};

// The middleman actor whose connections (published and dialed) are guarded.
class guarded_middleman : public caf::io::middleman_actor_impl {
public:
  guarded_middleman(caf::actor_config& cfg, caf::actor broker,
                    std::shared_ptr<transport_guard::hub> hub)
      : caf::io::middleman_actor_impl(cfg, std::move(broker)), hub_(std::move(hub)) {}

  const char* name() const override {
    return "sv.guarded_middleman";
  }

protected:
  caf::expected<caf::io::scribe_ptr> connect(const std::string& host, uint16_t port) override {
    auto fd = caf::io::network::new_tcp_connection(host, port);
    if (!fd) {
      return std::move(fd.error());
    }
    caf::io::network::nonblocking(*fd, true);
    caf::openssl::session_ptr tls;
    if (hub_->settings.tls) {
      tls = caf::openssl::make_session(system(), *fd, false);
      if (tls == nullptr) {
        caf::io::network::close_socket(*fd);
        return caf::make_error(caf::sec::cannot_connect_to_node);
      }
    }
    return caf::make_counted<guarded_scribe>(mpx(), *fd, hub_, false, std::move(tls));
  }

  caf::expected<caf::io::doorman_ptr> open(uint16_t port, const char* addr, bool reuse) override {
    auto fd = caf::io::network::new_tcp_acceptor_impl(port, addr, reuse);
    if (!fd) {
      return std::move(fd.error());
    }
    return caf::make_counted<guarded_doorman>(mpx(), *fd, hub_);
  }

private:
  default_mpx& mpx() {
    return static_cast<default_mpx&>(system().middleman().backend());
  }

  std::shared_ptr<transport_guard::hub> hub_;
};

} // namespace

struct transport_guard::impl {
  caf::actor_system* sys = nullptr;
  caf::io::middleman_actor middleman;
  std::mutex mtx;
  std::condition_variable cv;
  bool stopping = false;
  std::thread sweeper;
};

transport_guard::transport_guard(caf::actor_system& sys, guard_settings settings,
                                 metrics::registry* reg)
    : hub_(std::make_shared<hub>(std::move(settings))), impl_(std::make_unique<impl>()) {
  if (reg != nullptr) {
    for (size_t k = 1; k < guard_refusal_count; ++k) {
      hub_->refused_metric[k] =
          &reg->counter_metric("sv_cluster_guard_refusals_total",
                               "Connections to the cluster port closed by the guard, by reason",
                               {{"reason", to_string(static_cast<guard_refusal>(k))}});
    }
    auto h = hub_;
    reg->gauge_callback("sv_cluster_guard_connections",
                        "Accepted connections open on the cluster port",
                        [h] { return static_cast<double>(h->accepted_open.load()); });
    reg->gauge_callback("sv_cluster_guard_largest_frame_bytes",
                        "Largest BASP frame payload announced to this node since it started "
                        "(cluster.max_frame_bytes must stay above it)",
                        [h] { return static_cast<double>(h->largest_frame.load()); });
  }
  impl_->sys = &sys;
  auto broker = sys.middleman().named_broker<caf::io::basp_broker>(caf::atom("BASP"));
  impl_->middleman = sys.spawn<guarded_middleman, caf::hidden>(std::move(broker), hub_);
  auto tick = std::min<std::chrono::milliseconds>(
      std::chrono::milliseconds{250},
      std::max<std::chrono::milliseconds>(std::chrono::milliseconds{10},
                                          hub_->settings.handshake_timeout / 4));
  impl_->sweeper = std::thread{[this, tick] {
    std::unique_lock<std::mutex> lock{impl_->mtx};
    while (!impl_->stopping) {
      impl_->cv.wait_for(lock, tick);
      if (!impl_->stopping) {
        hub_->sweep();
      }
    }
  }};
}

transport_guard::~transport_guard() {
  stop();
}

void transport_guard::stop() {
  {
    std::lock_guard<std::mutex> lock{impl_->mtx};
    if (impl_->stopping) {
      return;
    }
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  if (impl_->sweeper.joinable()) {
    impl_->sweeper.join();
  }
  if (impl_->middleman) {
    caf::anon_send_exit(impl_->middleman, caf::exit_reason::user_shutdown);
    impl_->middleman = nullptr;
  }
}

std::variant<uint16_t, std::string> transport_guard::publish(caf::strong_actor_ptr whom,
                                                             std::set<std::string> sigs,
                                                             uint16_t port, const std::string& bind,
                                                             bool reuse) {
  caf::scoped_actor self{*impl_->sys};
  std::variant<uint16_t, std::string> result = std::string{"no answer"};
  self->request(impl_->middleman, caf::infinite, caf::publish_atom::value, port, std::move(whom),
                std::move(sigs), bind, reuse)
      .receive([&](uint16_t actual) { result = actual; },
               [&](caf::error& err) { result = impl_->sys->render(err); });
  return result;
}

caf::actor transport_guard::dialer() const {
  return caf::actor_cast<caf::actor>(impl_->middleman);
}

uint64_t transport_guard::refusals(guard_refusal why) const {
  return hub_->refused[static_cast<size_t>(why)].load(std::memory_order_relaxed);
}

size_t transport_guard::open_connections() const {
  return hub_->accepted_open.load(std::memory_order_relaxed);
}

} // namespace sv::cluster
