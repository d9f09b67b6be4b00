#pragma once

// Fills a protobuf message through reflection, for round-trip tests.

#include <cstdint>
#include <string>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

namespace sv::test {

// Gives every field of `m` a non-default value (two entries for repeated fields), so
// that a field lost on the way shows up in the comparison.
inline void fill(google::protobuf::Message& m, int depth) {
  using google::protobuf::FieldDescriptor;
  auto* d = m.GetDescriptor();
  auto* r = m.GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    auto* f = d->field(i);
    int copies = f->is_repeated() ? 2 : 1;
    for (int k = 0; k < copies; ++k) {
      auto n = 7 + i + k;
      bool rep = f->is_repeated();
      switch (f->cpp_type()) {
      case FieldDescriptor::CPPTYPE_INT32:
        rep ? r->AddInt32(&m, f, -n) : r->SetInt32(&m, f, -n);
        break;
      case FieldDescriptor::CPPTYPE_INT64:
        rep ? r->AddInt64(&m, f, -(int64_t{1} << 40) - n)
            : r->SetInt64(&m, f, -(int64_t{1} << 40) - n);
        break;
      case FieldDescriptor::CPPTYPE_UINT32:
        rep ? r->AddUInt32(&m, f, 4'000'000'000u - n) : r->SetUInt32(&m, f, 4'000'000'000u - n);
        break;
      case FieldDescriptor::CPPTYPE_UINT64:
        rep ? r->AddUInt64(&m, f, (uint64_t{1} << 50) + n)
            : r->SetUInt64(&m, f, (uint64_t{1} << 50) + n);
        break;
      case FieldDescriptor::CPPTYPE_DOUBLE:
        rep ? r->AddDouble(&m, f, n + 0.25) : r->SetDouble(&m, f, n + 0.25);
        break;
      case FieldDescriptor::CPPTYPE_FLOAT:
        rep ? r->AddFloat(&m, f, n + 0.5f) : r->SetFloat(&m, f, n + 0.5f);
        break;
      case FieldDescriptor::CPPTYPE_BOOL:
        rep ? r->AddBool(&m, f, true) : r->SetBool(&m, f, true);
        break;
      case FieldDescriptor::CPPTYPE_ENUM: {
        auto* e = f->enum_type();
        auto* v = e->value(e->value_count() - 1);
        rep ? r->AddEnum(&m, f, v) : r->SetEnum(&m, f, v);
        break;
      }
      case FieldDescriptor::CPPTYPE_STRING: {
        auto s = "v-" + f->name() + "-" + std::to_string(k) + " \xc3\xa9";
        rep ? r->AddString(&m, f, s) : r->SetString(&m, f, s);
        break;
      }
      case FieldDescriptor::CPPTYPE_MESSAGE:
        if (depth < 3) {
          fill(rep ? *r->AddMessage(&m, f) : *r->MutableMessage(&m, f), depth + 1);
        }
        break;
      }
    }
  }
}

} // namespace sv::test
