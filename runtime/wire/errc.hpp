#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "caf/atom.hpp"
#include "caf/error.hpp"
#include "caf/fwd.hpp"

namespace sv {

/// Error codes of the StreamVerse runtime: what any service may answer. Domain modules
/// have codes of their own, each in its own error category (see
/// `error_domain` below). These travel between nodes as CAF errors of the category
/// "sv", so a remote sender sees the same code a local one does. Values are part of the
/// wire format: only append.
enum class errc : uint8_t {
  /// A message arrived that could not be decoded (unknown type or corrupt payload).
  undecodable_payload = 1,
  /// A peer announced a node name that another live peer already uses.
  duplicate_node_name = 2,
  /// A peer speaks a wire protocol this node does not understand.
  protocol_mismatch = 3,
  /// The target is over its watermark; the request was refused (retry later).
  overloaded = 4,
  /// A request carried invalid arguments; nothing was changed.
  invalid_argument = 5,
  // 6-9 and 13-15 moved to the domain modules' own categories (protocol 2).
  /// An update named an expected version that is not the current one; nothing changed.
  version_conflict = 10,
  /// No such item (e.g. an unknown key) or no such service on that node.
  not_found = 11,
  /// No node can take the request right now (e.g. the owner of a key is unreachable).
  unavailable = 12,
};

/// Describes the error codes of a domain module: specialize it for the module's enum (a
/// `uint8_t` enum class) with
///   static constexpr caf::atom_value category; // unique, starting "sv": caf::atom("svorders")
///   static const char* name(E code);           // e.g. "unknown_order"
/// and register it with `add_error_domain<E>(cfg, prefix)` in the module's type
/// registration, so that `actor_system::render` prints its codes by name. Then
/// `make_error(code, context)` and `is(err, code)` work for the enum as for `errc`, and its
/// errors cross the wire as (category, code) like any CAF error.
template <class E>
struct error_domain;

/// A CAF error of `category` with `code` and, unless empty, `context` as its text.
caf::error make_domain_error(caf::atom_value category, uint8_t code, std::string context);

/// True when `err` is of `category` with `code`.
bool is_domain_error(const caf::error& err, caf::atom_value category, uint8_t code);

template <class E, class D = error_domain<E>, class = decltype(D::category)>
caf::error make_error(E x, std::string context = {}) {
  return make_domain_error(D::category, static_cast<uint8_t>(x), std::move(context));
}

template <class E, class D = error_domain<E>, class = decltype(D::category)>
bool is(const caf::error& err, E x) {
  return is_domain_error(err, D::category, static_cast<uint8_t>(x));
}

/// Registers a domain's category and code names with `cfg`: `actor_system::render` prints
/// its errors as "PREFIX: NAME (context)".
void add_error_domain(caf::actor_system_config& cfg, caf::atom_value category, const char* prefix,
                      const char* (*name)(uint8_t code));

template <class E, class D = error_domain<E>>
void add_error_domain(caf::actor_system_config& cfg, const char* prefix) {
  add_error_domain(cfg, D::category, prefix,
                   [](uint8_t code) { return D::name(static_cast<E>(code)); });
}

/// The category of the runtime's own codes (`errc`).
caf::atom_value runtime_error_category() noexcept;

/// Human-readable name of `x` (e.g. "undecodable_payload").
std::string to_string(errc x);

/// Wraps `x` into a CAF error of the StreamVerse category, with an optional context.
caf::error make_error(errc x);
caf::error make_error(errc x, std::string context);

/// The refusal the flow gate sends: `overloaded`, naming the service class and how long
/// the caller should wait before retrying. Renders as
/// "streamverse: overloaded (bulk, retry after 50 ms)".
caf::error make_overloaded(const std::string& service_class, std::chrono::milliseconds retry_after);

/// The retry-after hint of an `overloaded` error, or nullopt for any other error.
std::optional<std::chrono::milliseconds> retry_after(const caf::error& err);

/// True when `err` carries the StreamVerse code `x`.
bool is(const caf::error& err, errc x);

/// True when `err` is an answer of a StreamVerse service (a code of this category or of a
/// domain's, whose categories all start with "sv"), as opposed to a transport or CAF error
/// (timeout, actor down, ...): a relaying node passes such a refusal on instead of trying
/// elsewhere.
bool is_refusal(const caf::error& err);

/// Registers the error category with a config so that `actor_system::render` prints
/// StreamVerse errors by name. Called by `wire::register_message_types`.
void add_error_category(caf::actor_system_config& cfg);

} // namespace sv
