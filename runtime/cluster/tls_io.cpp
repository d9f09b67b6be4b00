#include "runtime/cluster/tls_io.hpp"

#include <dlfcn.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

namespace {

using read_fn = int (*)(SSL*, void*, int);
using write_fn = int (*)(SSL*, const void*, int);
using handshake_fn = int (*)(SSL*);

template <class F>
F next_symbol(const char* name) {
  return reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
}

struct libssl_functions {
  read_fn read = next_symbol<read_fn>("SSL_read");
  write_fn write = next_symbol<write_fn>("SSL_write");
  handshake_fn connect = next_symbol<handshake_fn>("SSL_connect");
  handshake_fn accept = next_symbol<handshake_fn>("SSL_accept");
};

const libssl_functions& libssl() {
  static const libssl_functions fns;
  return fns;
}

} // namespace

// Without libssl's function behind a wrapper (prepare_tls_io reports it at start), the
// call fails as an SSL error would, and CAF closes that one connection.
extern "C" int SSL_read(SSL* ssl, void* buf, int num) {
  ERR_clear_error();
  auto fn = libssl().read;
  return fn != nullptr ? fn(ssl, buf, num) : -1;
}

extern "C" int SSL_write(SSL* ssl, const void* buf, int num) {
  ERR_clear_error();
  auto fn = libssl().write;
  return fn != nullptr ? fn(ssl, buf, num) : -1;
}

extern "C" int SSL_connect(SSL* ssl) {
  ERR_clear_error();
  auto fn = libssl().connect;
  return fn != nullptr ? fn(ssl) : -1;
}

extern "C" int SSL_accept(SSL* ssl) {
  ERR_clear_error();
  auto fn = libssl().accept;
  return fn != nullptr ? fn(ssl) : -1;
}

namespace sv::cluster {

std::string prepare_tls_io() {
  const auto& fns = libssl();
  std::string missing;
  auto check = [&](const void* fn, const char* name) {
    if (fn == nullptr) {
      missing += missing.empty() ? "libssl's " : ", ";
      missing += name;
    }
  };
  check(reinterpret_cast<const void*>(fns.read), "SSL_read");
  check(reinterpret_cast<const void*>(fns.write), "SSL_write");
  check(reinterpret_cast<const void*>(fns.connect), "SSL_connect");
  check(reinterpret_cast<const void*>(fns.accept), "SSL_accept");
  return missing.empty() ? missing : missing + " not found behind StreamVerse's wrappers";
}

} // namespace sv::cluster
