#include "actors/analytics/events.hpp"
#include "runtime/util/hash.hpp"

#include <charconv>
#include <cstdlib>

namespace sv::analytics {

uint64_t session_key_of(std::string_view s) noexcept {
  return hash::stable(s);
}

std::string event_view::event_id() const {
  auto id = explicit_id();
  if (!id.empty()) {
    return std::string{id};
  }
  return std::string{str(b_->source(i_))} + "/" + session_id() + "/" + std::to_string(b_->seq(i_));
}

std::string event_view::session_id() const {
  if (auto ref = b_->session_ref(i_); ref != 0) {
    return std::string{str(ref)};
  }
  return std::to_string(b_->session(i_));
}

uint64_t event_view::session_key() const noexcept {
  if (auto ref = b_->session_ref(i_); ref != 0) {
    return session_key_of(str(ref));
  }
  // Numbered sessions hash like their decimal text, so that the two forms agree.
  char buf[24];
  auto end = std::to_chars(buf, buf + sizeof(buf), b_->session(i_)).ptr;
  return session_key_of(std::string_view{buf, static_cast<size_t>(end - buf)});
}

std::string_view block_string(const event_block& b, uint32_t ref) noexcept {
  if (ref == 0 || ref > static_cast<uint32_t>(b.text_end_size())) {
    return {};
  }
  auto end = b.text_end(static_cast<int>(ref - 1));
  auto begin = ref >= 2 ? b.text_end(static_cast<int>(ref - 2)) : 0;
  if (begin > end || end > b.text().size()) {
    return {};
  }
  return std::string_view{b.text()}.substr(begin, end - begin);
}

uint32_t block_strings(const event_block& b) noexcept {
  return static_cast<uint32_t>(b.text_end_size()) + 1;
}

std::string_view event_view::str(uint32_t ref) const noexcept {
  return block_string(*b_, ref);
}

int event_count(const event_block& b) noexcept {
  return b.type_size();
}

bool well_formed(const event_block& b) noexcept {
  auto n = b.type_size();
  auto same = b.event_id_size() == n && b.source_size() == n && b.seq_size() == n
              && b.session_ref_size() == n && b.session_size() == n && b.user_size() == n
              && b.content_size() == n && b.region_size() == n && b.device_size() == n
              && b.timestamp_ms_size() == n && b.startup_ms_size() == n
              && b.bitrate_kbps_size() == n && b.buffer_ms_size() == n && b.rebuffer_ms_size() == n
              && b.watched_ms_size() == n && b.error_code_size() == n && b.position_ms_size() == n;
  if (!same) {
    return false;
  }
  uint32_t last = 0;
  for (auto end : b.text_end()) {
    if (end < last || end > b.text().size()) {
      return false;
    }
    last = end;
  }
  auto strings = block_strings(b);
  for (auto* col : {&b.event_id(), &b.source(), &b.session_ref(), &b.user(), &b.content(),
                    &b.region(), &b.device(), &b.error_code()}) {
    for (auto ref : *col) {
      if (ref != 0 && ref >= strings) {
        return false;
      }
    }
  }
  return true;
}

block_builder::block_builder() = default;

uint32_t block_builder::ref(std::string_view s) {
  if (s.empty()) {
    return 0;
  }
  auto h = session_key_of(s);
  auto i = index_.find(h);
  if (i != index_.end() && block_string(block_, i->second) == s) {
    return i->second;
  }
  auto id = append(s);
  if (i == index_.end()) {
    index_.emplace(h, id);
  }
  return id;
}

uint32_t block_builder::append(std::string_view s) {
  if (s.empty()) {
    return 0;
  }
  auto* text = block_.mutable_text();
  text->append(s.data(), s.size());
  block_.add_text_end(static_cast<uint32_t>(text->size()));
  return static_cast<uint32_t>(block_.text_end_size()); // 1-based: 0 is ""
}

void block_builder::add(const event_fields& f, bool unique_user) {
  block_.add_event_id(ref(f.event_id));
  block_.add_source(ref(f.source));
  block_.add_seq(f.seq);
  block_.add_session_ref(ref(f.session_text));
  block_.add_session(f.session_text.empty() ? f.session_number : 0);
  block_.add_type(static_cast<uint32_t>(f.type));
  block_.add_user(unique_user ? append(f.user) : ref(f.user));
  block_.add_content(ref(f.content));
  block_.add_region(ref(f.region));
  block_.add_device(ref(f.device));
  block_.add_timestamp_ms(f.timestamp_ms);
  block_.add_startup_ms(f.startup_ms);
  block_.add_bitrate_kbps(f.bitrate_kbps);
  block_.add_buffer_ms(f.buffer_ms);
  block_.add_rebuffer_ms(f.rebuffer_ms);
  block_.add_watched_ms(f.watched_ms);
  block_.add_error_code(ref(f.error_code));
  block_.add_position_ms(f.position_ms);
}

void block_builder::add(const viewer_event& e) {
  event_fields f;
  f.event_id = e.event_id();
  f.session_text = e.session_id();
  f.type = e.type();
  f.user = e.user_id();
  f.content = e.content_id();
  f.region = e.region();
  f.device = e.device();
  f.error_code = e.error_code();
  f.timestamp_ms = e.timestamp_ms();
  f.startup_ms = e.startup_ms();
  f.bitrate_kbps = e.bitrate_kbps();
  f.buffer_ms = e.buffer_ms();
  f.rebuffer_ms = e.rebuffer_ms();
  f.watched_ms = e.watched_ms();
  add(f);
}

void block_builder::add(const event_view& e) {
  // A copy names its id and session explicitly (a derived id's parts stay in it).
  auto id = e.event_id();
  auto session = e.session_id();
  event_fields f;
  f.event_id = id;
  f.session_text = session;
  f.type = e.type();
  f.user = e.user();
  f.content = e.content();
  f.region = e.region();
  f.device = e.device();
  f.error_code = e.error_code();
  f.timestamp_ms = e.timestamp_ms();
  f.startup_ms = e.startup_ms();
  f.bitrate_kbps = e.bitrate_kbps();
  f.buffer_ms = e.buffer_ms();
  f.rebuffer_ms = e.rebuffer_ms();
  f.watched_ms = e.watched_ms();
  f.position_ms = e.position_ms();
  add(f);
}

event_block block_builder::take() {
  auto out = std::move(block_);
  block_ = event_block{};
  index_.clear();
  return out;
}

event_block to_block(const event_batch& b) {
  block_builder builder;
  for (auto& e : b.events()) {
    builder.add(e);
  }
  auto out = builder.take();
  out.set_producer_id(b.producer_id());
  out.set_sequence(b.sequence());
  out.set_partition(b.partition());
  return out;
}

viewer_event to_event(const event_view& e) {
  viewer_event out;
  out.set_event_id(e.event_id());
  out.set_session_id(e.session_id());
  out.set_user_id(std::string{e.user()});
  out.set_content_id(std::string{e.content()});
  out.set_region(std::string{e.region()});
  out.set_device(std::string{e.device()});
  out.set_type(e.type());
  out.set_timestamp_ms(e.timestamp_ms());
  out.set_startup_ms(e.startup_ms());
  out.set_bitrate_kbps(e.bitrate_kbps());
  out.set_buffer_ms(e.buffer_ms());
  out.set_rebuffer_ms(e.rebuffer_ms());
  out.set_watched_ms(e.watched_ms());
  out.set_error_code(std::string{e.error_code()});
  return out;
}

std::string validate(const event_view& e, int64_t now_ms, const event_limits& limits) {
  auto t = static_cast<int>(e.type());
  if (t == streamverse::v1::EVENT_UNKNOWN || !streamverse::v1::ViewerEventType_IsValid(t)) {
    return "type: unknown (" + std::to_string(t) + ")";
  }
  // An id is explicit, or derived from the event's source (a session host), session and
  // sequence number.
  if (e.explicit_id().empty() && e.source().empty()) {
    return "event_id: missing";
  }
  if (!e.has_session()) {
    return "session_id: missing";
  }
  struct field {
    const char* name;
    std::string_view value;
    bool required;
  };
  for (auto& f : {field{"event_id", e.explicit_id(), false}, field{"user_id", e.user(), true},
                  field{"content_id", e.content(), true}, field{"region", e.region(), false},
                  field{"device", e.device(), false}, field{"error_code", e.error_code(), false}}) {
    if (f.required && f.value.empty()) {
      return std::string{f.name} + ": missing";
    }
    if (f.value.size() > limits.max_field_bytes) {
      return std::string{f.name} + ": longer than " + std::to_string(limits.max_field_bytes)
             + " bytes";
    }
  }
  auto skew = e.timestamp_ms() - now_ms;
  if (e.timestamp_ms() <= 0 || std::llabs(skew) > limits.max_skew_ms) {
    return "timestamp_ms: " + std::to_string(skew)
           + " ms from now (allowed: " + std::to_string(limits.max_skew_ms) + ")";
  }
  return {};
}

std::string validate(const viewer_event& e, int64_t now_ms, const event_limits& limits) {
  // A ViewerEvent names its id explicitly: it is required (then as a block's event).
  auto t = static_cast<int>(e.type());
  if (t == streamverse::v1::EVENT_UNKNOWN || !streamverse::v1::ViewerEventType_IsValid(t)) {
    return "type: unknown (" + std::to_string(t) + ")";
  }
  if (e.event_id().empty()) {
    return "event_id: missing";
  }
  block_builder b;
  b.add(e);
  auto block = b.take();
  return validate(event_view{block, 0}, now_ms, limits);
}

std::string reason_field(const std::string& reason) {
  return reason.substr(0, reason.find(':'));
}

} // namespace sv::analytics
