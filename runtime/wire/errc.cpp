#include "runtime/wire/errc.hpp"

#include "caf/actor_system_config.hpp"
#include "caf/atom.hpp"
#include "caf/error.hpp"
#include "caf/make_message.hpp"

namespace sv {

namespace {

constexpr caf::atom_value category = caf::atom("sv");

const char* name_of(errc x) {
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
  case errc::version_conflict:
    return "version_conflict";
  case errc::not_found:
    return "not_found";
  case errc::unavailable:
    return "unavailable";
  }
  return nullptr;
}

} // namespace

std::string to_string(errc x) {
  if (auto name = name_of(x)) {
    return name;
  }
  return "errc(" + std::to_string(static_cast<int>(x)) + ")";
}

namespace {

std::string render_context(const caf::message& ctx) {
  if (ctx.match_elements<std::string, int64_t>()) {
    return " (" + ctx.get_as<std::string>(0) + ", retry after "
           + std::to_string(ctx.get_as<int64_t>(1)) + " ms)";
  }
  if (ctx.empty()) {
    return {};
  }
  return " ("
         + (ctx.match_element<std::string>(0) ? ctx.get_as<std::string>(0) : caf::to_string(ctx))
         + ")";
}

} // namespace

caf::error make_domain_error(caf::atom_value category, uint8_t code, std::string context) {
  if (context.empty()) {
    return caf::error{code, category};
  }
  return caf::error{code, category, caf::make_message(std::move(context))};
}

bool is_domain_error(const caf::error& err, caf::atom_value category, uint8_t code) {
  return err.category() == category && err.code() == code;
}

void add_error_domain(caf::actor_system_config& cfg, caf::atom_value category, const char* prefix,
                      const char* (*name)(uint8_t code)) {
  std::string p = prefix;
  cfg.add_error_category(
      category, [p, name](uint8_t code, caf::atom_value, const caf::message& ctx) {
        auto* n = name(code);
        return p + ": " + (n != nullptr ? std::string{n} : "code " + std::to_string(code))
               + render_context(ctx);
      });
}

caf::atom_value runtime_error_category() noexcept {
  return category;
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
    return "streamverse: " + to_string(static_cast<errc>(code)) + render_context(ctx);
  });
}

} // namespace sv
