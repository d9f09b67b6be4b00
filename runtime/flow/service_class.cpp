#include "runtime/flow/service_class.hpp"

namespace sv::flow {

namespace {

constexpr std::array<std::string_view, service_class_count> names = {"critical", "interactive",
                                                                     "best_effort", "bulk"};

} // namespace

std::string_view to_string(service_class c) noexcept {
  return names[index(c)];
}

std::optional<service_class> parse_service_class(std::string_view name) noexcept {
  for (auto c : all_service_classes) {
    if (names[index(c)] == name) {
      return c;
    }
  }
  return std::nullopt;
}

} // namespace sv::flow
