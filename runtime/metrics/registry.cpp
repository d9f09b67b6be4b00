#include "runtime/metrics/registry.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <variant>

#include <fmt/format.h>

namespace sv::metrics {

namespace {

enum kind : int { k_counter, k_gauge, k_histogram };

const char* kind_name(int k) {
  switch (k) {
  case k_counter:
    return "counter";
  case k_gauge:
    return "gauge";
  default:
    return "histogram";
  }
}

bool valid_name(const std::string& s, bool allow_colon) {
  if (s.empty()) {
    return false;
  }
  for (size_t i = 0; i < s.size(); ++i) {
    auto c = s[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'
              || (allow_colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
    if (!ok) {
      return false;
    }
  }
  return true;
}

void add_double(std::atomic<double>& x, double d) noexcept {
  auto cur = x.load(std::memory_order_relaxed);
  while (!x.compare_exchange_weak(cur, cur + d, std::memory_order_relaxed)) {
    // cur was reloaded by the failed exchange
  }
}

std::string format_value(double v) {
  if (std::isnan(v)) {
    return "NaN";
  }
  if (std::isinf(v)) {
    return v > 0 ? "+Inf" : "-Inf";
  }
  return fmt::format("{}", v);
}

// Label values escape backslash, double quote and newline; HELP escapes backslash and
// newline (the exposition format's rules).
std::string escape(const std::string& s, bool quote) {
  std::string out;
  out.reserve(s.size());
  for (auto c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (quote && c == '"') {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  return out;
}

labels sorted(labels ls) {
  std::sort(ls.begin(), ls.end());
  return ls;
}

std::string render_labels(const labels& ls, const char* extra_name = nullptr,
                          const std::string& extra_value = {}) {
  if (ls.empty() && extra_name == nullptr) {
    return {};
  }
  std::string out = "{";
  bool first = true;
  for (auto& [k, v] : ls) {
    out += first ? "" : ",";
    out += k + "=\"" + escape(v, true) + "\"";
    first = false;
  }
  if (extra_name != nullptr) {
    out += first ? "" : ",";
    out += std::string{extra_name} + "=\"" + extra_value + "\"";
  }
  out += "}";
  return out;
}

} // namespace

// -- gauge and histogram -------------------------------------------------------

void gauge::add(double x) noexcept {
  add_double(value_, x);
}

histogram::histogram(std::vector<double> upper_bounds) : bounds_(std::move(upper_bounds)) {
  if (!std::is_sorted(bounds_.begin(), bounds_.end())
      || std::adjacent_find(bounds_.begin(), bounds_.end()) != bounds_.end()) {
    throw std::invalid_argument("histogram bounds must be strictly ascending");
  }
  buckets_ = std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1);
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    buckets_[i].store(0, std::memory_order_relaxed);
  }
}

void histogram::observe(double x) noexcept {
  auto i =
      static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), x) - bounds_.begin());
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  add_double(sum_, x);
}

uint64_t histogram::cumulative_count(size_t i) const noexcept {
  uint64_t total = 0;
  for (size_t j = 0; j <= i && j <= bounds_.size(); ++j) {
    total += buckets_[j].load(std::memory_order_relaxed);
  }
  return total;
}

uint64_t histogram::count() const noexcept {
  return count_.load(std::memory_order_relaxed);
}

double histogram::sum() const noexcept {
  return sum_.load(std::memory_order_relaxed);
}

std::vector<double> latency_buckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
}

// -- registry --------------------------------------------------------------------

struct registry::family {
  using series = std::variant<std::unique_ptr<counter>, std::unique_ptr<gauge>,
                              std::unique_ptr<histogram>, std::function<double()>>;
  std::string help;
  int kind = k_counter;
  std::map<labels, series> members;
};

registry::registry() = default;
registry::~registry() = default;

