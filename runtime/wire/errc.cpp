#include "runtime/wire/errc.hpp"

#include "caf/actor_system_config.hpp"
#include "caf/atom.hpp"
#include "caf/error.hpp"
#include "caf/make_message.hpp"

namespace sv {

namespace {

constexpr caf::atom_value category = caf::atom("sv");

} // namespace

std::string to_string(errc x) {
  switch (x) {
  case errc::undecodable_payload:
    return "undecodable_payload";
  case errc::duplicate_node_name:
    return "duplicate_node_name";
  case errc::protocol_mismatch:
    return "protocol_mismatch";
  case errc::overloaded:
    return "overloaded";
  case errc::invalid_argument:
    return "invalid_argument";
  case errc::unknown_session:
    return "unknown_session";
  case errc::session_closed:
    return "session_closed";
  case errc::session_exists:
    return "session_exists";
  case errc::not_entitled:
    return "not_entitled";
  case errc::version_conflict:
    return "version_conflict";
  case errc::not_found:
    return "not_found";
  case errc::unavailable:
    return "unavailable";
  case errc::not_in_region:
    return "not_in_region";
  case errc::outside_window:
    return "outside_window";
  case errc::no_ready_rendition:
    return "no_ready_rendition";
  }
  return "errc(" + std::to_string(static_cast<int>(x)) + ")";
}

caf::error make_error(errc x) {
  return caf::error{static_cast<uint8_t>(x), category};
}

caf::error make_error(errc x, std::string context) {
  return caf::error{static_cast<uint8_t>(x), category, caf::make_message(std::move(context))};
}

caf::error make_overloaded(const std::string& service_class,
                           std::chrono::milliseconds retry_after) {
  return caf::error{static_cast<uint8_t>(errc::overloaded), category,
                    caf::make_message(service_class, static_cast<int64_t>(retry_after.count()))};
}

std::optional<std::chrono::milliseconds> retry_after(const caf::error& err) {
  if (!is(err, errc::overloaded) || !err.context().match_elements<std::string, int64_t>()) {
    return std::nullopt;
  }
  return std::chrono::milliseconds{err.context().get_as<int64_t>(1)};
}

bool is(const caf::error& err, errc x) {
  return err.category() == category && err.code() == static_cast<uint8_t>(x);
}

bool is_refusal(const caf::error& err) {
  if (err.category() == category) {
    return true;
  }
  auto name = caf::to_string(err.category());
  return name.size() > 2 && name.compare(0, 2, "sv") == 0;
}

void add_error_category(caf::actor_system_config& cfg) {
  cfg.add_error_category(category, [](uint8_t code, caf::atom_value, const caf::message& ctx) {
    std::string out = "streamverse: " + to_string(static_cast<errc>(code));
    if (ctx.match_elements<std::string, int64_t>()) {
      out += " (" + ctx.get_as<std::string>(0) + ", retry after "
             + std::to_string(ctx.get_as<int64_t>(1)) + " ms)";
    } else if (!ctx.empty()) {
      out += " (";
      out += ctx.match_element<std::string>(0) ? ctx.get_as<std::string>(0) : caf::to_string(ctx);
      out += ")";
    }
    return out;
  });
}

} // namespace sv
