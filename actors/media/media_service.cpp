#include "actors/media/media_service.hpp"

#include <chrono>

#include "actors/cache/cache.hpp"
#include "actors/content/catalog.hpp"
#include "actors/media/availability.hpp"
#include "actors/media/playlist.hpp"
#include "actors/session/session_gateway.hpp"
#include "actors/session/session_types.hpp"
#include "caf/actor_system.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/scoped_actor.hpp"
#include "runtime/flow/flow_context.hpp"
#include "runtime/node/node.hpp"
#include "runtime/wire/errc.hpp"

namespace sv::media {

namespace {

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

caf::error to_error(refusal r, const std::string& content, const std::string& region) {
  switch (r) {
  case refusal::not_in_region:
    return make_error(errc::not_in_region, content + " is not available in " + region);
  case refusal::outside_window:
    return make_error(errc::outside_window, content + " is outside its availability window");
  case refusal::no_ready_rendition:
    return make_error(errc::no_ready_rendition, content + " has no rendition ready");
  case refusal::not_entitled:
    return make_error(errc::not_entitled, content + ": not entitled");
  case refusal::not_found:
    return make_error(errc::not_found, "no title " + content);
  case refusal::none:
    break;
  }
  return caf::none;
}

caf::behavior verifier_behavior(caf::event_based_actor* self, caf::actor catalog) {
  return {
      [=](session::verify_atom, const session::open_request& r) -> caf::result<caf::ok_atom> {
        auto rp = self->make_response_promise<caf::ok_atom>();
        self->request(catalog, caf::duration{std::chrono::seconds{2}}, caf::get_atom::value,
                      r.content)
            .then(
                [rp, r](const content::metadata& m) mutable {
                  auto why = check_availability(m, r.region, wall_ms());
                  if (why == refusal::none) {
                    rp.deliver(caf::ok_atom::value);
                  } else {
                    rp.deliver(to_error(why, r.content, r.region));
                  }
                },
                [rp, r](caf::error& err) mutable {
                  rp.deliver(is(err, errc::not_found)
                                 ? to_error(refusal::not_found, r.content, r.region)
                                 : std::move(err));
                });
        return rp;
      },
  };
}

// "hls/<level>/<device>/<content id>"
std::string playlist_key(const std::string& content, const std::string& device, int level) {
  return "hls/" + std::to_string(level) + "/" + device + "/" + content;
}

} // namespace

media_service::media_service(node& n, content::catalog& catalog, cache::cache& cache)
    : node_(n), cache_(cache) {
  auto& sys = n.system();
  auto cat = catalog.handle();
  verifier_ = sys.spawn(verifier_behavior, cat);
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
      self->request(cat, caf::duration{std::chrono::seconds{2}}, caf::get_atom::value, id)
          .then(
              [=](const content::metadata& m) {
                auto text = media::master_playlist(m, level, device);
                if (text.empty()) {
                  done(make_error(errc::no_ready_rendition, id + " has no rendition ready"));
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
