// The player API (http_api.hpp): the HTTP server's handler checks the route, the token and
// the flow gate on the server's thread and hands the request to the bridge actor, which
// asks the node's services and replies.

#include "actors/api/http_api.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <map>
#include <optional>
#include <stdexcept>

#include <strings.h>

#include <google/protobuf/util/json_util.h>
#include <spdlog/spdlog.h>

#include "actors/analytics/analytics.hpp"
#include "actors/analytics/analytics_protocol.hpp"
#include "actors/analytics/analytics_settings.hpp"
#include "actors/analytics/events.hpp"
#include "actors/api/api.pb.h"
#include "actors/api/api_settings.hpp"
#include "actors/api/auth.hpp"
#include "actors/api/routes.hpp"
#include "actors/cache/cache.hpp"
#include "actors/cache/cache_protocol.hpp"
#include "actors/content/catalog.hpp"
#include "actors/media/media_errc.hpp"
#include "actors/media/watch_protocol.hpp"
#include "actors/media/watch_state.hpp"
#include "actors/session/session_errc.hpp"
#include "actors/session/session_gateway.hpp"
#include "actors/session/session_host.hpp"
#include "actors/session/session_protocol.hpp"
#include "caf/actor_system.hpp"
#include "caf/allowed_unsafe_message_type.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/send.hpp"
#include "caf/stateful_actor.hpp"
#include "runtime/cluster/membership.hpp"
#include "runtime/cluster/owner_router.hpp"
#include "runtime/flow/flow_context.hpp"
#include "runtime/flow/standing_queue.hpp"
#include "runtime/metrics/registry.hpp"
#include "runtime/node/node.hpp"
#include "runtime/util/clock.hpp"
#include "runtime/wire/errc.hpp"
#include "runtime/wire/undecodable.hpp"

namespace sv::api {

namespace {

namespace v1 = streamverse::v1;

struct call {
  http::request req;
  http::reply_fn reply;
  route r;
  principal who;
  flow::service_class cls = flow::service_class::critical;
  std::chrono::steady_clock::time_point deadline;
};

} // namespace

} // namespace sv::api

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::shared_ptr<sv::api::call>)

namespace sv::api {

namespace {

using call_ptr = std::shared_ptr<call>;

constexpr auto gateway_service = caf::atom("sv_sessgw");

// What the handler and the bridge share.
struct shared {
  node* n = nullptr;
  config::http_api_settings cfg;
  std::optional<token_keys> keys;
  std::unique_ptr<token_cache> tokens;
  // Critical requests' latencies: while they queue, best-effort and bulk work is refused.
  std::unique_ptr<flow::standing_queue> critical_queue;
  std::atomic<uint64_t> shed_for_critical{0};
  std::string self_prefix; // "NODE~": how the ids of sessions held here begin
  std::string key;         // the token key, also for session handles
  content::catalog_actor catalog;
  cache::cache_actor cache;
  media::watch_actor watch;
  analytics::analytics_actor analytics;
  caf::actor gateway;
  std::atomic<uint64_t> next_session{0};
  std::array<std::atomic<int64_t>, flow::service_class_count> inflight{};
  std::array<std::atomic<uint64_t>, flow::service_class_count> refused{};
  std::array<std::atomic<uint64_t>, 6> by_status{}; // 1xx .. 5xx, [0] unused
  analytics::event_limits limits;                   // as the partitions check events
};

// Heartbeats waiting to go to one node's gateway as one batch.
struct pending_heartbeats {
  session::edge_batch batch;
  std::vector<call_ptr> calls; // calls[i] is batch.heartbeats[i]'s
};

using flush_atom = caf::atom_constant<caf::atom("sv_apiflsh")>;

struct bridge_state {
  std::shared_ptr<shared> s;
  cluster::owner_router<caf::stateful_actor<bridge_state>> router{gateway_service};
  // Single heartbeats are coalesced: those that reach the bridge together (before the flush
  // it sends itself, which queues behind them) go to each node's gateway as one batch.
  std::map<std::string, pending_heartbeats> heartbeats;
  bool flush_queued = false;
  std::unique_ptr<handle_checker> handles; // session ids checked before
  std::vector<int64_t> fields;             // scratch of read_int_fields
  static inline const char* name = "sv.api.bridge";
};

using bridge = caf::stateful_actor<bridge_state>;

std::string to_json(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  o.always_print_primitive_fields = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, o);
  return out + "\n";
}

http::response json(int status, const google::protobuf::Message& m,
                    std::vector<http::header> headers = {}) {
  return {status, "application/json", to_json(m), std::move(headers)};
}

// Parses a JSON body into `m`: unknown fields and wrong types are refused. With
// `protobuf_too`, an application/x-protobuf body is taken as the message's binary form.
std::optional<http::response> parse_body(const call& c, google::protobuf::Message& m,
                                         bool protobuf_too = false) {
  auto* type = c.req.find("content-type");
  if (protobuf_too && type != nullptr && type->rfind("application/x-protobuf", 0) == 0) {
    if (!m.ParseFromString(c.req.body)) {
      return problem(400, "invalid_body", "the body is not a " + m.GetTypeName());
    }
    return std::nullopt;
  }
  if (type == nullptr || type->rfind("application/json", 0) != 0) {
    return problem(415, "unsupported_media_type",
                   protobuf_too ? "send the body as application/json or application/x-protobuf"
                                : "send the body as application/json");
  }
  google::protobuf::util::JsonParseOptions o;
  o.ignore_unknown_fields = false;
  auto st = google::protobuf::util::JsonStringToMessage(c.req.body, &m, o);
  if (!st.ok()) {
    return problem(400, "invalid_body", std::string{st.message()});
  }
  return std::nullopt;
}

std::string retry_seconds(std::chrono::milliseconds ms) {
  return std::to_string(std::max<int64_t>(1, (ms.count() + 999) / 1000));
}

// A service's error as a problem: its code's name and the HTTP status for it.
// What a service's error means to a client: its status, its code's name, the service's own
// words (else CAF's rendering) and the headers that go with it.
struct classified {
  int status = 503;
  std::string code;
  std::string detail;
  std::vector<http::header> headers;
};

classified classify(const caf::error& err) {
  auto& ctx = err.context();
  classified out;
  out.detail = !ctx.empty() && ctx.match_element<std::string>(0) ? ctx.get_as<std::string>(0)
                                                                 : caf::to_string(err);
  auto cat = err.category();
  auto code = err.code();
  if (cat == runtime_error_category()) {
    out.code = to_string(static_cast<errc>(code));
    switch (static_cast<errc>(code)) {
    case errc::overloaded:
      out.status = 429;
      out.headers = {{"retry-after",
                      retry_seconds(retry_after(err).value_or(std::chrono::milliseconds{1000}))}};
      break;
    case errc::not_found:
      out.status = 404;
      break;
    case errc::invalid_argument:
      out.status = 400;
      break;
    case errc::version_conflict:
      out.status = 412;
      break;
    default:
      out.headers = {{"retry-after", "1"}};
    }
  } else if (cat == error_domain<media::refusal>::category) {
    auto r = static_cast<media::refusal>(code);
    out.code = media::to_string(r);
    out.status = r == media::refusal::not_found            ? 404
                 : r == media::refusal::no_ready_rendition ? 409
                                                           : 403;
  } else if (cat == error_domain<session::session_errc>::category) {
    const char* name =
        error_domain<session::session_errc>::name(static_cast<session::session_errc>(code));
    out.code = name != nullptr ? name : "unknown_session";
    out.status = 404;
  } else {
    out.code = "unavailable";
    out.headers = {{"retry-after", "1"}};
  }
  return out;
}

http::response from_error(const caf::error& err) {
  auto c = classify(err);
  return problem(c.status, c.code, c.detail, std::move(c.headers));
}

// Item `i`'s outcome in a gateway's answer to a batch (none: ok).
caf::error item_error(const caf::expected<session::edge_answer>& a, size_t i) {
  if (!a) {
    return a.error();
  }
  if (i >= a->results.size()) {
    return make_error(errc::unavailable, "no answer for the item");
  }
  return session::to_error(a->results[i]);
}

caf::duration remaining(const call& c) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      c.deadline - std::chrono::steady_clock::now());
  return caf::duration{std::max(left, std::chrono::milliseconds{1})};
}

