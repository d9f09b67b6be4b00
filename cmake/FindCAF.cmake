# Locates CAF 0.17 as Debian packages it (libcaf-dev ships headers and shared
# libraries but neither a CMake package file nor a pkg-config file).
#
# Result: imported targets CAF::core, CAF::io and CAF::openssl, plus CAF_VERSION.
include(FindPackageHandleStandardArgs)

find_path(CAF_INCLUDE_DIR NAMES caf/config.hpp)
find_library(CAF_CORE_LIBRARY NAMES caf_core)
find_library(CAF_IO_LIBRARY NAMES caf_io)
find_library(CAF_OPENSSL_LIBRARY NAMES caf_openssl)

if(CAF_INCLUDE_DIR AND EXISTS "${CAF_INCLUDE_DIR}/caf/config.hpp")
  # The header encodes the version as one number, e.g. 1706 for 0.17.6.
  file(STRINGS "${CAF_INCLUDE_DIR}/caf/config.hpp" _sv_caf_line
       REGEX "^#define CAF_VERSION [0-9]+$")
  string(REGEX MATCH "[0-9]+$" _sv_caf_num "${_sv_caf_line}")
  if(_sv_caf_num)
    math(EXPR _sv_major "${_sv_caf_num} / 10000")
    math(EXPR _sv_minor "(${_sv_caf_num} % 10000) / 100")
    math(EXPR _sv_patch "${_sv_caf_num} % 100")
    set(CAF_VERSION "${_sv_major}.${_sv_minor}.${_sv_patch}")
  endif()
endif()

find_package_handle_standard_args(
  CAF
  REQUIRED_VARS CAF_INCLUDE_DIR CAF_CORE_LIBRARY CAF_IO_LIBRARY CAF_OPENSSL_LIBRARY
  VERSION_VAR CAF_VERSION)

if(CAF_FOUND AND NOT TARGET CAF::core)
  find_package(Threads REQUIRED)
  add_library(CAF::core SHARED IMPORTED)
  set_target_properties(
    CAF::core PROPERTIES IMPORTED_LOCATION "${CAF_CORE_LIBRARY}"
                         INTERFACE_SYSTEM_INCLUDE_DIRECTORIES "${CAF_INCLUDE_DIR}"
                         INTERFACE_LINK_LIBRARIES Threads::Threads)
  add_library(CAF::io SHARED IMPORTED)
  set_target_properties(CAF::io PROPERTIES IMPORTED_LOCATION "${CAF_IO_LIBRARY}"
                                           INTERFACE_LINK_LIBRARIES CAF::core)
  add_library(CAF::openssl SHARED IMPORTED)
  set_target_properties(CAF::openssl PROPERTIES IMPORTED_LOCATION "${CAF_OPENSSL_LIBRARY}"
                                                INTERFACE_LINK_LIBRARIES CAF::io)
endif()

mark_as_advanced(CAF_INCLUDE_DIR CAF_CORE_LIBRARY CAF_IO_LIBRARY CAF_OPENSSL_LIBRARY)
