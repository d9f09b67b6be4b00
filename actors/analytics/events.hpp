#pragma once

// Viewer events: what a partition accepts (design §7), and the columnar block they travel
// and are stored in (issue #14: no heap string per event). CAF-free.

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "actors/analytics/analytics.pb.h"

namespace sv::analytics {

using viewer_event = streamverse::v1::ViewerEvent;
using event_batch = streamverse::v1::EventBatch;
using event_block = streamverse::v1::EventBlock;
using event_type = streamverse::v1::ViewerEventType;

struct event_limits {
  /// How far an event's timestamp may be from the receiver's clock, either way.
  int64_t max_skew_ms = 300'000;
  /// The longest id, region, device or error code.
  size_t max_field_bytes = 128;
};

/// Event `i` of a block, read in place (valid while the block is).
class event_view {
public:
  event_view(const event_block& b, int i) noexcept : b_(&b), i_(i) {}

  event_type type() const noexcept {
    return static_cast<event_type>(b_->type(i_));
  }
  std::string_view user() const noexcept {
    return str(b_->user(i_));
  }
  std::string_view content() const noexcept {
    return str(b_->content(i_));
  }
  std::string_view region() const noexcept {
    return str(b_->region(i_));
  }
  std::string_view device() const noexcept {
    return str(b_->device(i_));
  }
  std::string_view error_code() const noexcept {
    return str(b_->error_code(i_));
  }
  int64_t timestamp_ms() const noexcept {
    return b_->timestamp_ms(i_);
  }
  uint32_t startup_ms() const noexcept {
    return b_->startup_ms(i_);
  }
  uint32_t bitrate_kbps() const noexcept {
    return b_->bitrate_kbps(i_);
  }
  uint32_t buffer_ms() const noexcept {
    return b_->buffer_ms(i_);
  }
  uint32_t rebuffer_ms() const noexcept {
    return b_->rebuffer_ms(i_);
  }
  uint32_t watched_ms() const noexcept {
    return b_->watched_ms(i_);
  }
  int64_t position_ms() const noexcept {
    return b_->position_ms(i_);
  }
  /// The event's explicit id ("" when it is derived from source, session and seq).
  std::string_view explicit_id() const noexcept {
    return str(b_->event_id(i_));
  }
  /// Who made a derived id ("" for explicit ids).
  std::string_view source() const noexcept {
    return str(b_->source(i_));
  }
  /// The id, explicit or derived ("<source>/<session>/<seq>").
  std::string event_id() const;
  /// The session as text (a number printed in decimal).
  std::string session_id() const;
  /// Whether the event names a session at all.
  bool has_session() const noexcept {
    return b_->session_ref(i_) != 0 || b_->session(i_) != 0;
  }
  /// A 64-bit key per session, the same for every event of it (sampling, viewer counts).
  uint64_t session_key() const noexcept;
  /// The block's string of index `ref` ("" when out of range).
  std::string_view str(uint32_t ref) const noexcept;
  int index() const noexcept {
    return i_;
  }

private:
  const event_block* b_;
  int i_;
};

/// The key event_view::session_key() gives a session named `session_id`.
uint64_t session_key_of(std::string_view session_id) noexcept;

/// The number of events in a block (the length of its columns; a block whose columns
/// differ in length is malformed: see well_formed()).
int event_count(const event_block& b) noexcept;

/// Every column as long as the first, and every string index in range.
bool well_formed(const event_block& b) noexcept;

/// One event's fields, as a builder takes them.
struct event_fields {
  std::string_view event_id; ///< "" to derive it from source, session and seq
  std::string_view source;
  uint32_t seq = 0;
  std::string_view session_text; ///< "" when the session is `session_number`
  uint64_t session_number = 0;
  event_type type = streamverse::v1::EVENT_UNKNOWN;
  std::string_view user, content, region, device, error_code;
  int64_t timestamp_ms = 0;
  uint32_t startup_ms = 0, bitrate_kbps = 0, buffer_ms = 0, rebuffer_ms = 0, watched_ms = 0;
  int64_t position_ms = 0;
};

/// Fills a block, each distinct string stored once.
class block_builder {
public:
  block_builder();
  /// `unique_user`: the user is (nearly) never repeated within a block (a session host's
  /// events): stored without looking for an earlier copy.
  void add(const event_fields& f, bool unique_user = false);
  void add(const viewer_event& e);
  /// Copies event `i` of `from`.
  void add(const event_view& e);
  int size() const noexcept {
    return event_count(block_);
  }
  bool empty() const noexcept {
    return size() == 0;
  }
  /// The block so far (producer, sequence and partition still to set); starts anew.
  event_block take();

private:
  uint32_t ref(std::string_view s);
  uint32_t append(std::string_view s);

  event_block block_;
  // A string's hash -> its index (checked against the text: a colliding string is simply
  // stored again).
  std::unordered_map<uint64_t, uint32_t> index_;
};

/// The string of index `ref` in a block's table ("" for 0 or out of range).
std::string_view block_string(const event_block& b, uint32_t ref) noexcept;

/// How many strings a block's table holds (index 0, "", included).
uint32_t block_strings(const event_block& b) noexcept;

/// `b`'s events as a block (the producer, sequence and partition too).
event_block to_block(const event_batch& b);

/// Event `e` as a ViewerEvent (exports, tests).
viewer_event to_event(const event_view& e);

/// Empty when `e` may be stored; otherwise why not ("type: unknown (9)",
/// "timestamp_ms: 400000 ms from now", "session_id: missing", "region: longer than 128
/// bytes"). The reason's part before ':' is the field, usable as a metric label.
std::string validate(const event_view& e, int64_t now_ms, const event_limits& limits = {});
std::string validate(const viewer_event& e, int64_t now_ms, const event_limits& limits = {});

/// The field a validate() reason names ("type", "timestamp_ms", ...).
std::string reason_field(const std::string& reason);

} // namespace sv::analytics