bool etag_matches(const call& c, const std::string& etag) {
  auto* inm = c.req.find("if-none-match");
  if (inm == nullptr) {
    return false;
  }
  if (*inm == "*") {
    return true;
  }
  // A list of tags, weak or strong (weak comparison, RFC 9110 13.1.2).
  size_t at = 0;
  while (at < inm->size()) {
    auto end = inm->find(',', at);
    if (end == std::string::npos) {
      end = inm->size();
    }
    auto tag = inm->substr(at, end - at);
    tag.erase(0, tag.find_first_not_of(" \t"));
    tag.erase(tag.find_last_not_of(" \t") + 1);
    if (tag.rfind("W/", 0) == 0) {
      tag.erase(0, 2);
    }
    if (tag == etag) {
      return true;
    }
    at = end + 1;
  }
  return false;
}

// A cached title or playlist: 304 when the client has it, else 200 with its tag.
void reply_cached(const call& c, const std::string& etag, const std::string& type, std::string body,
                  uint32_t max_age) {
  std::vector<http::header> h{{"etag", etag},
                              {"cache-control", "public, max-age=" + std::to_string(max_age)}};
  if (etag_matches(c, etag)) {
    c.reply({304, "", "", std::move(h)});
    return;
  }
  c.reply({200, type, std::move(body), std::move(h)});
}

void get_title(bridge* self, const call_ptr& c) {
  auto& s = *self->state.s;
  cache::get_msg q;
  q.set_key("meta/" + c->r.a);
  self->request(s.cache, remaining(*c), q)
      .then(
          [c, max_age = s.cfg.cache_max_age_s](const cache::value_msg& v) {
            if (!v.found()) {
              c->reply(problem(404, "not_found", "no title " + c->r.a));
              return;
            }
            reply_cached(*c, "\"" + std::to_string(v.version()) + "\"", "application/json",
                         v.value(), max_age);
          },
          [c](caf::error& err) { c->reply(from_error(err)); });
}

void master_playlist(bridge* self, const call_ptr& c) {
  auto& s = *self->state.s;
  auto device = query_param(c->req.query, "device").value_or("web");
  if (device != "tv" && device != "web" && device != "mobile") {
    c->reply(problem(400, "invalid_argument", "device must be tv, web or mobile"));
    return;
  }
  auto level = static_cast<int>(s.n->flow().current_level());
  cache::get_msg q;
  q.set_key("hls/" + std::to_string(level) + "/" + device + "/" + c->r.a);
  self->request(s.cache, remaining(*c), q)
      .then(
          [c, level, device, max_age = s.cfg.cache_max_age_s](const cache::value_msg& v) {
            if (!v.found()) {
              c->reply(problem(404, "not_found", "no title " + c->r.a));
              return;
            }
            // The playlist depends on the title's version, the node's level and the device.
            auto etag = "\"" + std::to_string(v.version()) + "-l" + std::to_string(level) + "-"
                        + device + "\"";
            reply_cached(*c, etag, "application/vnd.apple.mpegurl", v.value(), max_age);
          },
          [c](caf::error& err) { c->reply(from_error(err)); });
}

