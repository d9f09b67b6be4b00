// Request/response through StreamVerse's wire path (protobuf payloads registered by
// sv::wire) next to raw CAF (a plain struct with an inspect overload) in the same run:
// locally between two actors, remotely between two actor systems over loopback, and the
// encode+decode that every remote send performs.
//
//   build/bin/sv-bench-wire --benchmark_format=json --benchmark_repetitions=5

#include <benchmark/benchmark.h>

#include <memory>
#include <string>

#include "caf/all.hpp"
#include "caf/io/all.hpp"
#include "runtime/cluster/cluster.pb.h"
#include "runtime/wire/message_types.hpp"
#include "runtime/wire/protobuf.hpp"

namespace {

using go_atom = caf::atom_constant<caf::atom("go")>;
using sv_hello = streamverse::v1::Hello;

// The raw-CAF baseline: the same fields as Hello, serialized by CAF itself.
struct raw_hello {
  std::string node_name;
  std::string version;
  uint32_t protocol = 0;
  std::string cluster_address;
  uint64_t incarnation = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, raw_hello& x) {
  return f(caf::meta::type_name("raw_hello"), x.node_name, x.version, x.protocol, x.cluster_address,
           x.incarnation);
}

template <class T>
T sample();

template <>
raw_hello sample<raw_hello>() {
  return raw_hello{"node-a", "0.1.0", 1, "127.0.0.1:7101", 1'732'280'000'000};
}

template <>
sv_hello sample<sv_hello>() {
  sv_hello h;
  h.set_node_name("node-a");
  h.set_version("0.1.0");
  h.set_protocol(1);
  h.set_cluster_address("127.0.0.1:7101");
  h.set_incarnation(1'732'280'000'000);
  return h;
}

struct bench_config : caf::actor_system_config {
  bench_config() {
    load<caf::io::middleman>();
    sv::wire::register_message_types(*this);
    add_message_type<raw_hello>("raw_hello");
    set("scheduler.max-threads", size_t{2});
    set("middleman.workers", size_t{0});
    set("logger.console-verbosity", caf::atom("quiet"));
  }
};

template <class T>
caf::behavior ponger(caf::event_based_actor*) {
  return {[](const T& x) {
    return x;
  }};
}

struct pinger_state {
  uint64_t remaining = 0;
  uint64_t total = 0;
  caf::response_promise done;
};

using pinger_actor = caf::stateful_actor<pinger_state>;

// One request at a time, each sent when the previous reply arrived (latency-bound).
template <class T>
void next_request(pinger_actor* self, caf::actor target, T payload) {
  self->request(target, caf::infinite, payload).then([=](const T&) {
    auto& st = self->state;
    if (--st.remaining == 0) {
      st.done.deliver(st.total);
    } else {
      next_request(self, target, payload);
    }
  });
}

template <class T>
caf::behavior pinger(pinger_actor* self, caf::actor target) {
  return {[=](go_atom, uint64_t n) -> caf::result<uint64_t> {
    self->state.remaining = n;
    self->state.total = n;
    self->state.done = self->make_response_promise();
    next_request(self, target, sample<T>());
    return self->state.done;
  }};
}

// Actor systems live for the whole run (building one per benchmark costs ~ms) and are
// torn down explicitly in main(), before static destruction begins.
struct environment {
  bench_config server_cfg;
  caf::actor_system server{server_cfg};
  bench_config client_cfg;
  caf::actor_system client{client_cfg};
  uint16_t port = 0;
  caf::actor raw_ponger = server.spawn(ponger<raw_hello>);
  caf::actor sv_ponger = server.spawn(ponger<sv_hello>);
  caf::actor raw_proxy;
  caf::actor sv_proxy;

  static std::unique_ptr<environment>& instance() {
    static std::unique_ptr<environment> env;
    return env;
  }

  static environment& get() {
    auto& env = instance();
    if (!env) {
      env = std::make_unique<environment>();
      env->raw_proxy = env->remote(env->raw_ponger);
      env->sv_proxy = env->remote(env->sv_ponger);
    }
    return *env;
  }

  static void shutdown() {
    auto& env = instance();
    if (env) {
      env->raw_proxy = nullptr;
      env->sv_proxy = nullptr;
      caf::anon_send_exit(env->raw_ponger, caf::exit_reason::user_shutdown);
      caf::anon_send_exit(env->sv_ponger, caf::exit_reason::user_shutdown);
      env.reset();
    }
  }

  caf::actor remote(const caf::actor& local_target) {
    auto p = server.middleman().publish(local_target, 0, "127.0.0.1");
    if (!p) {
      return nullptr;
    }
    auto proxy = client.middleman().remote_actor("127.0.0.1", *p);
    return proxy ? *proxy : nullptr;
  }
};

template <class T>
void run_batches(benchmark::State& state, caf::actor_system& sys, caf::actor target,
                 uint64_t batch) {
  if (!target) {
    state.SkipWithError("no target actor");
    return;
  }
  auto p = sys.spawn(pinger<T>, target);
  caf::scoped_actor self{sys};
  for (auto _ : state) {
    self->request(p, caf::infinite, go_atom::value, batch)
        .receive([](uint64_t) {},
                 [&](caf::error& err) { state.SkipWithError(sys.render(err).c_str()); });
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * batch));
  caf::anon_send_exit(p, caf::exit_reason::user_shutdown);
}

template <class T>
void local_request(benchmark::State& state) {
  auto& env = environment::get();
  auto target = std::is_same<T, sv_hello>::value ? env.sv_ponger : env.raw_ponger;
  run_batches<T>(state, env.server, target, 1000);
}

template <class T>
void remote_request(benchmark::State& state) {
  auto& env = environment::get();
  run_batches<T>(state, env.client, std::is_same<T, sv_hello>::value ? env.sv_proxy : env.raw_proxy,
                 100);
}

// Encode + decode of the whole message, as a remote send does on both ends.
template <class T>
void codec(benchmark::State& state) {
  auto& env = environment::get();
  auto msg = caf::make_message(sample<T>());
  size_t bytes = 0;
  for (auto _ : state) {
    std::vector<char> buf;
    caf::binary_serializer sink{env.client, buf};
    if (auto err = sink(msg)) {
      state.SkipWithError("serialize failed");
      return;
    }
    caf::message copy;
    caf::binary_deserializer source{env.client, buf};
    if (auto err = source(copy)) {
      state.SkipWithError("deserialize failed");
      return;
    }
    bytes = buf.size();
    benchmark::DoNotOptimize(copy);
  }
  state.counters["wire_bytes"] = static_cast<double>(bytes);
}

} // namespace

BENCHMARK_TEMPLATE(local_request, raw_hello)->Name("local_request/raw_caf_struct")->UseRealTime();
BENCHMARK_TEMPLATE(local_request, sv_hello)->Name("local_request/sv_protobuf")->UseRealTime();
BENCHMARK_TEMPLATE(remote_request, raw_hello)->Name("remote_request/raw_caf_struct")->UseRealTime();
BENCHMARK_TEMPLATE(remote_request, sv_hello)->Name("remote_request/sv_protobuf")->UseRealTime();
BENCHMARK_TEMPLATE(codec, raw_hello)->Name("codec/raw_caf_struct");
BENCHMARK_TEMPLATE(codec, sv_hello)->Name("codec/sv_protobuf");

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
    return 1;
  }
  benchmark::RunSpecifiedBenchmarks();
  environment::shutdown();
  benchmark::Shutdown();
  return 0;
}
