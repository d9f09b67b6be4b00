#include "runtime/node/tls.hpp"

#include <memory>

#include <openssl/ssl.h>

namespace sv {

std::string check_tls_files(const std::string& certificate, const std::string& key,
                            const std::string& ca) {
  using ctx_ptr = std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)>;
  ctx_ptr ctx{SSL_CTX_new(TLS_method()), &SSL_CTX_free};
  if (!ctx) {
    return "cannot create a TLS context";
  }
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), certificate.c_str()) != 1) {
    return "cannot load the certificate chain " + certificate;
  }
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), key.c_str(), SSL_FILETYPE_PEM) != 1) {
    return "cannot load the private key " + key + " (not PEM, or encrypted)";
  }
  if (SSL_CTX_check_private_key(ctx.get()) != 1) {
    return "the private key " + key + " does not belong to " + certificate;
  }
  if (SSL_CTX_load_verify_locations(ctx.get(), ca.c_str(), nullptr) != 1) {
    return "cannot load the CA certificates " + ca;
  }
  return {};
}

} // namespace sv