void put_title(bridge* self, const call_ptr& c) {
  auto& s = *self->state.s;
  content::metadata m;
  if (auto bad = parse_body(*c, m)) {
    c->reply(std::move(*bad));
    return;
  }
  if (m.id().empty()) {
    m.set_id(c->r.a);
  } else if (m.id() != c->r.a) {
    c->reply(problem(400, "invalid_argument",
                     "the body's id " + m.id() + " is not the path's " + c->r.a));
    return;
  }
  auto* if_match = c->req.find("if-match");
  if (if_match == nullptr) {
    c->reply(problem(428, "if_match_required",
                     "send If-Match with the version you expect (\"3\"), or * to write "
                     "whatever the current version"));
    return;
  }
  uint64_t expected = 0;
  if (*if_match != "*") {
    auto tag = *if_match;
    if (tag.size() < 3 || tag.front() != '"' || tag.back() != '"'
        || tag.find_first_not_of("0123456789", 1) != tag.size() - 1) {
      c->reply(problem(400, "invalid_argument", "If-Match wants a version tag such as \"3\""));
      return;
    }
    expected = std::stoull(tag.substr(1, tag.size() - 2));
    if (expected == 0) {
      c->reply(problem(400, "invalid_argument", "versions start at 1; use * to create"));
      return;
    }
  }
  m.set_version(0);
  content::update_msg u;
  *u.mutable_metadata() = std::move(m);
  u.set_expected_version(expected);
  u.set_origin("http:" + c->who.user);
  self->request(s.catalog, remaining(*c), u)
      .then(
          [c](uint64_t version) {
            c->reply({200,
                      "application/json",
                      "{\"id\":\"" + json_escape(c->r.a)
                          + "\",\"version\":" + std::to_string(version) + "}\n",
                      {{"etag", "\"" + std::to_string(version) + "\""}}});
          },
          [c](caf::error& err) { c->reply(from_error(err)); });
}

void get_position(bridge* self, const call_ptr& c) {
  auto& s = *self->state.s;
  media::watch_query_msg q;
  q.set_user(c->r.a);
  q.set_content(c->r.b);
  self->request(s.watch, remaining(*c), q)
      .then(
          [c](const media::watch_position_msg& p) {
            if (p.event_ms() == 0 && p.position_ms() == 0) {
              c->reply(
                  problem(404, "not_found", "no position of " + c->r.a + " in " + c->r.b + " yet"));
              return;
            }
            v1::api::Position out;
            out.set_user(c->r.a);
            out.set_title(c->r.b);
            out.set_position_ms(p.position_ms());
            out.set_event_ms(p.event_ms());
            out.set_device(p.device());
            c->reply(json(200, out));
          },
          [c](caf::error& err) { c->reply(from_error(err)); });
}

void windows(bridge* self, const call_ptr& c) {
  auto& s = *self->state.s;
  auto title = query_param(c->req.query, "title").value_or("");
  if (title.empty()) {
    c->reply(problem(400, "invalid_argument", "title= is required"));
    return;
  }
  int seconds = 10;
  if (auto sec = query_param(c->req.query, "seconds")) {
    seconds = std::atoi(sec->c_str());
    if (seconds < 1 || seconds > 60 || sec->find_first_not_of("0123456789") != std::string::npos) {
      c->reply(problem(400, "invalid_argument", "seconds= wants 1..60"));
      return;
    }
  }
  std::vector<std::string> regions;
  if (auto r = query_param(c->req.query, "region"); r && !r->empty()) {
    regions.push_back(*r);
  } else {
    regions = cluster::up_regions(s.n->members());
    if (regions.empty()) {
      regions.emplace_back(); // no regions: this node's partitions
    }
  }
  struct join {
    v1::api::Windows out;
    size_t left = 0;
  };
  auto j = std::make_shared<join>();
  j->out.set_title(title);
  j->out.set_seconds(static_cast<uint32_t>(seconds));
  j->left = regions.size();
  for (size_t i = 0; i < regions.size(); ++i) {
    auto& w = *j->out.add_regions();
    w.set_region(regions[i]);
    analytics::query_msg q;
    q.set_content_id(title);
    q.set_region(regions[i]);
    q.set_window_s(static_cast<uint32_t>(seconds));
    auto done = [c, j] {
      if (--j->left == 0) {
        c->reply(json(200, j->out));
      }
    };
    self->request(s.analytics, remaining(*c), q)
        .then(
            [j, i, done](const analytics::window_msg& m) {
              auto& w = *j->out.mutable_regions(static_cast<int>(i));
              w.set_answered(true);
              w.set_concurrent_viewers(m.concurrent_viewers());
              w.set_events(m.events());
              w.set_starts(m.starts());
              w.set_startup_p50_ms(m.startup_p50_ms());
              w.set_startup_p95_ms(m.startup_p95_ms());
              w.set_rebuffer_ratio(m.rebuffer_ratio());
              w.set_error_rate(m.error_rate());
              done();
            },
            [j, i, done](caf::error& err) {
              j->out.mutable_regions(static_cast<int>(i))->set_error(caf::to_string(err));
              done();
            });
  }
}

