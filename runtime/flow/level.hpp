#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "runtime/flow/service_class.hpp"

namespace sv::flow {

/// Degradation levels (design §4). Each level sheds more; critical work is never shed by
/// level (only by its own watermark).
enum class level : uint8_t {
  l0 = 0, ///< normal
  l1 = 1, ///< shed bulk
  l2 = 2, ///< shed best-effort
  l3 = 3, ///< degraded: modules serve cheaper answers (their own choice of what)
  l4 = 4, ///< critical only
};

inline constexpr size_t level_count = 5;

/// "L0" .. "L4".
std::string_view to_string(level x) noexcept;

/// Which classes each level refuses outright: `sheds[level][class]`. A level sheds at
/// least what the level below it sheds, and never critical (checked by `valid()`).
struct level_policy {
  std::array<std::array<bool, service_class_count>, level_count> sheds{};

  bool refuses(level lvl, service_class c) const noexcept {
    return sheds[static_cast<size_t>(lvl)][index(c)];
  }

  /// True when critical is never shed and every level sheds a superset of the one below.
  bool valid() const noexcept;
};

/// L1 bulk; L2 and L3 bulk and best_effort; L4 everything but critical.
level_policy default_level_policy() noexcept;

} // namespace sv::flow
