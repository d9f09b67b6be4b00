#include "runtime/metrics/registry.hpp"

#include <stdexcept>
#include <string>

#include <doctest/doctest.h>

using sv::metrics::registry;

namespace {

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

} // namespace

TEST_SUITE("runtime.metrics") {

  TEST_CASE("a counter renders with HELP, TYPE and its labelled series") {
    registry reg;
    reg.counter_metric("sv_requests_total", "Requests by class", {{"class", "bulk"}}).inc(3);
    reg.counter_metric("sv_requests_total", "Requests by class", {{"class", "critical"}}).inc();
    auto text = reg.render();
    CHECK(contains(text, "# HELP sv_requests_total Requests by class\n"));
    CHECK(contains(text, "# TYPE sv_requests_total counter\n"));
    CHECK(contains(text, "sv_requests_total{class=\"bulk\"} 3\n"));
    CHECK(contains(text, "sv_requests_total{class=\"critical\"} 1\n"));
  }

  TEST_CASE("registering the same series twice returns the same object") {
    registry reg;
    auto& a = reg.counter_metric("sv_x_total", "x", {{"a", "1"}, {"b", "2"}});
    auto& b = reg.counter_metric("sv_x_total", "x", {{"b", "2"}, {"a", "1"}});
    CHECK(&a == &b);
  }

  TEST_CASE("a gauge goes up and down and prints fractions") {
    registry reg;
    auto& g = reg.gauge_metric("sv_level", "level");
    g.set(2);
    g.add(0.5);
    g.add(-1);
    CHECK(g.value() == doctest::Approx(1.5));
    CHECK(contains(reg.render(), "sv_level 1.5\n"));
  }

  TEST_CASE("histogram buckets are cumulative and end with +Inf, sum and count") {
    registry reg;
    auto& h = reg.histogram_metric("sv_latency_seconds", "latency", {0.1, 1});
    h.observe(0.05);
    h.observe(0.1); // an observation equal to a bound belongs to that bucket
    h.observe(0.5);
    h.observe(7);
    auto text = reg.render();
    CHECK(contains(text, "# TYPE sv_latency_seconds histogram\n"));
    CHECK(contains(text, "sv_latency_seconds_bucket{le=\"0.1\"} 2\n"));
    CHECK(contains(text, "sv_latency_seconds_bucket{le=\"1\"} 3\n"));
    CHECK(contains(text, "sv_latency_seconds_bucket{le=\"+Inf\"} 4\n"));
    CHECK(contains(text, "sv_latency_seconds_sum 7.65\n"));
    CHECK(contains(text, "sv_latency_seconds_count 4\n"));
  }

  TEST_CASE("label values and help text are escaped") {
    registry reg;
    reg.gauge_metric("sv_info", "a \\ help\nline", {{"path", "a\"b\\c\nd"}}).set(1);
    auto text = reg.render();
    CHECK(contains(text, "# HELP sv_info a \\\\ help\\nline\n"));
    CHECK(contains(text, "sv_info{path=\"a\\\"b\\\\c\\nd\"} 1\n"));
  }

  TEST_CASE("callback gauges are evaluated at render time") {
    registry reg;
    double v = 1;
    reg.gauge_callback("sv_dynamic", "dynamic", [&v] { return v; });
    CHECK(contains(reg.render(), "sv_dynamic 1\n"));
    v = 42;
    CHECK(contains(reg.render(), "sv_dynamic 42\n"));
  }

  TEST_CASE("bad names, reserved labels and type conflicts are refused") {
    registry reg;
    CHECK_THROWS_AS(reg.counter_metric("9starts_with_digit", "x"), std::invalid_argument);
    CHECK_THROWS_AS(reg.counter_metric("has-dash", "x"), std::invalid_argument);
    CHECK_THROWS_AS(reg.counter_metric("sv_ok", "x", {{"le", "1"}}), std::invalid_argument);
    CHECK_THROWS_AS(reg.counter_metric("sv_ok", "x", {{"__x", "1"}}), std::invalid_argument);
    reg.counter_metric("sv_taken", "x");
    CHECK_THROWS_AS(reg.gauge_metric("sv_taken", "x"), std::invalid_argument);
    CHECK_THROWS_AS(reg.histogram_metric("sv_h", "x", {1, 0.5}), std::invalid_argument);
  }

} // TEST_SUITE