// Sends `batch` to the gateway of the node `holder` (this one or another) and `then` with its
// answer (one result per item) or why there is none.
void to_gateway_all(bridge* self, const call_ptr& c, const std::string& holder,
                    session::edge_batch batch,
                    std::function<void(caf::expected<session::edge_answer>)> then) {
  auto& st = self->state;
  auto ask = [self, c, then, local = st.s->gateway](const caf::actor& gw, session::edge_batch b) {
    // This node's gateway answers every batch within its budget (refusing what it could
    // not serve in time): no timer per request. Another node's may be cut off.
    auto timeout = gw == local ? caf::infinite : remaining(*c);
    self->request(gw, timeout, std::move(b))
        .then([then](session::edge_answer& a) { then(std::move(a)); },
              [then](caf::error& err) { then(std::move(err)); });
  };
  batch.budget_ms = static_cast<uint32_t>(
      std::max<int64_t>(1, std::chrono::duration_cast<std::chrono::milliseconds>(
                               c->deadline - std::chrono::steady_clock::now())
                               .count()));
  batch.sent_at_ms = sv::clock::wall_ms();
  auto wait = std::chrono::milliseconds{std::max<uint32_t>(1, batch.budget_ms / 2)};
  st.router.relay(
      self, holder, wait, [ask, gw = st.s->gateway, batch] { ask(gw, batch); },
      [ask, batch](const caf::actor& svc, const std::string&) { ask(svc, batch); },
      [then](const caf::error& err, const std::string& owner) {
        then(make_error(errc::unavailable, "the node holding the session (" + owner
                                               + ") is not reachable: " + caf::to_string(err)));
      });
}

// to_gateway_all for a batch of one item: `then` with its result as an error (none: ok).
void to_gateway(bridge* self, const call_ptr& c, const std::string& holder,
                session::edge_batch batch, std::function<void(const caf::error&)> then) {
  to_gateway_all(self, c, holder, std::move(batch),
                 [then](caf::expected<session::edge_answer> a) { then(item_error(a, 0)); });
}

// An error as one item's result in a batch answer.
void set_failed(v1::api::ItemResult& r, const caf::error& err) {
  auto c = classify(err);
  r.set_ok(false);
  r.set_status(static_cast<uint32_t>(c.status));
  r.set_code(std::move(c.code));
  r.set_detail(std::move(c.detail));
}

void count_results(v1::api::BatchResults& out) {
  uint32_t ok = 0;
  for (auto& r : out.results()) {
    ok += r.ok() ? 1 : 0;
  }
  out.set_ok(ok);
  out.set_failed(static_cast<uint32_t>(out.results_size()) - ok);
}

constexpr int max_batch_items = 10'000;

void heartbeats_batch(bridge* self, const call_ptr& c) {
  v1::api::HeartbeatBatch body;
  if (auto bad = parse_body(*c, body, true)) {
    c->reply(std::move(*bad));
    return;
  }
  if (body.heartbeats_size() == 0 || body.heartbeats_size() > max_batch_items) {
    c->reply(problem(400, "invalid_argument",
                     "send 1.." + std::to_string(max_batch_items) + " heartbeats"));
    return;
  }
  struct join {
    v1::api::BatchResults out;
    size_t left = 0;
  };
  auto j = std::make_shared<join>();
  // The items by the node holding their sessions (each with its result's index).
  std::map<std::string, std::pair<session::edge_batch, std::vector<int>>> by_node;
  auto ops = c->who.has(scope::ops);
  auto now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                    std::chrono::steady_clock::now().time_since_epoch())
                    .count();
  for (int i = 0; i < body.heartbeats_size(); ++i) {
    auto& item = body.heartbeats(i);
    auto& r = *j->out.add_results();
    auto user = ops && !item.user().empty() ? item.user() : c->who.user;
    auto h = self->state.handles->check(item.session_id(), user);
    if (!h) {
      r.set_status(404);
      r.set_code("unknown_session");
      r.set_detail("no session " + item.session_id() + " of user " + user);
      continue;
    }
    session::heartbeat_report hb;
    hb.session_id = h->number;
    hb.position_ms = item.position_ms();
    hb.bitrate_kbps = item.bitrate_kbps();
    hb.buffer_ms = item.buffer_ms();
    hb.dropped_frames = item.dropped_frames();
    hb.sent_at_ns = now_ns;
    auto& [batch, at] = by_node[h->node];
    batch.heartbeats.push_back(hb);
    at.push_back(i);
  }
  j->left = by_node.size() + 1;
  auto done = [c, j] {
    if (--j->left == 0) {
      count_results(j->out);
      c->reply(json(200, j->out));
    }
  };
  for (auto& [node, part] : by_node) {
    auto at = part.second;
    to_gateway_all(self, c, node, std::move(part.first),
                   [j, at, done](caf::expected<session::edge_answer> a) {
                     for (size_t k = 0; k < at.size(); ++k) {
                       auto& r = *j->out.mutable_results(at[k]);
                       if (auto err = item_error(a, k)) {
                         set_failed(r, err);
                       } else {
                         r.set_ok(true);
                       }
                     }
                     done();
                   });
  }
  done();
}

