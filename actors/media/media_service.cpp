#include "actors/media/media_service.hpp"

#include <chrono>
#include <deque>
#include <functional>
#include <unordered_map>

#include "actors/cache/cache.hpp"
#include "actors/content/catalog.hpp"
#include "actors/content/content.pb.h"
#include "actors/integrations/hooks.hpp"
#include "actors/media/availability.hpp"
#include "actors/media/media_errc.hpp"
#include "actors/media/playlist.hpp"
#include "actors/session/session_gateway.hpp"
#include "actors/session/session_host.hpp"
#include "actors/session/session_types.hpp"
#include "caf/actor_system.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/scoped_actor.hpp"
#include "caf/stateful_actor.hpp"
#include "caf/typed_response_promise.hpp"
#include "runtime/flow/flow_context.hpp"
#include "runtime/node/node.hpp"
#include "runtime/util/clock.hpp"
#include "runtime/wire/errc.hpp"
#include "runtime/wire/undecodable.hpp"

namespace sv::media {

namespace {

using sv::clock::wall_ms;

caf::error to_error(refusal r, const std::string& content, const std::string& region) {
  switch (r) {
  case refusal::not_in_region:
    return make_error(sv::media::refusal::not_in_region,
                      content + " is not available in " + region);
  case refusal::outside_window:
    return make_error(sv::media::refusal::outside_window,
                      content + " is outside its availability window");
  case refusal::no_ready_rendition:
    return make_error(sv::media::refusal::no_ready_rendition, content + " has no rendition ready");
  case refusal::not_entitled:
    return make_error(sv::media::refusal::not_entitled, content + ": not entitled");
  case refusal::not_found:
    return make_error(errc::not_found, "no title " + content);
  case refusal::none:
    break;
  }
  return caf::none;
}

// The verifier keeps the titles it was asked about (at most this many), kept current by
// the catalog's watch: an open costs a lookup here, not a round trip to the catalog actor,
// which a viral spike of opens would queue up behind.
constexpr size_t verifier_titles = 100'000;

// `(ent_atom, id, entitled)`: the entitlement hook's answer for pending open `id`.
using ent_atom = caf::atom_constant<caf::atom("sv_entres")>;

// What became of one open: none (it may open) or the refusal.
using verdict_fn = std::function<void(caf::error)>;

struct verifier_state {
  content::catalog_actor catalog;
  std::shared_ptr<integrations::entitlements> entitlement; // null: no entitlement check
  uint64_t next_id = 0;
  std::unordered_map<uint64_t, std::pair<verdict_fn, std::string>> waiting;
  std::unordered_map<std::string, content::metadata> titles;
  std::deque<std::string> order; // insertion order, for the bound
  // Opens waiting for a title this verifier is fetching from the catalog.
  std::unordered_map<std::string, std::vector<std::pair<session::open_request, verdict_fn>>>
      fetching;

  void keep(const content::metadata& m) {
    auto [i, fresh] = titles.try_emplace(m.id(), m);
    if (!fresh && i->second.version() < m.version()) {
      i->second = m;
    }
    if (fresh) {
      order.push_back(m.id());
      if (order.size() > verifier_titles) {
        titles.erase(order.front());
        order.pop_front();
      }
    }
  }

