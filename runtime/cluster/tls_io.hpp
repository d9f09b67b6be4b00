#pragma once
// caf_openssl 0.17.6 never empties OpenSSL's per-thread error queue before SSL_read,
// SSL_write, SSL_connect or SSL_accept, and leaves it filled when a connection ends with
// a socket error (SSL_ERROR_SYSCALL). Every TLS connection of a process shares the one
// middleman thread, so the next SSL_read on any other connection that merely has no data
// yet sees the stale entry, is classed as failed, and CAF closes it: each streamverse-ctl
// call over TLS (its socket closes with a reset) dropped every node-to-node link of the
// node it asked. tls_io.cpp defines those four functions in the executable, where the
// dynamic linker finds them before libssl's: each empties the queue, as OpenSSL's manual
// requires before an I/O call, and then calls libssl's own.
#include <string>

namespace sv::cluster {

/// Resolves libssl's own SSL_read, SSL_write, SSL_connect and SSL_accept behind the
/// wrappers. Empty on success, else what is missing. Call it before the first TLS
/// connection (node start, ctl's connect); it also keeps tls_io.cpp linked into the
/// executable, which is what puts the wrappers in front of libssl.
std::string prepare_tls_io();

} // namespace sv::cluster
