#include "runtime/flow/load_monitor.hpp"

#include <map>
#include <string>

#include <spdlog/spdlog.h>

#include "caf/actor_system.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/stateful_actor.hpp"
#include "runtime/metrics/registry.hpp"
#include "runtime/wire/undecodable.hpp"

namespace sv::flow {

namespace {

using tick_atom = caf::atom_constant<caf::atom("sv_tick")>;

struct depth_gauges {
  metrics::gauge* max = nullptr;
  metrics::gauge* mean = nullptr;
};

struct monitor_state {
  std::shared_ptr<flow_context> ctx;
  metrics::registry* reg = nullptr;
  metrics::gauge* level = nullptr;
  metrics::gauge* pressure = nullptr;
  metrics::gauge* lag = nullptr;
  metrics::gauge* p99 = nullptr;
  metrics::gauge* utilization = nullptr;
  metrics::gauge* projected = nullptr;
  std::map<std::string, depth_gauges> depths;

  static inline const char* name = "sv.flow.load_monitor";
};

using monitor_actor = caf::stateful_actor<monitor_state>;

double seconds(std::chrono::nanoseconds d) {
  return std::chrono::duration<double>(d).count();
}

void schedule_tick(monitor_actor* self) {
  auto interval = self->state.ctx->settings().monitor_interval;
  auto due = std::chrono::duration_cast<std::chrono::nanoseconds>(
      (self->clock().now() + interval).time_since_epoch());
  self->delayed_send(self, interval, tick_atom::value, static_cast<int64_t>(due.count()));
}

void export_reading(monitor_actor* self, const reading& r) {
  auto& st = self->state;
  st.level->set(static_cast<double>(r.after));
  st.pressure->set(r.pressure);
  st.lag->set(seconds(r.sample.dispatch_lag));
  st.p99->set(seconds(r.sample.critical_p99));
  st.utilization->set(r.utilization);
  st.projected->set(r.projected_utilization);
  for (auto& k : r.depths) {
    auto& g = st.depths[k.kind];
    if (g.max == nullptr) {
      const char* help = "Mailbox depth by actor kind at the last reading";
      g.max =
          &st.reg->gauge_metric("sv_flow_mailbox_depth", help, {{"kind", k.kind}, {"stat", "max"}});
      g.mean = &st.reg->gauge_metric("sv_flow_mailbox_depth", help,
                                     {{"kind", k.kind}, {"stat", "mean"}});
    }
    g.max->set(static_cast<double>(k.max));
    g.mean->set(k.mean);
  }
  if (r.after != r.before) {
    auto log = r.after > r.before ? spdlog::level::warn : spdlog::level::info;
    spdlog::log(
        log,
        "load level {} -> {} (pressure {:.2f}: depth {:.2f}, lag {} us, critical p99 {} us; "
        "utilization {:.2f}, {:.2f} with the shed work)",
        to_string(r.before), to_string(r.after), r.pressure, r.sample.depth_ratio,
        r.sample.dispatch_lag.count() / 1000, r.sample.critical_p99.count() / 1000, r.utilization,
        r.projected_utilization);
  }
}

caf::behavior load_monitor(monitor_actor* self, std::shared_ptr<flow_context> ctx,
                           metrics::registry* reg) {
  wire::answer_undecodable(self, "load monitor"); // never renders what it does not know
  auto& st = self->state;
  st.ctx = std::move(ctx);
  st.reg = reg;
  st.level = &reg->gauge_metric("sv_load_level", "Degrader level (0 = L0 normal .. 4 = L4)");
  st.pressure =
      &reg->gauge_metric("sv_flow_pressure", "Load pressure at the last reading (1 = at budget)");
  st.lag = &reg->gauge_metric("sv_flow_dispatch_lag_seconds",
                              "Lateness of the load monitor's timer at the last reading");
  st.p99 = &reg->gauge_metric("sv_flow_critical_p99_seconds",
                              "p99 latency of critical requests between the last two readings");
  st.utilization = &reg->gauge_metric(
      "sv_flow_utilization", "Share of the scheduler threads' time spent in entity handlers");
  st.projected =
      &reg->gauge_metric("sv_flow_projected_utilization",
                         "Utilization with the work refused by the degradation level added back");
  auto* c = st.ctx.get();
  reg->counter_callback("sv_flow_level_transitions_total", "Degrader level changes",
                        [c] { return static_cast<double>(c->level_transitions()); });
  for (auto cls : all_service_classes) {
    auto name = std::string{to_string(cls)};
    reg->counter_callback("sv_flow_admitted_total", "Requests admitted by the gate, by class",
                          [c, cls] { return static_cast<double>(c->admission().admitted(cls)); },
                          {{"class", name}});
    reg->counter_callback(
        "sv_flow_refused_total", "Requests refused with overloaded by the gate, by class",
        [c, cls] { return static_cast<double>(c->admission().refused(cls)); }, {{"class", name}});
  }
  schedule_tick(self);
  return {
      [self](tick_atom, int64_t due_ns) {
        auto now = std::chrono::duration_cast<std::chrono::nanoseconds>(
            self->clock().now().time_since_epoch());
        auto lag = std::max(std::chrono::nanoseconds{0}, now - std::chrono::nanoseconds{due_ns});
        export_reading(self, self->state.ctx->observe(lag, now));
        schedule_tick(self);
      },
  };
}

} // namespace

caf::actor spawn_load_monitor(caf::actor_system& sys, std::shared_ptr<flow_context> ctx,
                              metrics::registry& reg) {
  return sys.spawn(load_monitor, std::move(ctx), &reg);
}

} // namespace sv::flow
