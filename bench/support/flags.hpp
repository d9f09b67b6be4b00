#pragma once

// Command-line flags of the benchmark drivers ("--name value" pairs). The same table
// parses the parent's arguments and rebuilds them for its child processes, so a child
// always runs with exactly the parent's options.

#include <functional>
#include <iomanip>
#include <limits>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

namespace sv::bench {

class flags {
public:
  /// Binds `--name` to `target`; its current value is the default.
  template <class T>
  flags& add(const std::string& name, T& target) {
    entries_.push_back(entry{"--" + name,
                             [&target](const std::string& text) {
                               std::istringstream in{text};
                               T value{};
                               in >> value;
                               if (!in || !in.eof()) {
                                 return false;
                               }
                               target = value;
                               return true;
                             },
                             [&target] {
                               std::ostringstream out;
                               out << std::setprecision(std::numeric_limits<double>::max_digits10)
                                   << target;
                               return out.str();
                             }});
    return *this;
  }

  /// Parses argv; on an unknown flag, a missing value or a bad value writes one line to
  /// `err` and returns false.
  bool parse(int argc, char** argv, std::ostream& err) {
    for (int i = 1; i < argc; i += 2) {
      std::string name = argv[i];
      auto* e = find(name);
      if (e == nullptr) {
        err << "unknown option " << name << "\n";
        return false;
      }
      if (i + 1 >= argc || !e->set(argv[i + 1])) {
        err << "option " << name << " needs a valid value\n";
        return false;
      }
    }
    return true;
  }

  /// Every flag with a non-empty value, as arguments for a child process.
  std::vector<std::string> to_args() const {
    std::vector<std::string> out;
    for (auto& e : entries_) {
      if (auto value = e.get(); !value.empty()) {
        out.push_back(e.name);
        out.push_back(std::move(value));
      }
    }
    return out;
  }

private:
  struct entry {
    std::string name;
    std::function<bool(const std::string&)> set;
    std::function<std::string()> get;
  };

  entry* find(const std::string& name) {
    for (auto& e : entries_) {
      if (e.name == name) {
        return &e;
      }
    }
    return nullptr;
  }

  std::vector<entry> entries_;
};

} // namespace sv::bench
