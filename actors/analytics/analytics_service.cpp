// The node's analytics service: routes each batch to its partition's owner
// (cluster::owner_router), hosts the partitions this node owns, pulls the batches other
// nodes hold of them (handoff), and splits batches from producers outside the cluster.

#include "actors/analytics/analytics_actors.hpp"

#include <algorithm>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <vector>

#include <spdlog/spdlog.h>

#include "actors/analytics/handoff.hpp"
#include "caf/actor_system.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/local_actor.hpp"
#include "caf/send.hpp"
#include "caf/stateful_actor.hpp"
#include "caf/typed_event_based_actor.hpp"
#include "caf/typed_response_promise.hpp"
#include "runtime/cluster/endpoint.hpp"
#include "runtime/cluster/membership.hpp"
#include "runtime/cluster/owner_router.hpp"
#include "runtime/flow/flow_context.hpp"
#include "runtime/metrics/registry.hpp"
#include "runtime/node/background.hpp"
#include "runtime/wire/errc.hpp"
#include "runtime/wire/protobuf.hpp"
#include "runtime/wire/undecodable.hpp"

namespace sv::analytics::detail {

namespace {

struct service_state {
  config::analytics_node_settings cfg;
  std::shared_ptr<analytics_shared> shared;
  flow::flow_context* flow = nullptr;
  std::string data_dir;
  metrics::histogram* freshness = nullptr;
  // Partition owners and the other nodes' analytics services.
  cluster::owner_router<caf::stateful_actor<service_state, analytics_private::base>> router{
      service_name};
  std::map<uint32_t, caf::actor> partitions; // on this node
  // Partitions this node does not own and holds no batches of (nothing to hand over).
  empty_marks empty_here;
  // Handoffs under way: (partition, giver).
  std::set<std::pair<uint32_t, std::string>> pulling;
  // Batches under way to their home region: (partition, home region).
  std::set<std::pair<uint32_t, std::string>> sending_home;
  // This node's region, once the member view has this node (it does not change).
  std::optional<std::string> own_region;

