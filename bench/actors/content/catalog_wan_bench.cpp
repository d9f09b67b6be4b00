// sv-bench-catalog-wan: what a metadata write costs across regions. Three nodes in one
// process, one per region (eu-west, us-east, ap-south), reach each other only through WAN
// relays (soak/wan_relay.hpp, named in each node's cluster.dial_via), every link with the
// same round-trip time. For each RTT in turn (0 first: the same run's no-WAN baseline) it
// writes titles one at a time through node-a and measures
//   - the write: catalog::update() until the owner answered with the version, which the
//     owner gives only once a majority of the title's voters stored it; a title's first
//     write (both consensus phases: prepare, then accept) and its next one (the owner
//     leads the title already and skips the prepare);
//   - visibility of the next write: from the write until every node's replica has it;
// split by whether node-a owns the title (a write to a remote owner crosses the WAN once
// more, there and back).
//
//   build/bin/sv-bench-catalog-wan [--writes N] [--rtts "0,50,100,200"]
//
// Prints one line per RTT, then one JSON object as its last line.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "actors/content/catalog.hpp"
#include "actors/content/content_types.hpp"
#include "bench/support/flags.hpp"
#include "bench/support/percentile.hpp"
#include "runtime/cluster/placement.hpp"
#include "runtime/node/node.hpp"
#include "soak/wan_relay.hpp"
#include "tests/support/titles.hpp"

namespace {

using namespace std::chrono;

int64_t now_ns() {
  return duration_cast<nanoseconds>(steady_clock::now().time_since_epoch()).count();
}

uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

std::vector<uint32_t> parse_list(const std::string& text) {
  std::vector<uint32_t> out;
  std::istringstream in{text};
  std::string item;
  while (std::getline(in, item, ',')) {
    out.push_back(static_cast<uint32_t>(std::stoul(item)));
  }
  return out;
}

struct figures {
  uint32_t rtt_ms = 0;
  // A title's first write (both consensus phases) and its next one (the owner leads the
  // title already: phase 2 only), by where the owner is.
  std::vector<int64_t> first_local, first_remote, next_local, next_remote, visible;
  size_t failed = 0;
};

} // namespace

