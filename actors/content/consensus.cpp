#include "actors/content/consensus.hpp"

#include <algorithm>

namespace sv::content::consensus {

promise_reply prepare(catalog_store& store, const std::string& id, const ballot& b) {
  promise_reply r;
  r.accepted = store.get_stored(id);
  auto before = store.promised(id);
  if (r.accepted && before < r.accepted->accepted) {
    before = r.accepted->accepted;
  }
  if (!(before < b)) {
    r.promised = before;
    return r;
  }
  r.ok = store.promise(id, b);
  r.promised = r.ok ? b : before;
  return r;
}

accept_reply accept(catalog_store& store, const metadata& m, const ballot& b) {
  accept_reply r;
  auto before = store.promised(m.id());
  if (b < before) {
    r.promised = before;
    return r;
  }
  auto applied = store.apply(m, b);
  if (!applied) {
    r.promised = before;
    return r;
  }
  r.stored = *applied == apply_result::applied;
  // Taken: the store holds exactly this version under this ballot. Not taken: a repeat of
  // this very proposal (fine), or something that supersedes it (refused).
  std::optional<stored_version> now;
  if (!r.stored) {
    now = store.get_stored(m.id());
  }
  r.ok = r.stored || (now && now->accepted == b && now->value.version() == m.version());
  r.promised = r.ok ? b : (now ? std::max(before, now->accepted) : before);
  if (r.ok && before < b) {
    store.promise(m.id(), b);
  }
  return r;
}

void proposal::on_promise(const promise_reply& r) {
  if (!r.ok) {
    refusal_ = std::max(refusal_, r.promised);
    return;
  }
  ++promises_;
  if (r.accepted && (!highest_ || supersedes(*r.accepted, *highest_))) {
    highest_ = r.accepted;
  }
}

void proposal::on_accepted(const accept_reply& r) {
  if (!r.ok) {
    refusal_ = std::max(refusal_, r.promised);
    return;
  }
  ++accepts_;
}

} // namespace sv::content::consensus