void events_batch(bridge* self, const call_ptr& c) {
  auto& s = *self->state.s;
  analytics::event_batch body;
  if (auto bad = parse_body(*c, body, true)) {
    c->reply(std::move(*bad));
    return;
  }
  if (body.producer_id().empty() || body.sequence() == 0 || body.events_size() == 0
      || body.events_size() > max_batch_items) {
    c->reply(problem(400, "invalid_argument",
                     "a producer_id, a sequence from 1 and 1.." + std::to_string(max_batch_items)
                         + " events are needed (a producer numbers its batches and resends "
                           "one until it is answered: it is stored once)"));
    return;
  }
  // Each event checked as its partition will (refused ones are answered here, per item,
  // and not sent); a viewer sends only its own user's events.
  auto out = std::make_shared<v1::api::BatchResults>();
  analytics::event_batch valid;
  valid.set_producer_id(body.producer_id());
  valid.set_sequence(body.sequence());
  valid.set_home_region(body.home_region().empty() ? s.n->settings().region : body.home_region());
  auto now = sv::clock::wall_ms();
  auto ops = c->who.has(scope::ops);
  for (auto& e : body.events()) {
    auto& r = *out->add_results();
    auto why = analytics::validate(e, now, s.limits);
    if (!why.empty()) {
      r.set_status(400);
      r.set_code("invalid_argument");
      r.set_detail(why);
    } else if (!ops && e.user_id() != c->who.user) {
      r.set_status(403);
      r.set_code("forbidden");
      r.set_detail("a viewer sends only its own events");
    } else {
      r.set_ok(true);
      *valid.add_events() = e;
    }
  }
  if (valid.events_size() == 0) {
    count_results(*out);
    c->reply(json(200, *out));
    return;
  }
  self->request(s.analytics, remaining(*c), analytics::ingest_atom::value, std::move(valid))
      .then(
          [c, out](const analytics::ack_msg& ack) {
            out->set_stored(ack.stored());
            out->set_duplicate(ack.duplicate());
            count_results(*out);
            c->reply(json(200, *out));
          },
          [c](caf::error& err) { c->reply(from_error(err)); });
}

void open_session(bridge* self, const call_ptr& c) {
  auto& s = *self->state.s;
  v1::api::OpenSession body;
  if (auto bad = parse_body(*c, body)) {
    c->reply(std::move(*bad));
    return;
  }
  auto device = body.device().empty() ? std::string{"web"} : body.device();
  if (body.region().empty()) {
    body.set_region(s.n->settings().region); // the viewer's region: this node's by default
  }
  if (body.region().empty()) {
    c->reply(
        problem(400, "invalid_argument", "region is required (this node has none to default to)"));
    return;
  }
  if (body.title().empty() || (device != "tv" && device != "web" && device != "mobile")
      || body.tier() > 3) {
    c->reply(problem(400, "invalid_argument",
                     "title is required, device is tv, web or mobile, tier 0..3"));
    return;
  }
  session_handle h;
  h.node = s.n->settings().name;
  // Apart from the numbers edge clients choose: the top bit set.
  h.number = (uint64_t{1} << 63) | s.next_session.fetch_add(1);
  session::open_request o;
  o.session_id = h.number;
  o.user = c->who.user;
  o.content = body.title();
  o.device = device;
  o.region = body.region();
  o.subscription = static_cast<uint8_t>(body.tier());
  o.sent_at_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                     std::chrono::steady_clock::now().time_since_epoch())
                     .count();
  session::edge_batch b;
  b.opens.push_back(o);
  auto handle = make_handle(h, c->who.user, s.key);
  to_gateway(
      self, c, h.node, std::move(b),
      [self, c, handle, title = body.title(), device,
       region = body.region()](const caf::error& err) {
        if (err) {
          c->reply(from_error(err));
          return;
        }
        v1::api::SessionOpened out;
        out.set_session_id(handle);
        out.set_playlist_url("/v1/titles/" + title + "/master.m3u8?device=" + device);
        // The resume position, if the user has one (interactive: a failure only
        // means starting from 0).
        media::watch_query_msg q;
        q.set_user(c->who.user);
        q.set_content(title);
        q.set_region(region);
        self->request(self->state.s->watch, remaining(*c), q)
            .then(
                [c, out](const media::watch_position_msg& p) mutable {
                  out.set_resume_position_ms(p.position_ms());
                  c->reply(json(201, out, {{"location", "/v1/sessions/" + out.session_id()}}));
                },
                [c, out](caf::error&) {
                  c->reply(json(201, out, {{"location", "/v1/sessions/" + out.session_id()}}));
                });
      });
}

// The session named in the path, if it is the token's user's.
std::optional<session_handle> session_of(bridge* self, const call_ptr& c) {
  auto h = self->state.handles->check(c->r.a, c->who.user);
  if (!h) {
    c->reply(problem(404, "unknown_session", "no session " + c->r.a + " of this user"));
  }
  return h;
}

