#pragma once

// Config checks shared by the runtime's config test and the domain sections' test.

#include <cstdint>
#include <string>

#include <doctest/doctest.h>

#include "runtime/config/node_settings.hpp"

namespace sv::test {

inline const std::string source = "test.toml";

// Loads `text` and requires that it is refused at `line` with `key`; returns the error so
// the caller can check the message.
inline sv::config::config_error refused(const std::string& text, uint32_t line,
                                        const std::string& key) {
  INFO("config text:\n", text);
  auto result = sv::config::load_string(text, source);
  REQUIRE_FALSE(result);
  REQUIRE_FALSE(result.settings.has_value());
  REQUIRE(result.error.has_value());
  auto& err = *result.error;
  CHECK(err.file == source);
  CHECK(err.line == line);
  CHECK(err.key == key);
  CHECK_FALSE(err.message.empty());
  auto prefix = source + ":" + std::to_string(line) + ": " + (key.empty() ? "" : key + ": ");
  CHECK(err.to_string().substr(0, prefix.size()) == prefix);
  CHECK(err.to_string() == prefix + err.message);
  return err;
}

inline sv::config::node_settings accepted(const std::string& text) {
  INFO("config text:\n", text);
  auto result = sv::config::load_string(text, source);
  if (result.error) {
    FAIL_CHECK("refused: ", result.error->to_string());
  }
  REQUIRE(result);
  REQUIRE_FALSE(result.error.has_value());
  return *result.settings;
}

} // namespace sv::test