registry::family& registry::get_family(const std::string& name, const std::string& help, int k) {
  if (!valid_name(name, true)) {
    throw std::invalid_argument("invalid metric name: " + name);
  }
  auto& f = families_[name];
  if (!f) {
    f = std::make_unique<family>();
    f->help = help;
    f->kind = k;
  } else if (f->kind != k) {
    throw std::invalid_argument("metric " + name + " is a " + kind_name(f->kind) + ", not a "
                                + kind_name(k));
  }
  return *f;
}

namespace {

labels checked(const labels& ls) {
  for (auto& [k, v] : ls) {
    if (!valid_name(k, false) || k.rfind("__", 0) == 0 || k == "le") {
      throw std::invalid_argument("invalid label name: " + k);
    }
  }
  return sorted(ls);
}

// `Members` is a family's map from label set to series (registry::family::members).
template <class T, class Members, class Make>
T& find_or_add(Members& members, const labels& key, const std::string& name, Make make) {
  auto i = members.find(key);
  if (i == members.end()) {
    i = members.emplace(key, make()).first;
  }
  auto* p = std::get_if<std::unique_ptr<T>>(&i->second);
  if (p == nullptr) {
    throw std::invalid_argument("metric " + name + " has this series as a callback");
  }
  return **p;
}

} // namespace

counter& registry::counter_metric(const std::string& name, const std::string& help,
                                  const labels& ls) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto& f = get_family(name, help, k_counter);
  return find_or_add<counter>(f.members, checked(ls), name,
                              [] { return std::make_unique<counter>(); });
}

gauge& registry::gauge_metric(const std::string& name, const std::string& help, const labels& ls) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto& f = get_family(name, help, k_gauge);
  return find_or_add<gauge>(f.members, checked(ls), name, [] { return std::make_unique<gauge>(); });
}

histogram& registry::histogram_metric(const std::string& name, const std::string& help,
                                      std::vector<double> upper_bounds, const labels& ls) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto& f = get_family(name, help, k_histogram);
  return find_or_add<histogram>(f.members, checked(ls), name, [&] {
    return std::make_unique<histogram>(std::move(upper_bounds));
  });
}

void registry::gauge_callback(const std::string& name, const std::string& help,
                              std::function<double()> fn, const labels& ls) {
  std::lock_guard<std::mutex> guard{mtx_};
  get_family(name, help, k_gauge).members[checked(ls)] = std::move(fn);
}

void registry::counter_callback(const std::string& name, const std::string& help,
                                std::function<double()> fn, const labels& ls) {
  std::lock_guard<std::mutex> guard{mtx_};
  get_family(name, help, k_counter).members[checked(ls)] = std::move(fn);
}

std::string registry::render() const {
  std::lock_guard<std::mutex> guard{mtx_};
  std::string out;
  for (auto& [name, f] : families_) {
    out += "# HELP " + name + " " + escape(f->help, false) + "\n";
    out += "# TYPE " + name + " " + kind_name(f->kind) + "\n";
    for (auto& [ls, s] : f->members) {
      if (auto* c = std::get_if<std::unique_ptr<counter>>(&s)) {
        out += name + render_labels(ls) + " " + std::to_string((*c)->value()) + "\n";
      } else if (auto* g = std::get_if<std::unique_ptr<gauge>>(&s)) {
        out += name + render_labels(ls) + " " + format_value((*g)->value()) + "\n";
      } else if (auto* fn = std::get_if<std::function<double()>>(&s)) {
        out += name + render_labels(ls) + " " + format_value((*fn)()) + "\n";
      } else {
        auto& h = *std::get<std::unique_ptr<histogram>>(s);
        auto& bounds = h.upper_bounds();
        for (size_t i = 0; i <= bounds.size(); ++i) {
          auto le = i < bounds.size() ? format_value(bounds[i]) : std::string{"+Inf"};
          out += name + "_bucket" + render_labels(ls, "le", le) + " "
                 + std::to_string(h.cumulative_count(i)) + "\n";
        }
        out += name + "_sum" + render_labels(ls) + " " + format_value(h.sum()) + "\n";
        out += name + "_count" + render_labels(ls) + " "
               + std::to_string(h.cumulative_count(bounds.size())) + "\n";
      }
    }
  }
  return out;
}

} // namespace sv::metrics