void session_heartbeat(bridge* self, const call_ptr& c) {
  // The plain form of the body read directly (protobuf's JSON parser was about 11% of a
  // node's CPU under heartbeats); anything else goes through it.
  static const std::vector<std::string_view> fields = {"position_ms", "bitrate_kbps", "buffer_ms",
                                                       "dropped_frames"};
  v1::api::Heartbeat body;
  auto* type = c->req.find("content-type");
  auto& v = self->state.fields;
  if (type != nullptr && type->rfind("application/json", 0) == 0
      && read_int_fields(c->req.body, fields, v)) {
    body.set_position_ms(v[0]);
    body.set_bitrate_kbps(v[1]);
    body.set_buffer_ms(v[2]);
    body.set_dropped_frames(v[3]);
  } else if (auto bad = parse_body(*c, body)) {
    c->reply(std::move(*bad));
    return;
  }
  auto h = session_of(self, c);
  if (!h) {
    return;
  }
  session::heartbeat_report r;
  r.session_id = h->number;
  r.position_ms = body.position_ms();
  r.bitrate_kbps = body.bitrate_kbps();
  r.buffer_ms = body.buffer_ms();
  r.dropped_frames = body.dropped_frames();
  r.sent_at_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                     std::chrono::steady_clock::now().time_since_epoch())
                     .count();
  auto& st = self->state;
  auto& p = st.heartbeats[h->node];
  p.batch.heartbeats.push_back(r);
  p.calls.push_back(c);
  if (!st.flush_queued) {
    st.flush_queued = true;
    self->send(self, flush_atom::value);
  }
}

// The coalesced heartbeats, one batch per node; each call answered with its item's result.
void flush_heartbeats(bridge* self) {
  auto& st = self->state;
  st.flush_queued = false;
  auto all = std::move(st.heartbeats);
  st.heartbeats.clear();
  for (auto& [node, p] : all) {
    // The batch's budget: the first call's (the oldest).
    auto calls = std::make_shared<std::vector<call_ptr>>(std::move(p.calls));
    to_gateway_all(self, calls->front(), node, std::move(p.batch),
                   [calls](caf::expected<session::edge_answer> a) {
                     for (size_t i = 0; i < calls->size(); ++i) {
                       auto err = item_error(a, i);
                       (*calls)[i]->reply(
                           err ? from_error(err)
                               : http::response{200, "application/json", "{\"ok\":true}\n"});
                     }
                   });
  }
}

void session_command(bridge* self, const call_ptr& c, std::optional<session::command_kind> kind) {
  v1::api::SessionCommand body;
  if (!kind) {
    if (auto bad = parse_body(*c, body)) {
      c->reply(std::move(*bad));
      return;
    }
    static const std::map<std::string, session::command_kind> kinds = {
        {"pause", session::command_kind::pause},
        {"resume", session::command_kind::resume},
        {"seek", session::command_kind::seek},
        {"quality", session::command_kind::quality},
        {"close", session::command_kind::close}};
    auto k = kinds.find(body.action());
    if (k == kinds.end()) {
      c->reply(
          problem(400, "invalid_argument", "action must be pause, resume, seek, quality or close"));
      return;
    }
    kind = k->second;
  }
  auto h = session_of(self, c);
  if (!h) {
    return;
  }
  session::command cmd;
  cmd.session_id = h->number;
  cmd.kind = *kind;
  cmd.value = *kind == session::command_kind::seek      ? body.position_ms()
              : *kind == session::command_kind::quality ? body.bitrate_kbps()
                                                        : 0;
  session::edge_batch b;
  b.commands.push_back(cmd);
  to_gateway(self, c, h->node, std::move(b), [c](const caf::error& err) {
    c->reply(err ? from_error(err) : http::response{200, "application/json", "{\"ok\":true}\n"});
  });
}

caf::behavior bridge_behavior(bridge* self, std::shared_ptr<shared> s) {
  wire::answer_undecodable(self, "player API bridge"); // never renders what it does not know
  auto* n = s->n;
  self->state.router.bind(n->settings().name, n->cluster_endpoint(),
                          std::function<std::vector<cluster::member>()>{[n] {
                            return n->members();
                          }});
  self->state.handles = std::make_unique<handle_checker>(s->key, 65'536);
  self->state.s = std::move(s);
  self->set_down_handler([self](caf::down_msg& dm) { self->state.router.forget(dm.source); });
  return {
      [self](flush_atom) { flush_heartbeats(self); },
      [self](const call_ptr& c) {
        switch (*c->r.match) {
        case endpoint::get_title:
          get_title(self, c);
          break;
        case endpoint::put_title:
          put_title(self, c);
          break;
        case endpoint::master_playlist:
          master_playlist(self, c);
          break;
        case endpoint::get_position:
          get_position(self, c);
          break;
        case endpoint::windows:
          windows(self, c);
          break;
        case endpoint::open_session:
          open_session(self, c);
          break;
        case endpoint::session_heartbeat:
          session_heartbeat(self, c);
          break;
        case endpoint::session_command:
          session_command(self, c, std::nullopt);
          break;
        case endpoint::close_session:
          session_command(self, c, session::command_kind::close);
          break;
        case endpoint::heartbeats_batch:
          heartbeats_batch(self, c);
          break;
        case endpoint::events_batch:
          events_batch(self, c);
          break;
        default:
          c->reply(problem(404, "not_found", "no such resource"));
        }
      },
  };
}

// Which scope an endpoint wants of the token (and whether the path's user must be its own).
std::optional<http::response> authorize(const call& c) {
  auto& who = c.who;
  switch (*c.r.match) {
  case endpoint::put_title:
    if (!who.has(scope::cms)) {
      return problem(403, "forbidden", "writing titles needs the cms scope");
    }
    break;
  case endpoint::windows:
    if (!who.has(scope::ops)) {
      return problem(403, "forbidden", "analytics needs the ops scope");
    }
    break;
  case endpoint::get_position:
    if (!who.has(scope::ops) && !(who.has(scope::viewer) && who.user == c.r.a)) {
      return problem(403, "forbidden", "a viewer reads only its own positions");
    }
    break;
  case endpoint::open_session:
  case endpoint::session_heartbeat:
  case endpoint::session_command:
  case endpoint::close_session:
    if (!who.has(scope::viewer)) {
      return problem(403, "forbidden", "sessions need the viewer scope");
    }
    break;
  case endpoint::heartbeats_batch:
  case endpoint::events_batch:
    if (!who.has(scope::viewer) && !who.has(scope::ops)) {
      return problem(403, "forbidden", "batches need the viewer or the ops scope");
    }
    break;
  default:
    break; // titles and playlists: any valid token
  }
  return std::nullopt;
}

} // namespace

