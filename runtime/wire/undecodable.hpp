#pragma once

// A payload that failed to decode (a type the receiver's system does not know, or corrupt
// bytes) reaches an actor as an empty message. Actors that other nodes or clients talk to
// install this default handler so such a message is answered with
// errc::undecodable_payload (and counted) instead of CAF's generic unexpected_message;
// anything else unknown is still answered unexpected_message.
//
//   wire::answer_undecodable(self, "cache service");   // in the behavior function

#include "caf/message.hpp"
#include "caf/message_view.hpp"
#include "caf/result.hpp"
#include "caf/scheduled_actor.hpp"
#include "caf/sec.hpp"
#include "runtime/wire/message_types.hpp"

namespace sv::wire {

template <class Self>
void answer_undecodable(Self* self, const char* receiver) {
  self->set_default_handler(
      [receiver](caf::scheduled_actor*, caf::message_view& x) -> caf::result<caf::message> {
        if (x.content().empty()) {
          return undecodable(receiver);
        }
        return caf::sec::unexpected_message;
      });
}

} // namespace sv::wire
