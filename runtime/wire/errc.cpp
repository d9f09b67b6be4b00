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
  }
  return "errc(" + std::to_string(static_cast<int>(x)) + ")";
}

caf::error make_error(errc x) {
  return caf::error{static_cast<uint8_t>(x), category};
}

caf::error make_error(errc x, std::string context) {
  return caf::error{static_cast<uint8_t>(x), category, caf::make_message(std::move(context))};
}

bool is(const caf::error& err, errc x) {
  return err.category() == category && err.code() == static_cast<uint8_t>(x);
}

void add_error_category(caf::actor_system_config& cfg) {
  cfg.add_error_category(category, [](uint8_t code, caf::atom_value, const caf::message& ctx) {
    std::string out = "streamverse: " + to_string(static_cast<errc>(code));
    if (!ctx.empty()) {
      out += " (";
      out += ctx.match_element<std::string>(0) ? ctx.get_as<std::string>(0) : caf::to_string(ctx);
      out += ")";
    }
    return out;
  });
}

} // namespace sv
