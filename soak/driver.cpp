#include "soak/driver.hpp"
#include "soak/driver_parts.hpp"

#include <fstream>
#include <memory>

namespace sv::soak {

namespace {

caf::actor connect(caf::actor_system& sys, const std::string& host, uint16_t port,
                   std::chrono::seconds within) {
  auto deadline = steady::now() + within;
  while (steady::now() < deadline) {
    if (auto an = analytics::connect_service(sys, host, port, 1s)) {
      return caf::actor_cast<caf::actor>(*an);
    }
    std::this_thread::sleep_for(200ms);
  }
  return {};
}

// Every resume position a close acknowledged (at most 400 of them, spread) read back
// through a usable node, with the viewer's region as the user's home: it must lie between
// the last heartbeat answered ok and the last one sent before the close.
struct positions_result {
  uint64_t closed = 0, checked = 0, ok = 0, missing = 0, wrong = 0;
  std::vector<std::string> samples;
};

positions_result check_positions(caf::actor_system& sys, std::vector<node_flags>& flags,
                                 positions_shared& positions) {
  positions_result r;
  std::vector<std::pair<std::pair<std::string, std::string>, closed_position>> all;
  {
    // Every one: a close is acknowledged once its position is held by the user's owner
    // and replica (session_host.hpp, host_outputs::durable_positions), so a node that went
    // down just after is no excuse.
    std::lock_guard<std::mutex> g{positions.mtx};
    for (auto& [key, c] : positions.closed) {
      all.emplace_back(key, c);
    }
  }
  r.closed = all.size();
  if (all.empty()) {
    return r;
  }
  // Two sync rounds: to the owner, and from the owner to its replica.
  std::this_thread::sleep_for(3s);
  auto step = std::max<size_t>(1, all.size() / 400);
  size_t turn = 0;
  caf::scoped_actor self{sys};
  std::map<std::string, media::watch_actor> handles;
  for (size_t k = 0; k < all.size(); k += step) {
    auto& [key, want] = all[k];
    node_flags* via = nullptr;
    for (size_t t = 0; t < flags.size() && via == nullptr; ++t) {
      auto& f = flags[(turn + t) % flags.size()];
      via = f.usable() ? &f : nullptr;
    }
    ++turn;
    if (via == nullptr) {
      break;
    }
    auto& watch = handles[via->name];
    if (!watch) {
      if (auto h = media::connect_watch_state(sys, via->host, via->port, 2s)) {
        watch = *h;
      }
    }
    media::watch_query_msg q;
    q.set_user(key.first);
    q.set_content(key.second);
    q.set_region(want.region);
    int64_t got = -1, at = 0;
    if (watch) {
      self->request(watch, caf::duration{3s}, q)
          .receive(
              [&](const media::watch_position_msg& p) {
                got = p.position_ms();
                at = p.event_ms();
              },
              [](caf::error&) {});
    }
    ++r.checked;
    std::string what;
    if (got < 0 || at == 0) {
      ++r.missing;
      what = "missing";
    } else if (got < want.acked_ms || got > want.sent_ms) {
      ++r.wrong;
      what = "at " + std::to_string(got);
    } else {
      ++r.ok;
      continue;
    }
    if (r.samples.size() < 10) {
      r.samples.push_back(key.first + "/" + key.second + " via " + via->name + ": " + what
                          + ", acknowledged " + std::to_string(want.acked_ms) + ".."
                          + std::to_string(want.sent_ms));
    }
  }
  return r;
}

} // namespace

int run_driver(const scenario& s, const std::string& report_dir,
               const std::vector<std::string>& hosts) {
  driver_config cfg;
  caf::actor_system sys{cfg};
  std::vector<node_flags> flags(s.nodes);
  std::vector<node_link> links(s.nodes);
  session::edge_settings es;
  for (uint32_t i = 0; i < s.nodes; ++i) {
    flags[i].name = node_name(i);
    flags[i].port = static_cast<uint16_t>(s.base_port + i);
    flags[i].host = i < hosts.size() ? hosts[i] : "127.0.0.1";
    es.nodes.push_back({flags[i].name, flags[i].host, flags[i].port});
    if (!s.starts(i)) {
      flags[i].down = true; // starts in a join phase: linked on its "up"
      continue;
    }
    auto an = connect(sys, flags[i].host, flags[i].port, 20s);
    if (!an) {
      std::cerr << "soak driver: cannot reach " << flags[i].name << " on " << flags[i].host << ":"
                << flags[i].port << "\n";
      return 1;
    }
    links[i].reachable = true;
    links[i].analytics = an;
  }
  // Viewer sessions through the edge client: batches per node, every answer by its
  // deadline: what a player waits at most (a timeout, unlike the p99 bound), 2 s or four
  // times a looser bound.
  es.deadline =
      std::chrono::milliseconds{static_cast<int64_t>(std::max(2000.0, 4 * s.critical_p99_ms))};
  result_queue results;
  auto sink = [&results](std::vector<session::edge_result>& rs) {
    std::lock_guard<std::mutex> guard{results.mtx};
    results.items.insert(results.items.end(), std::make_move_iterator(rs.begin()),
                         std::make_move_iterator(rs.end()));
  };
  // viewers.protocol: the edge client, or the nodes' player API over HTTP.
  std::unique_ptr<session::edge_client> edge;
  std::unique_ptr<session_port> port;
  if (s.protocol == "http") {
    http_port_settings hs;
    for (uint32_t i = 0; i < s.nodes; ++i) {
      hs.nodes.push_back("http://" + flags[i].host + ":" + std::to_string(s.http_port(i)));
    }
    std::ifstream key_file{report_dir + "/nodes/jwt.key"};
    std::getline(key_file, hs.token_key);
    hs.deadline = es.deadline;
    try {
      port = http_port(std::move(hs), sink);
    } catch (const std::exception& e) {
      std::cerr << "soak driver: " << e.what() << "\n";
      return 1;
    }
  } else {
    edge = std::make_unique<session::edge_client>(sys, es, sink);
    port = edge_port(*edge);
  }
  auto& client = *port;
  auto connected = [&] {
    for (uint32_t i = 0; i < s.nodes; ++i) {
      if (s.starts(i) && !client.connected(i)) {
        return false;
      }
    }
    return true;
  };
  for (auto until = steady::now() + 20s; !connected() && steady::now() < until;) {
    std::this_thread::sleep_for(10ms);
  }
  if (!connected()) {
    std::cerr << "soak driver: the " << (s.protocol == "http" ? "player API" : "edge client")
              << " could not reach every node\n";
    return 1;
  }
  auto seed_start = steady::now();
  if (!seed_titles(sys, s, flags)) {
    std::cerr << "soak driver: could not store every title of the catalog\n";
    return 1;
  }
  std::cerr << "soak driver: " << s.titles << " titles stored in "
            << std::chrono::duration<double>(steady::now() - seed_start).count() << " s\n";
  std::cout << "READY\n" << std::flush; // the controller starts the phases now
  meta_shared meta;
  positions_shared positions;
  auto driver = spawn_viewer_load(sys, &s, &flags, &meta, &positions, links, report_dir, port.get(),
                                  &results);
  std::thread tracer{[&] {
    trace_loop(sys, s, flags, meta);
  }};
  std::thread storm{[&] {
    storm_loop(sys, s, flags, meta);
  }};
  auto index_of = [&](const std::string& name) -> int {
    for (size_t i = 0; i < flags.size(); ++i) {
      if (flags[i].name == name) {
        return static_cast<int>(i);
      }
    }
    return -1;
  };
  std::string last_phase;
  std::mutex ups_mtx;
  std::vector<std::thread> ups; // "up" commands connecting (each done within 40 s)
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in{line};
    std::string verb, arg;
    double x = 0;
    in >> verb >> arg >> x;
    if (verb == "finish") {
      break;
    }
    if (verb == "storm") {
      meta.storm_rate = std::stod(arg);
      continue;
    }
    auto n = index_of(arg);
    auto mark_change = [&meta] {
      meta.changed_ns = steady::now().time_since_epoch().count();
    };
    if (verb == "phase") {
      // The end of a partition changes who reaches whom, as a join or a leave does.
      if (!last_phase.empty() && s.kind_of(last_phase) == phase_kind::partition) {
        mark_change();
      }
      last_phase = arg;
    }
    if (verb == "down" || verb == "stall") {
      mark_change();
      if (n >= 0) {
        std::lock_guard<std::mutex> g{ups_mtx};
        if (verb == "down") {
          ++flags[n].generation; // an "up" of it still connecting no longer applies
        }
        (verb == "down" ? flags[n].down : flags[n].stalled) = true;
        caf::anon_send(driver, link_atom::value, static_cast<uint32_t>(n), caf::actor{});
      }
    } else if (verb == "up") {
      mark_change();
      if (n >= 0) {
        // Connecting takes up to 40 s and must not hold up the commands behind it (the
        // next phase, other nodes): it runs on its own thread, and applies only if no
        // later "down" or "up" of that node came meanwhile.
        client.node_up(static_cast<uint32_t>(n));
        uint64_t generation = 0;
        {
          std::lock_guard<std::mutex> g{ups_mtx};
          generation = ++flags[n].generation;
        }
        ups.emplace_back([&, n, arg, generation] {
          auto i = static_cast<uint32_t>(n);
          auto current = [&] {
            return flags[i].generation.load() == generation;
          };
          auto an = connect(sys, flags[i].host, flags[i].port, 30s);
          if (!an) {
            if (current()) {
              std::cerr << "soak driver: " << arg << " did not come back within 30 s\n";
            }
            return;
          }
          // The edge client reconnects by itself; wait for it (bounded) before new
          // viewers are placed there.
          auto until = steady::now() + 10s;
          while (!client.connected(i) && steady::now() < until && current()) {
            std::this_thread::sleep_for(20ms);
          }
          std::lock_guard<std::mutex> g{ups_mtx};
          if (current()) {
            caf::anon_send(driver, link_atom::value, i, an);
            flags[i].down = false;
            meta.changed_ns = steady::now().time_since_epoch().count(); // polled from now
          }
        });
      }
    } else if (verb == "resume") {
      mark_change();
      if (n >= 0) {
        std::lock_guard<std::mutex> g{ups_mtx};
        caf::anon_send(driver, link_atom::value, static_cast<uint32_t>(n), caf::actor{});
        flags[n].stalled = false;
      }
    } else {
      caf::anon_send(driver, command_atom::value, verb, arg, x);
    }
  }
  for (auto& t : ups) {
    t.join();
  }
  // Finish: the load stops, every analytics batch is acknowledged (or 60 s pass).
  meta.stop = true;
  tracer.join();
  storm.join();
  // The actor writes driver-load.json and acked-batches.tsv once every analytics batch is
  // acknowledged (at most 60 s), then quits.
  {
    caf::scoped_actor self{sys};
    self->request(driver, caf::infinite, finish_atom::value)
        .receive([](caf::unit_t) {}, [](caf::error&) {});
  }
  auto conv = check_convergence(sys, flags, meta.titles);
  auto pos = check_positions(sys, flags, positions);
  std::ofstream out{report_dir + "/driver-meta.json"};
  std::lock_guard<std::mutex> g{meta.mtx};
  out << "{\"updates\":" << meta.updates << ",\"traced\":" << meta.traced
      << ",\"refused\":" << meta.refused << ",\"not_propagated\":" << meta.not_propagated
      << ",\"stale_reads\":" << meta.stale_reads
      << ",\"meta_p50_ms\":" << json_num(quantile(meta.all_meta_ms, 0.5))
      << ",\"meta_p99_ms\":" << json_num(quantile(meta.all_meta_ms, 0.99))
      << ",\"inval_p50_ms\":" << json_num(quantile(meta.all_inval_ms, 0.5))
      << ",\"inval_p99_ms\":" << json_num(quantile(meta.all_inval_ms, 0.99))
      << ",\"write_p50_ms\":" << json_num(quantile(meta.all_write_ms, 0.5))
      << ",\"write_p99_ms\":" << json_num(quantile(meta.all_write_ms, 0.99))
      << ",\"meta_after_ack_p99_ms\":" << json_num(quantile(meta.all_meta_ack_ms, 0.99))
      << ",\"inval_after_ack_p99_ms\":" << json_num(quantile(meta.all_inval_ack_ms, 0.99))
      << ",\"after_ack_by_phase\":{";
  {
    bool any = false;
    for (auto& [phase, ms] : meta.meta_ack_ms_by_phase) {
      out << (any ? "," : "") << "\"" << json_clean(phase) << "\":{\"traced\":" << ms.size()
          << ",\"p50_ms\":" << json_num(quantile(ms, 0.5))
          << ",\"p99_ms\":" << json_num(quantile(ms, 0.99))
          << ",\"inval_p99_ms\":" << json_num(quantile(meta.inval_ack_ms_by_phase[phase], 0.99))
          << "}";
      any = true;
    }
  }
  out << "},\"slow_after_ack\":[";
  for (size_t i = 0; i < meta.slow.size(); ++i) {
    auto& x = meta.slow[i];
    out << (i == 0 ? "" : ",") << "{\"phase\":\"" << json_clean(x.phase) << "\",\"node\":\""
        << json_clean(x.node) << "\",\"ms\":" << json_num(x.ack_ms)
        << ",\"at_s\":" << json_num(x.at_s) << ",\"changing\":" << (x.changing ? "true" : "false")
        << "}";
  }
  out << "],\"after_ack_changing\":{\"traced\":" << meta.changing_ack_ms.size()
      << ",\"p99_ms\":" << json_num(quantile(meta.changing_ack_ms, 0.99))
      << ",\"max_ms\":" << json_num(quantile(meta.changing_ack_ms, 1.0)) << "}";
  out << ",\"after_heal\":{\"traced\":" << meta.after_heal_ms.size()
      << ",\"p50_ms\":" << json_num(quantile(meta.after_heal_ms, 0.5))
      << ",\"max_ms\":" << json_num(quantile(meta.after_heal_ms, 1.0))
      << ",\"not_visible\":" << meta.not_visible_after_heal << "}"
      << ",\"titles_checked\":" << conv.titles << ",\"diverged\":" << conv.diverged
      << ",\"refusals\":{";
  bool first = true;
  for (auto& [why, n] : meta.refusals) {
    out << (first ? "" : ",") << "\"" << json_clean(why) << "\":" << n;
    first = false;
  }
  out << "},\"diverged_samples\":[";
  first = true;
  for (auto& x : conv.samples) {
    out << (first ? "" : ",") << "\"" << x << "\"";
    first = false;
  }
  out << "],\"positions\":{\"positions_closed\":" << pos.closed
      << ",\"positions_checked\":" << pos.checked << ",\"positions_ok\":" << pos.ok
      << ",\"positions_missing\":" << pos.missing << ",\"positions_wrong\":" << pos.wrong
      << ",\"samples\":[";
  first = true;
  for (auto& x : pos.samples) {
    out << (first ? "" : ",") << "\"" << json_clean(x) << "\"";
    first = false;
  }
  out << "]}}\n";
  return 0;
}

} // namespace sv::soak
