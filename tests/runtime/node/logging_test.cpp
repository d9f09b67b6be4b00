#include <memory>
#include <sstream>
#include <string>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <doctest/doctest.h>

#include "runtime/node/node.hpp"

namespace {

// Logs `msg` at info through the node's formatter and returns the line written.
std::string log_line(sv::config::log_format format, const std::string& msg) {
  sv::config::node_settings s;
  s.name = "node-x";
  s.log_format_value = format;
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  spdlog::logger logger{"test", sink};
  logger.set_formatter(sv::make_log_formatter(s));
  logger.info("{}", msg);
  logger.flush();
  return out.str();
}

} // namespace

TEST_SUITE("runtime.node") {
  TEST_CASE("JSON log lines carry ts, level, node and the escaped message") {
    auto line = log_line(sv::config::log_format::json, "say \"hi\"\\ \n\tand\x01");
    CHECK(line.rfind("{\"ts\":\"", 0) == 0);
    CHECK(line.find("Z\",\"level\":\"info\",\"node\":\"node-x\",\"msg\":") != std::string::npos);
    CHECK(line.find(R"("msg":"say \"hi\"\\ \n\tand\u0001"})") != std::string::npos);
    CHECK(line.back() == '\n');
    CHECK(line.find('\n') == line.size() - 1); // one event, one line
  }

  TEST_CASE("text log lines carry the level, the node name and the message") {
    auto line = log_line(sv::config::log_format::text, "peer node-b connected");
    CHECK(line.find("Z info  [node-x] peer node-b connected\n") != std::string::npos);
  }
}