struct http_api::impl {
  std::shared_ptr<shared> s = std::make_shared<shared>();
  caf::actor bridge;
  http::server server;
  std::vector<std::shared_ptr<void>> metrics;

  // On the server's thread: route, token, scope, admission; then to the bridge.
  void handle(http::request&& req, http::reply_fn reply) {
    auto counted = [sp = s.get(), reply](http::response r) {
      auto k = static_cast<size_t>(std::clamp(r.status / 100, 1, 5));
      sp->by_status[k].fetch_add(1, std::memory_order_relaxed);
      reply(std::move(r));
    };
    auto r = match(req.method, req.path);
    if (!r.match) {
      if (r.status == 405) {
        counted(problem(405, "method_not_allowed", req.method + " is not allowed here",
                        {{"allow", r.allow}}));
      } else if (r.status == 400) {
        counted(problem(400, "invalid_argument", "malformed escape in the path"));
      } else {
        counted(problem(404, "not_found", "no such resource: " + req.path));
      }
      return;
    }
    if (*r.match == endpoint::healthz) {
      counted({200, "text/plain; charset=utf-8", "ok\n"});
      return;
    }
    if (*r.match == endpoint::readyz) {
      auto st = s->n->status();
      auto text = readyz_body(st.started, st.unready);
      counted(http::response{st.ready ? 200 : 503, "text/plain; charset=utf-8", text});
      return;
    }
    auto c = std::make_shared<call>();
    auto* auth = req.find("authorization");
    if (auth == nullptr || auth->size() < 7 || strncasecmp(auth->c_str(), "bearer ", 7) != 0) {
      counted(problem(401, "unauthorized", "send Authorization: Bearer <token>",
                      {{"www-authenticate", "Bearer"}}));
      return;
    }
    auto v = s->tokens->verify(*s->keys, auth->substr(7), sv::clock::wall_ms() / 1000);
    if (!v.ok()) {
      counted(problem(401, "invalid_token", v.why(),
                      {{"www-authenticate", "Bearer error=\"invalid_token\""}}));
      return;
    }
    c->who = v.value();
    c->r = std::move(r);
    if (auto denied = authorize(*c)) {
      counted(std::move(*denied));
      return;
    }
    // The node's flow gate, by the endpoint's class, against the requests of that class
    // under way here.
    c->cls = class_of(*c->r.match);
    auto idx = flow::index(c->cls);
    auto& flow = s->n->flow();
    auto lvl = flow.current_level();
    auto d = flow.admission().check(c->cls, s->inflight[idx].load(), lvl);
    if (!d.admitted()) {
      flow.admission().count_refusal(c->cls);
      s->refused[idx].fetch_add(1, std::memory_order_relaxed);
      auto shed = d.why == flow::verdict::shed_by_level && lvl == flow::level::l4;
      counted(problem(shed ? 503 : 429, "overloaded",
                      std::string{"the node refuses "} + std::string{flow::to_string(c->cls)}
                          + " work now (level L" + std::to_string(static_cast<int>(lvl)) + ")",
                      {{"retry-after", retry_seconds(d.retry_after)}}));
      return;
    }
    // Critical first: while critical requests queue here (even the fastest of the last
    // interval waited longer than the target), work that can wait is refused, so the
    // node's capacity goes to playback.
    auto now = std::chrono::steady_clock::now();
    if ((c->cls == flow::service_class::best_effort || c->cls == flow::service_class::bulk)
        && s->critical_queue && s->critical_queue->standing(now.time_since_epoch())) {
      flow.admission().count_refusal(c->cls);
      s->refused[idx].fetch_add(1, std::memory_order_relaxed);
      s->shed_for_critical.fetch_add(1, std::memory_order_relaxed);
      counted(problem(429, "overloaded",
                      std::string{"the node refuses "} + std::string{flow::to_string(c->cls)}
                          + " work while its critical requests queue",
                      {{"retry-after", "1"}}));
      return;
    }
    s->inflight[idx].fetch_add(1, std::memory_order_relaxed);
    c->req = std::move(req);
    c->deadline = now + std::chrono::milliseconds{s->cfg.request_timeout_ms} * 9 / 10;
    // Watched: heartbeats of sessions held here. Their work is small and local, so their
    // latency is mostly waiting (an open's includes its hooks, a forwarded request's the
    // network to the session's node: neither says this node queues).
    auto* watch = *c->r.match == endpoint::session_heartbeat
                          && c->r.a.compare(0, s->self_prefix.size(), s->self_prefix) == 0
                      ? s->critical_queue.get()
                      : nullptr;
    c->reply = [counted, sp = s, idx, watch, started = now,
                once = std::make_shared<std::atomic<bool>>(false)](http::response res) {
      if (!once->exchange(true)) {
        sp->inflight[idx].fetch_sub(1, std::memory_order_relaxed);
        if (watch != nullptr) {
          auto end = std::chrono::steady_clock::now();
          watch->record(end - started, end.time_since_epoch());
        }
        counted(std::move(res));
      }
    };
    caf::anon_send(bridge, std::move(c));
  }
};

