#pragma once

#include <string>

namespace sv {

/// Loads the node's TLS files the way a TLS context will: the certificate chain, the
/// private key (and that it matches the certificate), and the CA file. Returns "" when
/// all is well, else what is wrong, naming the file.
std::string check_tls_files(const std::string& certificate, const std::string& key,
                            const std::string& ca);

} // namespace sv