int main(int argc, char** argv) {
  int64_t writes = 40;
  std::string rtts_text = "0,50,100,200";
  sv::bench::flags f;
  f.add("writes", writes).add("rtts", rtts_text);
  if (!f.parse(argc, argv, std::cerr)) {
    return 2;
  }
  auto rtts = parse_list(rtts_text);
  const std::vector<std::string> names{"node-a", "node-b", "node-c"};
  const std::vector<std::string> regions{"eu-west", "us-east", "ap-south"};
  std::vector<uint16_t> ports;
  for (size_t i = 0; i < names.size(); ++i) {
    ports.push_back(free_port());
  }
  // relays[i * 3 + j]: node i to node j.
  std::vector<std::unique_ptr<sv::soak::wan_relay>> relays(9);
  for (size_t i = 0; i < 3; ++i) {
    for (size_t j = 0; j < 3; ++j) {
      if (i != j) {
        relays[i * 3 + j] = std::make_unique<sv::soak::wan_relay>(
            sv::soak::relay_target{"127.0.0.1", ports[j]}, sv::soak::wan_link{}, 0, i * 3 + j + 1);
        relays[i * 3 + j]->start();
      }
    }
  }
  auto dir = std::filesystem::temp_directory_path()
             / ("sv-bench-catalog-wan-" + std::to_string(::getpid()));
  std::vector<std::unique_ptr<sv::node>> nodes;
  std::vector<std::unique_ptr<sv::content::catalog>> catalogs;
  for (size_t i = 0; i < 3; ++i) {
    sv::config::node_settings s;
    s.name = names[i];
    s.region = regions[i];
    s.cluster_port = ports[i];
    s.data_dir = (dir / names[i]).string();
    s.log_level = "warn";
    for (size_t j = 0; j < 3; ++j) {
      if (j != i) {
        s.seeds.push_back({"127.0.0.1", ports[j]});
        s.dial_via.emplace_back(sv::config::seed_address{"127.0.0.1", ports[j]},
                                sv::config::seed_address{"127.0.0.1", relays[i * 3 + j]->port()});
      }
    }
    nodes.push_back(std::make_unique<sv::node>(
        s, std::vector<sv::node::type_registrar>{sv::content::register_message_types}));
    if (auto err = nodes.back()->start(); !err.empty()) {
      std::cerr << "sv-bench-catalog-wan: " << err << "\n";
      return 1;
    }
    catalogs.push_back(std::make_unique<sv::content::catalog>(*nodes.back()));
  }
  auto formed = [&] {
    for (auto& n : nodes) {
      if (n->status().members_up != 3 || n->status().peers != 2) {
        return false;
      }
    }
    return true;
  };
  for (int k = 0; k < 300 && !formed(); ++k) {
    std::this_thread::sleep_for(100ms);
  }
  if (!formed()) {
    std::cerr << "sv-bench-catalog-wan: the three nodes did not form a cluster\n";
    return 1;
  }
  std::vector<figures> all;
  for (auto rtt : rtts) {
    for (auto& r : relays) {
      if (r) {
        r->set_link({milliseconds{rtt / 2}, milliseconds{0}});
      }
    }
    std::this_thread::sleep_for(milliseconds{500 + 2 * rtt}); // what was in flight drains
    figures fig;
    fig.rtt_ms = rtt;
    for (int64_t k = 0; k < writes; ++k) {
      auto id = "wan-" + std::to_string(rtt) + "-" + std::to_string(k);
      auto local = sv::cluster::owner_of(id, names) == names[0];
      sv::content::metadata m = sv::test::playable_title(id);
      for (int round = 0; round < 2; ++round) {
        auto t0 = now_ns();
        auto v = catalogs[0]->update(m);
        auto t1 = now_ns();
        if (!v) {
          ++fig.failed;
          break;
        }
        auto& into = round == 0 ? (local ? fig.first_local : fig.first_remote)
                                : (local ? fig.next_local : fig.next_remote);
        into.push_back(t1 - t0);
        // Visible everywhere: every replica has the version (polled every millisecond,
        // at most 10 s).
        auto seen = [&, version = *v] {
          for (auto& c : catalogs) {
            auto got = c->get(id);
            if (!got || got->version() < version) {
              return false;
            }
          }
          return true;
        };
        while (!seen() && now_ns() - t0 < 10'000'000'000) {
          std::this_thread::sleep_for(1ms);
        }
        if (!seen()) {
          ++fig.failed;
        } else if (round == 1) {
          fig.visible.push_back(now_ns() - t0);
        }
        m.set_title("Title " + id + " (edited)");
      }
    }
    using sv::bench::percentile_ms;
    std::cout << "RTT " << rtt << " ms: first write of a title p50 "
              << percentile_ms(fig.first_local, 0.5) << " ms (node-a owns it), "
              << percentile_ms(fig.first_remote, 0.5) << " ms (a remote owner); next write "
              << percentile_ms(fig.next_local, 0.5) << " / " << percentile_ms(fig.next_remote, 0.5)
              << " ms; visible everywhere p50 " << percentile_ms(fig.visible, 0.5) << " ms, p99 "
              << percentile_ms(fig.visible, 0.99) << " ms; " << fig.failed << " failed\n";
    all.push_back(std::move(fig));
  }
  catalogs.clear();
  nodes.clear();
  relays.clear();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  using sv::bench::percentile_ms;
  std::ostringstream js;
  js << "{\"bench\":\"catalog-wan\",\"writes_per_rtt\":" << writes << ",\"runs\":[";
  for (size_t i = 0; i < all.size(); ++i) {
    auto& x = all[i];
    js << (i ? "," : "") << "{\"rtt_ms\":" << x.rtt_ms
       << ",\"first_write_local_owner_p50_ms\":" << percentile_ms(x.first_local, 0.5)
       << ",\"first_write_remote_owner_p50_ms\":" << percentile_ms(x.first_remote, 0.5)
       << ",\"next_write_local_owner_p50_ms\":" << percentile_ms(x.next_local, 0.5)
       << ",\"next_write_local_owner_p99_ms\":" << percentile_ms(x.next_local, 0.99)
       << ",\"next_write_remote_owner_p50_ms\":" << percentile_ms(x.next_remote, 0.5)
       << ",\"next_write_remote_owner_p99_ms\":" << percentile_ms(x.next_remote, 0.99)
       << ",\"visible_everywhere_p50_ms\":" << percentile_ms(x.visible, 0.5)
       << ",\"visible_everywhere_p99_ms\":" << percentile_ms(x.visible, 0.99)
       << ",\"failed\":" << x.failed << "}";
  }
  js << "]}";
  std::cout << js.str() << std::endl;
  return 0;
}
