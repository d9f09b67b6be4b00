#include "runtime/flow/level.hpp"

namespace sv::flow {

std::string_view to_string(level x) noexcept {
  constexpr std::array<std::string_view, level_count> names = {"L0", "L1", "L2", "L3", "L4"};
  return names[static_cast<size_t>(x)];
}

bool level_policy::valid() const noexcept {
  for (size_t l = 0; l < level_count; ++l) {
    if (sheds[l][index(service_class::critical)]) {
      return false;
    }
    for (size_t c = 0; l > 0 && c < service_class_count; ++c) {
      if (sheds[l - 1][c] && !sheds[l][c]) {
        return false;
      }
    }
  }
  return true;
}

level_policy default_level_policy() noexcept {
  level_policy p;
  auto shed = [&p](level l, service_class c) {
    p.sheds[static_cast<size_t>(l)][index(c)] = true;
  };
  for (auto l : {level::l1, level::l2, level::l3, level::l4}) {
    shed(l, service_class::bulk);
  }
  for (auto l : {level::l2, level::l3, level::l4}) {
    shed(l, service_class::best_effort);
  }
  shed(level::l4, service_class::interactive);
  return p;
}

} // namespace sv::flow
