#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace sv::flow {

/// The four service classes every request carries (design §4). Lower values are more
/// important; the gate sheds from the bottom up.
enum class service_class : uint8_t {
  critical = 0,    ///< what users wait on and must never lose (never shed by level)
  interactive = 1, ///< browse, search, resume position
  best_effort = 2, ///< recommendations, thumbnails, ad decisions
  bulk = 3,        ///< background volume: history, prefetch, rebalancing
};

inline constexpr size_t service_class_count = 4;

inline constexpr std::array<service_class, service_class_count> all_service_classes = {
    service_class::critical, service_class::interactive, service_class::best_effort,
    service_class::bulk};

/// Index of `c` in per-class arrays.
constexpr size_t index(service_class c) noexcept {
  return static_cast<size_t>(c);
}

/// "critical", "interactive", "best_effort" or "bulk".
std::string_view to_string(service_class c) noexcept;

/// The class named `name` (as to_string writes it), or nullopt.
std::optional<service_class> parse_service_class(std::string_view name) noexcept;

} // namespace sv::flow
