#pragma once

// Config sections owned by modules outside runtime/: a module describes its section (its
// settings type with defaults, and each key with its type and range) and registers it with
// the loader; `load_file` then validates the section's keys like the runtime's own
// (FILE:LINE: KEY: MESSAGE on the first problem, unknown keys refused), and the module reads
// its settings back with `node_settings::section<T>()`.
//
//   struct cache_settings { uint32_t shards = 64; };
//   config::section<cache_settings>{"cache"}
//       .integer("shards", 1, 65536, &cache_settings::shards)
//       .add();
//   ... n.settings().section<cache_settings>().shards ...

#include <any>
#include <cstdint>
#include <functional>
#include <string>
#include <typeindex>
#include <utility>
#include <vector>

namespace sv::config {

/// One TOML value, as a registered section's key receives it.
struct value {
  enum class kind : uint8_t { string, integer, floating, boolean, array, table, other };
  kind type = kind::other;
  std::string text;         ///< kind::string
  int64_t integer = 0;      ///< kind::integer
  double number = 0;        ///< kind::floating (and kind::integer, converted)
  bool flag = false;        ///< kind::boolean
  std::vector<value> items; ///< kind::array
  /// "a string", "an integer", ...: for messages such as "expected an integer, got a string".
  const char* type_name() const noexcept;
};

/// A registered section: its name ("cache"; keys below it are "cache.<key>", and a key may
/// itself be dotted: "inner.url" is [<name>.inner] url), the settings type, and
/// per key a function that checks a value and stores it (returning "" or why not).
struct section_spec {
  using apply_fn = std::function<std::string(const value&, std::any& settings)>;
  std::string name;
  std::type_index type = typeid(void);
  std::function<std::any()> make;
  std::vector<std::pair<std::string, apply_fn>> keys;
};

/// Registers `spec` with the loader, replacing a section of the same name. Call it before
/// loading (a module's `register_config()`); sections must not collide with the runtime's
/// own ([node], [cluster], [metrics], [log], [flow]).
void register_section(section_spec spec);

/// The sections registered so far, in registration order.
std::vector<section_spec> registered_sections();

/// Builds and registers the section of settings type `T` (default-constructed: its member
/// initializers are the defaults).
template <class T>
class section {
public:
  explicit section(std::string name) {
    spec_.name = std::move(name);
    spec_.type = typeid(T);
    spec_.make = [] {
      return std::any{T{}};
    };
  }

  /// An integer key in [lo, hi]; `unit` (" ms", " bytes") is shown in range errors.
  section& integer(std::string key, int64_t lo, int64_t hi, std::function<void(T&, int64_t)> set,
                   const char* unit = "") {
    return add_key(std::move(key), [=](const value& v, T& s) -> std::string {
      if (v.type != value::kind::integer) {
        return std::string{"expected an integer, got "} + v.type_name();
      }
      if (v.integer < lo || v.integer > hi) {
        return std::to_string(v.integer) + unit + " is out of range (" + std::to_string(lo) + ".."
               + std::to_string(hi) + ")";
      }
      set(s, v.integer);
      return {};
    });
  }

  /// An integer key stored in `member` (an unsigned field that holds [lo, hi]).
  template <class M>
  section& integer(std::string key, int64_t lo, int64_t hi, M T::*member, const char* unit = "") {
    return integer(
        std::move(key), lo, hi, [member](T& s, int64_t v) { s.*member = static_cast<M>(v); }, unit);
  }

  /// A true/false key.
  section& boolean(std::string key, bool T::*member) {
    return add_key(std::move(key), [member](const value& v, T& s) -> std::string {
      if (v.type != value::kind::boolean) {
        return std::string{"expected true or false, got "} + v.type_name();
      }
      s.*member = v.flag;
      return {};
    });
  }

  /// A string key; `set` checks it and stores it, returning "" or why it refuses.
  section& text(std::string key, std::function<std::string(T&, const std::string&)> set) {
    return add_key(std::move(key), [set](const value& v, T& s) -> std::string {
      if (v.type != value::kind::string) {
        return std::string{"expected a string, got "} + v.type_name();
      }
      return set(s, v.text);
    });
  }

  /// An array of non-empty strings (`what` names them in errors: "content ids").
  section& strings(std::string key, const char* what, std::vector<std::string> T::*member) {
    std::string w = what;
    return add_key(std::move(key), [member, w](const value& v, T& s) -> std::string {
      if (v.type != value::kind::array) {
        return "expected an array of " + w + ", got " + v.type_name();
      }
      std::vector<std::string> out;
      for (auto& item : v.items) {
        if (item.type != value::kind::string || item.text.empty()) {
          return "entries must be non-empty strings (" + w + ")";
        }
        out.push_back(item.text);
      }
      s.*member = std::move(out);
      return {};
    });
  }

  /// Registers the section with the loader.
  void add() const {
    register_section(spec_);
  }

private:
  section& add_key(std::string key, std::function<std::string(const value&, T&)> f) {
    spec_.keys.emplace_back(
        std::move(key), [f](const value& v, std::any& a) { return f(v, std::any_cast<T&>(a)); });
    return *this;
  }

  section_spec spec_;
};

} // namespace sv::config
