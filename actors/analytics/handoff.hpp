#pragma once

// Which partitions a node holds nothing of (so that it answers an owner's handoff request
// without opening the partition's file). CAF-free.
//
// The answer "empty" comes from the partition actor, asynchronously: a batch stored there
// in the meantime (sent by a node whose view still named this one the owner, or adopted
// here) must win over that older answer, or the node would keep the batch while saying it
// holds nothing, and the batch would stay stored twice (here and at the owner) for good.
// So each partition has a generation that every store raises; "empty" counts only for the
// generation it was asked at.

#include <cstdint>
#include <unordered_map>

namespace sv::analytics {

class empty_marks {
public:
  /// Before asking partition `p` whether it holds anything: the generation to pass back.
  uint64_t ask(uint32_t p) const {
    auto i = generation_.find(p);
    return i == generation_.end() ? 0 : i->second;
  }

  /// Something was (or may be about to be) stored at `p` on this node.
  void stored(uint32_t p) {
    ++generation_[p];
    empty_.erase(p);
  }

  /// The partition answered "nothing here" to the question asked at `generation`; kept only
  /// if nothing was stored since.
  void answered_empty(uint32_t p, uint64_t generation) {
    if (ask(p) == generation) {
      empty_[p] = generation;
    }
  }

  bool empty(uint32_t p) const {
    auto i = empty_.find(p);
    return i != empty_.end() && i->second == ask(p);
  }

private:
  std::unordered_map<uint32_t, uint64_t> generation_;
  std::unordered_map<uint32_t, uint64_t> empty_;
};

} // namespace sv::analytics