http_api::http_api(node& n, api_parts parts) : impl_(std::make_unique<impl>()) {
  auto& s = *impl_->s;
  s.n = &n;
  s.cfg = n.settings().section<config::http_api_settings>();
  if (s.cfg.port == 0) {
    return;
  }
  if (s.cfg.token_key_file.empty()) {
    throw std::runtime_error{"http.port is set but http.token_key_file is not: the API needs "
                             "the key of its bearer tokens"};
  }
  std::string why;
  s.keys = token_keys::from_file(s.cfg.token_key_file, why);
  if (!s.keys) {
    throw std::runtime_error{"http: " + why};
  }
  s.key = s.keys->key();
  s.tokens = std::make_unique<token_cache>(s.cfg.token_cache_entries);
  s.self_prefix = n.settings().name + "~";
  if (s.cfg.critical_queue_target_ms > 0) {
    s.critical_queue = std::make_unique<flow::standing_queue>(
        std::chrono::milliseconds{s.cfg.critical_queue_target_ms},
        std::chrono::milliseconds{s.cfg.critical_queue_interval_ms});
  }
  s.catalog = parts.catalog->handle();
  s.cache = parts.cache->handle();
  s.watch = parts.watch->handle();
  s.analytics = parts.analytics->handle();
  s.gateway = parts.gateway->handle();
  s.next_session = static_cast<uint64_t>(sv::clock::wall_ms()) << 12;
  s.limits.max_skew_ms = n.settings().section<config::analytics_node_settings>().max_skew_ms;
  impl_->bridge = n.system().spawn(bridge_behavior, impl_->s);
  auto& reg = n.metrics();
  auto sp = impl_->s;
  for (auto c : flow::all_service_classes) {
    auto i = flow::index(c);
    metrics::labels ls{{"class", std::string{flow::to_string(c)}}};
    reg.gauge_callback(
        "sv_http_inflight", "API requests under way, by service class",
        [sp, i] { return static_cast<double>(sp->inflight[i].load()); }, ls);
    reg.counter_callback(
        "sv_http_refused_total",
        "API requests refused by the flow gate (429/503), by service class",
        [sp, i] { return static_cast<double>(sp->refused[i].load()); }, ls);
  }
  reg.gauge_callback(
      "sv_http_critical_queue_seconds",
      "The fastest critical API request of the last interval (http.critical_queue_interval_ms): "
      "above http.critical_queue_target_ms, best-effort and bulk requests are refused",
      [sp] {
        return sp->critical_queue
                   ? std::chrono::duration<double>(sp->critical_queue->last_min()).count()
                   : 0.0;
      });
  reg.counter_callback(
      "sv_http_shed_for_critical_total",
      "Best-effort and bulk API requests refused (429) while critical requests queued",
      [sp] { return static_cast<double>(sp->shed_for_critical.load()); });
  reg.counter_callback("sv_http_token_cache_hits_total",
                       "API requests whose bearer token was found among those verified before",
                       [sp] { return static_cast<double>(sp->tokens->stats().hits); });
  for (size_t k = 1; k <= 5; ++k) {
    reg.counter_callback("sv_http_responses_total", "API answers by status class",
                         [sp, k] { return static_cast<double>(sp->by_status[k].load()); },
                         {{"status", std::to_string(k) + "xx"}});
  }
  http::server_settings hs;
  hs.address = s.cfg.bind;
  hs.port = static_cast<uint16_t>(s.cfg.port);
  hs.max_connections = s.cfg.max_connections;
  hs.header_limit = s.cfg.header_limit_bytes;
  hs.body_limit = s.cfg.body_limit_bytes;
  hs.read_timeout = std::chrono::milliseconds{s.cfg.read_timeout_ms};
  hs.handler_timeout = std::chrono::milliseconds{s.cfg.request_timeout_ms};
  hs.threads = s.cfg.threads;
  auto err = impl_->server.start(hs, [i = impl_.get()](http::request&& req, http::reply_fn reply) {
    i->handle(std::move(req), std::move(reply));
  });
  if (!err.empty()) {
    caf::anon_send_exit(impl_->bridge, caf::exit_reason::user_shutdown);
    throw std::runtime_error{"http: " + err};
  }
  spdlog::info("player API on {}:{}", s.cfg.bind, impl_->server.port());
}

http_api::~http_api() {
  impl_->server.stop();
  if (impl_->bridge) {
    caf::anon_send_exit(impl_->bridge, caf::exit_reason::user_shutdown);
  }
}

uint16_t http_api::port() const noexcept {
  return impl_->server.port();
}

void http_api::drain(std::chrono::milliseconds grace) {
  if (impl_->server.port() == 0) {
    return;
  }
  int64_t busy = 0;
  for (auto& n : impl_->s->inflight) {
    busy += n.load();
  }
  spdlog::info("player API: draining (no new connections; {} requests under way, up to {} ms)",
               busy, grace.count());
  auto t0 = std::chrono::steady_clock::now();
  impl_->server.stop(grace);
  spdlog::info(
      "player API: drained in {} ms",
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count());
}

http::server_stats http_api::stats() const {
  return impl_->server.stats();
}

} // namespace sv::api