  static inline const char* name = "sv.media.verifier";
};

using verifier_actor = caf::stateful_actor<verifier_state>;

caf::error availability(const content::metadata& m, const session::open_request& r) {
  auto why = check_availability(m, r.region, wall_ms());
  return why == refusal::none ? caf::error{} : to_error(why, r.content, r.region);
}

// Availability first, then the entitlement (critical, cached by the hook's policy): `done`
// now when the title's checks fail or the entitlement is known at once, else when the
// hook answers (within the hook's timeout, whatever the partner does).
void decide(verifier_actor* self, const content::metadata& m, const session::open_request& r,
            verdict_fn done) {
  if (auto err = availability(m, r)) {
    done(std::move(err));
    return;
  }
  auto& st = self->state;
  if (!st.entitlement) {
    done(caf::none);
    return;
  }
  integrations::entitlement_query q;
  q.user = r.user;
  q.content = r.content;
  q.subscription = r.subscription;
  q.required = integrations::required_tier(m);
  auto id = st.next_id + 1;
  caf::weak_actor_ptr weak{self->ctrl()};
  auto now = st.entitlement->check(q, [weak, id](bool entitled) {
    if (auto strong = weak.lock()) {
      caf::anon_send(caf::actor_cast<caf::actor>(strong), ent_atom::value, id, entitled);
    }
  });
  if (now) { // cached, or an in-process hook: no message round
    done(*now ? caf::error{} : to_error(refusal::not_entitled, r.content, r.region));
    return;
  }
  st.next_id = id;
  st.waiting.emplace(id, std::make_pair(std::move(done), r.content));
}

// One open: from the titles kept here, or after one catalog read per title.
void verify(verifier_actor* self, const session::open_request& r, verdict_fn done) {
  auto& st = self->state;
  if (auto i = st.titles.find(r.content); i != st.titles.end()) {
    decide(self, i->second, r, std::move(done));
    return;
  }
  auto& waiting = st.fetching[r.content];
  waiting.emplace_back(r, std::move(done));
  if (waiting.size() > 1) {
    return; // already asked for
  }
  auto content = r.content;
  self->request(st.catalog, caf::duration{std::chrono::seconds{2}}, caf::get_atom::value, content)
      .then(
          [self, content](const content::metadata& m) {
            self->state.keep(m);
            auto opens = std::move(self->state.fetching[content]);
            self->state.fetching.erase(content);
            for (auto& [req, fn] : opens) {
              decide(self, m, req, std::move(fn));
            }
          },
          [self, content](caf::error& err) {
            auto opens = std::move(self->state.fetching[content]);
            self->state.fetching.erase(content);
            for (auto& [req, fn] : opens) {
              fn(is(err, errc::not_found) ? to_error(refusal::not_found, req.content, req.region)
                                          : err);
            }
          });
}

caf::behavior verifier_behavior(verifier_actor* self, content::catalog_actor catalog,
                                std::shared_ptr<integrations::entitlements> entitlement) {
  wire::answer_undecodable(self, "availability verifier"); // never renders what it does not know
  self->state.catalog = catalog;
  self->state.entitlement = std::move(entitlement);
  self->request(catalog, caf::duration{std::chrono::seconds{5}}, content::watch_atom::value,
                caf::actor{self})
      .then([](caf::ok_atom) {}, [](caf::error&) {});
  return {
      // Every version the catalog stores: the copy here follows.
      [self](const streamverse::v1::MetadataChanged& c) {
        if (self->state.titles.count(c.metadata().id()) != 0) {
          self->state.keep(c.metadata());
        }
      },
      [self](ent_atom, uint64_t id, bool entitled) {
        auto i = self->state.waiting.find(id);
        if (i == self->state.waiting.end()) {
          return;
        }
        auto [done, content] = std::move(i->second);
        self->state.waiting.erase(i);
        done(entitled ? caf::error{} : to_error(refusal::not_entitled, content, {}));
      },
      [self](session::verify_atom, std::vector<session::open_request>& opens)
          -> caf::result<std::vector<session::item_result>> {
        struct join {
          std::vector<session::item_result> results;
          size_t left = 0;
          caf::typed_response_promise<std::vector<session::item_result>> rp;
        };
        auto j = std::make_shared<join>();
        j->results.resize(opens.size());
        j->left = opens.size() + 1; // + this handler's own hold
        j->rp = self->make_response_promise<std::vector<session::item_result>>();
        auto finish = [j] {
          if (--j->left == 0) {
            j->rp.deliver(std::move(j->results));
          }
        };
        for (size_t i = 0; i < opens.size(); ++i) {
          verify(self, opens[i], [j, i, finish](caf::error err) {
            j->results[i] = session::to_result(err);
            finish();
          });
        }
        finish();
        return j->rp;
      },
  };
}

// "hls/<level>/<device>/<content id>"
std::string playlist_key(const std::string& content, const std::string& device, int level) {
  return "hls/" + std::to_string(level) + "/" + device + "/" + content;
}

} // namespace

media_service::media_service(node& n, content::catalog& catalog, cache::cache& cache,
                             std::shared_ptr<integrations::entitlements> entitlement)
    : node_(n), cache_(cache) {
  auto& sys = n.system();
  auto cat = catalog.handle();
  verifier_ = sys.spawn(verifier_behavior, cat, std::move(entitlement));
  auto* sysp = &sys;
  cache_.set_loader("hls", [sysp, cat](const std::string& key, cache::load_done done) {
    // hls/<level>/<device>/<content id>
    auto a = key.find('/');
    auto b = key.find('/', a + 1);
    auto c = key.find('/', b + 1);
    if (a == std::string::npos || b == std::string::npos || c == std::string::npos) {
      done(make_error(errc::invalid_argument, "not a playlist key: " + key));
      return;
    }
    auto level = std::atoi(key.substr(a + 1, b - a - 1).c_str());
    auto device = key.substr(b + 1, c - b - 1);
    auto id = key.substr(c + 1);
    sysp->spawn([cat, id, device, level, done](caf::event_based_actor* self) {
      wire::answer_undecodable(self, "playlist loader"); // never renders what it does not know
      self->request(cat, caf::duration{std::chrono::seconds{2}}, caf::get_atom::value, id)
          .then(
              [=](const content::metadata& m) {
                auto text = media::master_playlist(m, level, device);
                if (text.empty()) {
                  done(make_error(sv::media::refusal::no_ready_rendition,
                                  id + " has no rendition ready"));
                  return;
                }
                done(cache::loaded{std::move(text), m.version(), {"content:" + id}});
              },
              [done](caf::error& err) { done(std::move(err)); });
    });
  });
}

media_service::~media_service() {
  caf::scoped_actor self{node_.system()};
  self->send_exit(verifier_, caf::exit_reason::user_shutdown);
  self->wait_for(verifier_);
}

caf::expected<std::string> media_service::master_playlist(const std::string& content,
                                                          const std::string& device) {
  return master_playlist(content, device, static_cast<int>(node_.flow().current_level()));
}

caf::expected<std::string> media_service::master_playlist(const std::string& content,
                                                          const std::string& device, int level) {
  auto r = cache_.get(playlist_key(content, device, std::clamp(level, 0, 4)));
  if (!r) {
    return r.error();
  }
  if (r->value == nullptr) {
    return make_error(errc::not_found, "no title " + content);
  }
  return *r->value;
}

} // namespace sv::media
