// streamverse-node's main loop and the node's log setup.

#include <chrono>
#include <csignal>
#include <ctime>
#include <exception>
#include <memory>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "runtime/cluster/peer_table.hpp"
#include "runtime/node/node.hpp"

namespace sv {

namespace {

// "eu-west/a", "eu-west", or "-" when the node has no region.
std::string region_label(const config::node_settings& s) {
  if (s.region.empty()) {
    return "-";
  }
  return s.zone.empty() ? s.region : s.region + "/" + s.zone;
}

// %* in the JSON pattern: the message, escaped as a JSON string body.
class json_escaped_message : public spdlog::custom_flag_formatter {
public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    static constexpr char hex[] = "0123456789abcdef";
    for (auto c : msg.payload) {
      switch (c) {
      case '"':
        dest.append(std::string_view{"\\\""});
        break;
      case '\\':
        dest.append(std::string_view{"\\\\"});
        break;
      case '\n':
        dest.append(std::string_view{"\\n"});
        break;
      case '\t':
        dest.append(std::string_view{"\\t"});
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char esc[] = {'\\', 'u', '0', '0', hex[(c >> 4) & 0xf], hex[c & 0xf]};
          dest.append(esc, esc + sizeof(esc));
        } else {
          dest.push_back(c);
        }
      }
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<json_escaped_message>();
  }
};

} // namespace

std::unique_ptr<spdlog::formatter> make_log_formatter(const config::node_settings& settings) {
  auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  if (settings.log_format_value == config::log_format::json) {
    // Node names are validated to [A-Za-z0-9._-], so they need no escaping.
    formatter->add_flag<json_escaped_message>('*').set_pattern(
        R"({"ts":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","node":")" + settings.name
        + R"(","msg":"%*"})");
  } else {
    formatter->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %-5l [" + settings.name + "] %v");
  }
  return formatter;
}

void setup_logging(const config::node_settings& settings) {
  auto sink = std::make_shared<spdlog::sinks::stdout_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>("streamverse", sink);
  logger->set_formatter(make_log_formatter(settings));
  logger->set_level(spdlog::level::from_str(settings.log_level));
  // Flush every line: status lines are read live through pipes.
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
}

int run_until_signal(const config::node_settings& settings, const run_options& options) {
  // Block the stop signals before any thread exists, so every thread inherits the mask
  // and the signals are taken synchronously below (no async handler, no races).
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  setup_logging(settings);
  node n{settings, options.types};
  if (auto err = n.start(); !err.empty()) {
    spdlog::error("node {} failed to start: {}", settings.name, err);
    return 1;
  }
  std::shared_ptr<void> services;
  if (options.start_services) {
    try {
      services = options.start_services(n);
    } catch (const std::exception& e) {
      spdlog::error("node {}: a service failed to start: {}", settings.name, e.what());
      n.stop();
      return 1;
    }
  }
  spdlog::info("node {} {} up: region {}, cluster {}:{}, metrics {}, {} seed(s)", settings.name,
               version(), region_label(settings), settings.bind_address, n.cluster_port(),
               n.metrics_port() != 0
                   ? settings.metrics_bind_address + ":" + std::to_string(n.metrics_port())
                   : std::string{"off"},
               settings.seeds.size());
  auto interval_ms = settings.status_interval_ms != 0 ? settings.status_interval_ms : 3'600'000;
  int sig = 0;
  while (sig != SIGINT && sig != SIGTERM) {
    timespec wait{static_cast<time_t>(interval_ms / 1000),
                  static_cast<long>(interval_ms % 1000) * 1'000'000L};
    sig = sigtimedwait(&stop_signals, nullptr, &wait);
    if (sig < 0 && settings.status_interval_ms != 0) {
      auto st = n.status();
      spdlog::info("status node={} peers={} members_up={}/{} actors={} load=L{} region={}", st.name,
                   st.peers, st.members_up, st.members, st.actors, st.load_level,
                   region_label(settings));
    }
  }
  spdlog::info("node {} stopping on {}", settings.name, sig == SIGINT ? "SIGINT" : "SIGTERM");
  if (sig == SIGTERM && settings.leave_timeout_ms != 0) {
    auto t0 = std::chrono::steady_clock::now();
    auto timeout = std::chrono::milliseconds{settings.leave_timeout_ms};
    auto done = options.leave ? options.leave(n, services, timeout) : n.leave();
    auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    if (done) {
      spdlog::info("node {} left: everything handed over in {} ms", settings.name, ms);
    } else {
      spdlog::warn("node {} left without handing everything over within {} ms (what is left "
                   "stays in its data directory until it starts again)",
                   settings.name, ms);
    }
  }
  services.reset();
  n.stop();
  spdlog::info("node {} stopped", settings.name);
  return 0;
}

} // namespace sv