  static inline const char* name = "sv.analytics.service";
};

using service_actor = caf::stateful_actor<service_state, analytics_private::base>;

analytics_actor peer(const caf::actor& svc) {
  return caf::actor_cast<analytics_actor>(svc);
}

using history_msg_minute = streamverse::v1::HistoryMinute;

std::string partition_key(uint32_t p) {
  return "analytics-partition-" + std::to_string(p);
}

std::string owner_of_partition(service_actor* self, uint32_t p) {
  return self->state.router.owner(partition_key(p));
}

// The region of member `name` in the current view ("" when unknown or without regions).
std::string region_of(service_actor* self, const std::string& name) {
  for (auto& m : self->state.router.members()) {
    if (m.name == name) {
      return m.region;
    }
  }
  return {};
}

// This node's region, looked up in the member view once ("" until the view has this node).
const std::string& own_region(service_actor* self) {
  auto& st = self->state;
  if (!st.own_region) {
    for (auto& m : st.router.members()) {
      if (m.name == st.router.self_name()) {
        st.own_region = m.region;
      }
    }
  }
  static const std::string unknown;
  return st.own_region ? *st.own_region : unknown;
}

// A partition number from another node or a producer: within the configured count (a
// bad one would name a partition file and a counter that do not exist).
caf::error check_partition(service_actor* self, uint32_t p) {
  if (p < self->state.cfg.partitions) {
    return {};
  }
  return make_error(errc::invalid_argument, "analytics: no partition " + std::to_string(p)
                                                + " (analytics.partitions is "
                                                + std::to_string(self->state.cfg.partitions) + ")");
}

caf::actor local_partition(service_actor* self, uint32_t p) {
  auto& st = self->state;
  if (auto i = st.partitions.find(p); i != st.partitions.end()) {
    return i->second;
  }
  auto dir = std::filesystem::path{st.data_dir} / "analytics";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  auto path = (dir / ("partition-" + std::to_string(p) + ".db")).string();
  auto a = spawn_partition(self, p, path, st.cfg, st.shared, st.flow, st.freshness);
  st.partitions.emplace(p, a);
  return a;
}

// Sends `msg` to partition `p` on `owner` (of this node's region or another's); `done` with
// the answer, `fail` on an error.
template <class Msg, class Reply>
void to_partition(service_actor* self, uint32_t p, const std::string& owner, const Msg& msg,
                  std::function<void(const Reply&)> done,
                  std::function<void(const caf::error&)> fail) {
  auto& st = self->state;
  auto wait = std::chrono::milliseconds{st.cfg.resend_ms};
  auto timeout = caf::duration{wait};
  st.router.relay(
      self, owner, wait,
      [=] {
        self->request(local_partition(self, p), timeout, msg)
            .then([=](const Reply& r) { done(r); }, [=](caf::error& err) { fail(err); });
      },
      [=](const caf::actor& svc, const std::string&) {
        self->request(peer(svc), timeout, partition_atom::value, p, msg)
            .then([=](const Reply& r) { done(r); }, [=](caf::error& err) { fail(err); });
      },
      [=](const caf::error& err, const std::string&) { fail(err); });
}

// At the service: `batch` (the message `(partition_atom, p, event_block)`) to partition `p`
// on its owner; `done` with the acknowledgement, `fail` on an error. The message itself
// travels, to the local partition or to the owner's service: the block is never copied.
void route(service_actor* self, uint32_t p, const caf::message& batch,
           std::function<void(const ack_msg&)> done, std::function<void(const caf::error&)> fail) {
  auto& st = self->state;
  auto wait = std::chrono::milliseconds{st.cfg.resend_ms};
  auto timeout = caf::duration{wait};
  st.router.route(
      self, partition_key(p), wait,
      [=] {
        self->state.empty_here.stored(p);
        self->request(local_partition(self, p), timeout, batch)
            .then([done](const ack_msg& a) { done(a); }, [fail](caf::error& err) { fail(err); });
      },
      [=](const caf::actor& svc, const std::string&) {
        self->request(svc, timeout, batch)
            .then([=](const ack_msg& a) { done(a); }, [=](caf::error& err) { fail(err); });
      },
      [=](const caf::error& err, const std::string&) { fail(err); });
}

// Partition p's history moves to its owner (this node): `giver` hands over the batches of p
// it holds, a page at a time; this node stores those it lacks (by producer and sequence:
// a batch whose acknowledgement was lost may be in both places), and only then does the
// giver delete them. A crash in between repeats a page, which changes nothing the second
// time. So every batch ends up once, at the owner.
void pull(service_actor* self, uint32_t p, const std::string& giver) {
  auto& st = self->state;
  auto key = std::make_pair(p, giver);
  if (!st.pulling.insert(key).second) {
    return;
  }
  auto timeout = caf::duration{std::chrono::seconds{10}};
  auto stop = [self, key](const caf::error&) {
    self->state.pulling.erase(key);
  };
  st.router.with_peer(
      self, giver, std::chrono::seconds{2},
      [=](const caf::actor& svc) {
        self->request(peer(svc), timeout, handoff_atom::value, p)
            .then(
                [=](const handoff_page& page) {
                  if ((page.blocks_size() == 0 && page.batches_size() == 0)
                      || owner_of_partition(self, p) != self->state.router.self_name()) {
                    self->state.pulling.erase(key);
                    return;
                  }
                  self->state.empty_here.stored(p);
                  self->request(local_partition(self, p), timeout, adopt_atom::value, page)
                      .then(
                          [=](uint64_t) {
                            self->request(peer(svc), timeout, release_atom::value, p, page.up_to())
                                .then(
                                    [=](uint64_t) {
                                      self->state.pulling.erase(key);
                                      pull(self, p, giver); // the next page
                                    },
                                    [=](caf::error& err) { stop(err); });
                          },
                          [=](caf::error& err) { stop(err); });
                },
                [=](caf::error& err) { stop(err); });
      },
      stop);
}

// Partition p's batches held here for region `home` (a producer could reach no node of it)
// go to p's owner among home's nodes, a page at a time: the owner stores those it lacks
// (by producer and sequence: the producer may have reached home too, its acknowledgement
// lost), and only then are they deleted here. A crash in between repeats the page, which
// changes nothing the second time. So each such batch ends up once, in its home region.
void send_home(service_actor* self, uint32_t p, const std::string& home) {
  auto& st = self->state;
  auto key = std::make_pair(p, home);
  auto owner = st.router.owner_in(partition_key(p), home);
  if (home.empty() || region_of(self, owner) != home || !st.sending_home.insert(key).second) {
    return; // no node of `home` is up (owner_in fell back to this region), or under way
  }
  auto timeout = caf::duration{std::chrono::seconds{10}};
  auto stop = [self, key](const caf::error&) {
    self->state.sending_home.erase(key);
  };
  self->request(local_partition(self, p), timeout, away_atom::value, home)
      .then(
          [=](const handoff_page& page) {
            if (page.blocks_size() == 0) {
              self->state.sending_home.erase(key);
              return;
            }
            auto up_to = page.up_to();
            self->state.router.with_peer(
                self, owner, std::chrono::seconds{2},
                [=](const caf::actor& svc) {
                  self->request(peer(svc), timeout, adopt_atom::value, p, page)
                      .then(
                          [=](uint64_t) {
                            self->request(local_partition(self, p), timeout, release_atom::value,
                                          home, up_to)
                                .then(
                                    [=](uint64_t) {
                                      self->state.sending_home.erase(key);
                                      send_home(self, p, home); // the next page
                                    },
                                    [=](caf::error& err) { stop(err); });
                          },
                          [=](caf::error& err) { stop(err); });
                },
                stop);
          },
          [=](caf::error& err) { stop(err); });
}

// A batch from a producer outside the cluster: split by partition into sub-batches
// numbered (producer + "/" + partition, sequence), so that a resend of the whole batch is
// recognised part by part; answered once every part is durable at its partition's owner
// (or with the first error: the producer sends it again).
void ingest(service_actor* self, const event_batch& b, caf::typed_response_promise<ack_msg> rp) {
  auto& st = self->state;
  std::map<uint32_t, block_builder> builders;
  for (auto& e : b.events()) {
    builders[partition_of(st.cfg, e.content_id())].add(e);
  }
  std::map<uint32_t, event_block> parts;
  // Held for its home region when that is not this one (see send_home).
  auto home = b.home_region() == own_region(self) ? std::string{} : b.home_region();
  for (auto& [p, builder] : builders) {
    auto& part = parts[p];
    part = builder.take();
    part.set_producer_id(b.producer_id() + "/" + std::to_string(p));
    part.set_sequence(b.sequence());
    part.set_partition(p);
    part.set_home_region(home);
  }
  struct join {
    ack_msg total;
    size_t left = 0;
    bool answered = false;
    caf::typed_response_promise<ack_msg> rp;
  };
  auto j = std::make_shared<join>();
  j->total.set_producer_id(b.producer_id());
  j->total.set_sequence(b.sequence());
  j->total.set_duplicate(true);
  j->left = parts.size();
  j->rp = std::move(rp);
  if (parts.empty()) {
    j->total.set_duplicate(false);
    j->rp.deliver(j->total);
    return;
  }
  for (auto& [p, part] : parts) {
    route(
        self, p, caf::make_message(partition_atom::value, p, std::move(part)),
        [j](const ack_msg& a) {
          if (j->answered) {
            return;
          }
          j->total.set_stored(j->total.stored() + a.stored());
          j->total.set_refused(j->total.refused() + a.refused());
          j->total.set_duplicate(j->total.duplicate() && a.duplicate());
          if (--j->left == 0) {
            j->answered = true;
            j->rp.deliver(j->total);
          }
        },
        [j](const caf::error& err) {
          if (!j->answered) {
            j->answered = true;
            j->rp.deliver(err);
          }
        });
  }
}

// Adds the minutes of `h` to `into` (by minute and viewer region).
void add_minutes(std::map<std::pair<int64_t, std::string>, history_msg_minute>& into,
                 const history_msg& h) {
  for (auto& m : h.minutes()) {
    auto& sum = into[{m.minute_ms(), m.region()}];
    sum.set_minute_ms(m.minute_ms());
    sum.set_region(m.region());
    sum.set_views(sum.views() + m.views());
    sum.set_watch_ms(sum.watch_ms() + m.watch_ms());
    sum.set_rebuffer_ms(sum.rebuffer_ms() + m.rebuffer_ms());
    sum.set_errors(sum.errors() + m.errors());
    sum.set_events(sum.events() + m.events());
    for (int i = 0; i < m.startup_hist_size(); ++i) {
      if (i < sum.startup_hist_size()) {
        sum.set_startup_hist(i, sum.startup_hist(i) + m.startup_hist(i));
      } else {
        sum.add_startup_hist(m.startup_hist(i));
      }
    }
  }
}

// The history query `q` (checked): asks the partition's owner in each region asked (every
// region with a node up for "*") at once and answers when all have answered or failed,
// their minutes added up and each region's outcome in `sources`.
void history(service_actor* self, const history_query_msg& q,
             caf::typed_response_promise<history_msg> rp) {
  auto& st = self->state;
  std::vector<std::string> regions;
  if (q.region() == "*") {
    regions = cluster::up_regions(st.router.members());
  }
  if (regions.empty()) {
    regions.push_back(q.region() == "*" ? std::string{} : q.region());
  }
  struct join {
    history_msg out;
    std::map<std::pair<int64_t, std::string>, history_msg_minute> minutes;
    size_t left = 0;
    caf::typed_response_promise<history_msg> rp;
  };
  auto j = std::make_shared<join>();
  j->out.set_content_id(q.content_id());
  j->left = regions.size();
  j->rp = std::move(rp);
  auto one_done = [j] {
    if (--j->left > 0) {
      return;
    }
    for (auto& [k, m] : j->minutes) {
      *j->out.add_minutes() = std::move(m);
    }
    j->rp.deliver(std::move(j->out));
  };
  auto p = partition_of(st.cfg, q.content_id());
  auto one = q;
  for (size_t i = 0; i < regions.size(); ++i) {
    auto owner = st.router.owner_in(partition_key(p), regions[i]);
    auto& source = *j->out.add_sources();
    source.set_node(owner.empty() ? st.router.self_name() : owner);
    source.set_region(region_of(self, source.node()));
    one.set_region(source.region());
    to_partition<history_query_msg, history_msg>(
        self, p, owner, one,
        [j, one_done](const history_msg& h) {
          add_minutes(j->minutes, h);
          one_done();
        },
        [j, i, one_done](const caf::error& err) {
          j->out.mutable_sources(static_cast<int>(i))->set_error(caf::to_string(err));
          one_done();
        });
  }
}

analytics_private::behavior_type
service_behavior(service_actor* self, std::string node_name, config::analytics_node_settings cfg,
                 std::shared_ptr<analytics_shared> shared, caf::actor endpoint,
                 std::function<std::vector<cluster::member>()> members, flow::flow_context* flow,
                 std::string data_dir, metrics::histogram* freshness) {
  auto& st = self->state;
  // Events are stored in the region where they happened: each region's nodes own every
  // partition among themselves, and a batch never crosses the WAN.
  st.router.bind(std::move(node_name), std::move(endpoint), std::move(members),
                 cluster::placement_scope::region);
  st.cfg = cfg;
  st.shared = std::move(shared);
  st.flow = flow;
  st.data_dir = std::move(data_dir);
  st.freshness = freshness;
  self->set_down_handler([self](caf::down_msg& dm) { self->state.router.forget(dm.source); });
  wire::answer_undecodable(self, "analytics service");
  self->delayed_send(self, std::chrono::seconds{1}, tick_atom::value);
  return {
      // From the batcher on this node.
      [self](route_atom, uint32_t p, const caf::message& batch) -> caf::result<ack_msg> {
        auto rp = self->make_response_promise<ack_msg>();
        route(
            self, p, batch, [rp](const ack_msg& a) mutable { rp.deliver(a); },
            [rp](const caf::error& err) mutable { rp.deliver(err); });
        return rp;
      },
      [self](tick_atom) {
        auto& st = self->state;
        // Partitions this node no longer owns stop once they handed their batches over.
        for (auto i = st.partitions.begin(); i != st.partitions.end();) {
          auto owner = owner_of_partition(self, i->first);
          if (!st.router.is_local(owner) && st.empty_here.empty(i->first)) {
            self->send_exit(i->second, caf::exit_reason::user_shutdown);
            i = st.partitions.erase(i);
          } else {
            ++i;
          }
        }
        // At the first tick, the partitions this node has files of open (a restart): what
        // they hold for other regions is then known and sent home, owned or not.
        if (st.shared->ticks.load() == 0) {
          for (uint32_t p = 0; p < st.cfg.partitions; ++p) {
            auto file = std::filesystem::path{st.data_dir} / "analytics"
                        / ("partition-" + std::to_string(p) + ".db");
            std::error_code ec;
            if (std::filesystem::exists(file, ec)) {
              local_partition(self, p);
            }
          }
        }
        // Batches held here for another region go home while it has a node up.
        std::map<uint32_t, std::map<std::string, uint64_t>> away;
        {
          std::lock_guard<std::mutex> guard{st.shared->away_mutex};
          away = st.shared->away;
        }
        auto regions_up = cluster::up_regions(st.router.members());
        // Batches held here of partitions owned elsewhere, or for another region that has
        // a node up (0 once every handoff is done).
        int64_t unowned = 0;
        for (auto& [p, homes] : away) {
          for (auto& [home, n] : homes) {
            if (!std::binary_search(regions_up.begin(), regions_up.end(), home)) {
              continue;
            }
            if (st.partitions.count(p) != 0) {
              send_home(self, p, home);
            }
            if (st.router.is_local(owner_of_partition(self, p))) {
              unowned += static_cast<int64_t>(n); // (a partition owned elsewhere: in `held`)
            }
          }
        }
        for (uint32_t p = 0; p < st.cfg.partitions; ++p) {
          auto owner = owner_of_partition(self, p);
          if (st.router.is_local(owner)) {
            continue;
          }
          if (st.partitions.count(p) != 0) {
            auto held = st.shared->held[p].load();
            unowned += held < 0 ? 1 : held;
          } else if (!st.empty_here.empty(p)) {
            auto file = std::filesystem::path{st.data_dir} / "analytics"
                        / ("partition-" + std::to_string(p) + ".db");
            std::error_code ec;
            unowned += std::filesystem::exists(file, ec) ? 1 : 0; // not known to be empty
          }
        }
        st.shared->unowned = unowned;
        st.shared->ticks.fetch_add(1);
        // The partitions this node owns take over what other nodes of its region stored of
        // them (another region's copies of a partition stay there), including a node that
        // is leaving: it waits for that before it stops.
        std::vector<std::string> others;
        auto ms = st.router.members();
        std::string region;
        for (auto& m : ms) {
          if (m.name == st.router.self_name()) {
            region = m.region;
          }
        }
        int64_t heirs = 0;
        for (auto& m : ms) {
          if (m.name != st.router.self_name() && m.region == region
              && (m.state == cluster::member_state::up
                  || m.state == cluster::member_state::leaving)) {
            others.push_back(m.name);
            heirs += m.state == cluster::member_state::up ? 1 : 0;
          }
        }
        st.shared->heirs = heirs;
        for (uint32_t p = 0; p < st.cfg.partitions && !others.empty(); ++p) {
          if (owner_of_partition(self, p) == st.router.self_name()) {
            for (auto& giver : others) {
              pull(self, p, giver);
            }
          }
        }
        self->delayed_send(self, std::chrono::seconds{1}, tick_atom::value);
      },
      // From the owner of p: this node's batches of p, when it holds any and does not own p.
      [self](handoff_atom, uint32_t p) -> caf::result<handoff_page> {
        if (auto err = check_partition(self, p)) {
          return err;
        }
        auto& st = self->state;
        auto owner = owner_of_partition(self, p);
        if (st.router.is_local(owner)) {
          return handoff_page{}; // this node sees itself as the owner: nothing moves
        }
        auto file = std::filesystem::path{st.data_dir} / "analytics"
                    / ("partition-" + std::to_string(p) + ".db");
        std::error_code ec;
        if (st.empty_here.empty(p)) {
          return handoff_page{};
        }
        if (st.partitions.count(p) == 0 && !std::filesystem::exists(file, ec)) {
          st.empty_here.answered_empty(p, st.empty_here.ask(p));
          return handoff_page{};
        }
        auto rp = self->make_response_promise<handoff_page>();
        auto generation = st.empty_here.ask(p);
        self->request(local_partition(self, p), caf::infinite, handoff_atom::value)
            .then(
                [self, rp, p, generation](handoff_page& page) mutable {
                  if (page.blocks_size() == 0 && page.batches_size() == 0) {
                    self->state.empty_here.answered_empty(p, generation);
                  }
                  page.set_partition(p);
                  rp.deliver(std::move(page));
                },
                [rp](caf::error& err) mutable { rp.deliver(err); });
        return rp;
      },
      [self](release_atom, uint32_t p, int64_t up_to) -> caf::result<uint64_t> {
        if (auto err = check_partition(self, p)) {
          return err;
        }
        auto rp = self->make_response_promise<uint64_t>();
        self->request(local_partition(self, p), caf::infinite, release_atom::value, up_to)
            .then([rp](uint64_t n) mutable { rp.deliver(n); },
                  [rp](caf::error& err) mutable { rp.deliver(err); });
        return rp;
      },
      // From a producer outside the cluster (ingest_request).
      [self](ingest_atom, const event_batch& b) -> caf::result<ack_msg> {
        auto rp = self->make_response_promise<ack_msg>();
        ingest(self, b, rp);
        return rp;
      },
      // From a node of another region: batches of p it held for this node's region.
      [self](adopt_atom, uint32_t p, handoff_page& page) -> caf::result<uint64_t> {
        if (auto err = check_partition(self, p)) {
          return err;
        }
        auto region = own_region(self);
        for (auto& b : *page.mutable_blocks()) {
          if (b.home_region() == region) {
            b.clear_home_region(); // home now
          }
          b.set_partition(p);
        }
        page.clear_batches(); // only nodes before #14 sent those, and never across regions
        self->state.empty_here.stored(p);
        auto rp = self->make_response_promise<uint64_t>();
        self->request(local_partition(self, p), caf::infinite, adopt_atom::value, std::move(page))
            .then([rp](uint64_t n) mutable { rp.deliver(n); },
                  [rp](caf::error& err) mutable { rp.deliver(err); });
        return rp;
      },
      // A title's per-minute history as one region's nodes stored it (the query's region,
      // or this node's), at the partition's owner there; or as every region's did.
      [self](const history_query_msg& q) -> caf::result<history_msg> {
        if (q.content_id().empty() || q.to_ms() <= q.from_ms()) {
          return make_error(errc::invalid_argument,
                            "analytics history: a content id and from_ms < to_ms are needed");
        }
        auto rp = self->make_response_promise<history_msg>();
        history(self, q, rp);
        return rp;
      },
      [self](partition_atom, uint32_t p, const history_query_msg& q) -> caf::result<history_msg> {
        if (auto err = check_partition(self, p)) {
          return err;
        }
        auto rp = self->make_response_promise<history_msg>();
        self->request(local_partition(self, p), caf::infinite, q)
            .then([rp](const history_msg& h) mutable { rp.deliver(h); },
                  [rp](caf::error& err) mutable { rp.deliver(err); });
        return rp;
      },
      [self](const query_msg& q) -> caf::result<window_msg> {
        auto rp = self->make_response_promise<window_msg>();
        // A region's window is where its events are: at the partition's owner among that
        // region's nodes (this node's region when the query's has no node up).
        auto p = partition_of(self->state.cfg, q.content_id());
        to_partition<query_msg, window_msg>(
            self, p, self->state.router.owner_in(partition_key(p), q.region()), q,
            [rp](const window_msg& w) mutable { rp.deliver(w); },
            [rp](const caf::error& err) mutable { rp.deliver(err); });
        return rp;
      },
      // From another node's service: this node's partition answers, through this service
      // (the partition's handle never leaves the node; see lower_this_threads_priority).
      [self](partition_atom, uint32_t p, const event_block&) -> caf::result<ack_msg> {
        if (auto err = check_partition(self, p)) {
          return err;
        }
        auto rp = self->make_response_promise<ack_msg>();
        self->state.empty_here.stored(p);
        // The message as it came (the block is not copied).
        self->request(local_partition(self, p), caf::infinite,
                      self->current_mailbox_element()->move_content_to_message())
            .then([rp](const ack_msg& a) mutable { rp.deliver(a); },
                  [rp](caf::error& err) mutable { rp.deliver(err); });
        return rp;
      },
      // From a node before issue #14.
      [self](partition_atom, uint32_t p, const event_batch& b) -> caf::result<ack_msg> {
        if (auto err = check_partition(self, p)) {
          return err;
        }
        auto rp = self->make_response_promise<ack_msg>();
        self->state.empty_here.stored(p);
        self->request(local_partition(self, p), caf::infinite, to_block(b))
            .then([rp](const ack_msg& a) mutable { rp.deliver(a); },
                  [rp](caf::error& err) mutable { rp.deliver(err); });
        return rp;
      },
      [self](partition_atom, uint32_t p, const query_msg& q) -> caf::result<window_msg> {
        if (auto err = check_partition(self, p)) {
          return err;
        }
        auto rp = self->make_response_promise<window_msg>();
        self->request(local_partition(self, p), caf::infinite, q)
            .then([rp](const window_msg& w) mutable { rp.deliver(w); },
                  [rp](caf::error& err) mutable { rp.deliver(err); });
        return rp;
      },
  };
}

} // namespace

analytics_actor spawn_service(caf::actor_system& sys, std::string node_name,
                              config::analytics_node_settings cfg,
                              std::shared_ptr<analytics_shared> shared, caf::actor endpoint,
                              std::function<std::vector<cluster::member>()> members,
                              flow::flow_context* flow, std::string data_dir,
                              metrics::histogram* freshness) {
  return sys.spawn(service_behavior, std::move(node_name), cfg, std::move(shared),
                   std::move(endpoint), std::move(members), flow, std::move(data_dir), freshness);
}

} // namespace sv::analytics::detail
