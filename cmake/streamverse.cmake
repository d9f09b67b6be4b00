# Helpers shared by every folder's CMakeLists.txt.

# sv_library(NAME <name> SOURCES ... [PUBLIC_DEPS ...] [PRIVATE_DEPS ...])
# Creates the static library streamverse_<name> with the alias streamverse::<name>.
# Include paths are rooted at the repository top, so code includes "runtime/x/y.hpp".
function(sv_library)
  cmake_parse_arguments(arg "" "NAME" "SOURCES;PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
  set(target streamverse_${arg_NAME})
  add_library(${target} STATIC ${arg_SOURCES})
  add_library(streamverse::${arg_NAME} ALIAS ${target})
  target_include_directories(
    ${target} PUBLIC $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}> $<BUILD_INTERFACE:${PROJECT_BINARY_DIR}>)
  target_link_libraries(${target} PUBLIC ${arg_PUBLIC_DEPS} PRIVATE ${arg_PRIVATE_DEPS})
  sv_warnings(${target})
  sv_export(${arg_NAME})
endfunction()

# sv_export(<name>): libraries of runtime/ and actors/ are installed and exported as
# StreamVerse::<name> (cmake/install.cmake); soak/ and tools/ are not.
function(sv_export name)
  file(RELATIVE_PATH dir ${PROJECT_SOURCE_DIR} ${CMAKE_CURRENT_SOURCE_DIR})
  if(dir MATCHES "^(runtime|actors)")
    set(target streamverse_${name})
    set_target_properties(${target} PROPERTIES EXPORT_NAME ${name})
    # Installed headers keep the tree's paths under include/streamverse/, so both
    # <streamverse/runtime/node/node.hpp> and the library's own "runtime/..." resolve.
    target_include_directories(${target} INTERFACE $<INSTALL_INTERFACE:include>
                                                   $<INSTALL_INTERFACE:include/streamverse>)
    set_property(GLOBAL APPEND PROPERTY SV_EXPORTED_TARGETS ${target})
  endif()
endfunction()

# sv_proto_library(NAME <name> PROTOS ...)
# Compiles .proto files into their own library streamverse_<name>, so editing a schema
# rebuilds only the code that includes the generated header. Generated files keep the
# source-relative path: runtime/cluster/cluster.proto -> "runtime/cluster/cluster.pb.h".
function(sv_proto_library)
  cmake_parse_arguments(arg "" "NAME" "PROTOS" ${ARGN})
  set(target streamverse_${arg_NAME})
  set(generated)
  foreach(proto ${arg_PROTOS})
    get_filename_component(abs ${proto} ABSOLUTE)
    file(RELATIVE_PATH rel ${PROJECT_SOURCE_DIR} ${abs})
    string(REGEX REPLACE "[.]proto$" "" stem ${rel})
    set(out ${PROJECT_BINARY_DIR}/${stem}.pb.cc ${PROJECT_BINARY_DIR}/${stem}.pb.h)
    add_custom_command(
      OUTPUT ${out}
      COMMAND protobuf::protoc --cpp_out=${PROJECT_BINARY_DIR} -I ${PROJECT_SOURCE_DIR} ${abs}
      DEPENDS ${abs} protobuf::protoc
      COMMENT "protoc ${rel}"
      VERBATIM)
    list(APPEND generated ${out})
  endforeach()
  add_library(${target} STATIC ${generated})
  add_library(streamverse::${arg_NAME} ALIAS ${target})
  target_include_directories(${target} SYSTEM PUBLIC $<BUILD_INTERFACE:${PROJECT_BINARY_DIR}>)
  target_link_libraries(${target} PUBLIC protobuf::libprotobuf)
  sv_export(${arg_NAME})
endfunction()

# sv_test(NAME <name> SOURCES ... DEPS ...)
# One doctest binary per library; one ctest entry per TEST_CASE so that a crash in one
# case (CAF 0.17's test DSL aborts on a failed expect) does not hide the others.
function(sv_test)
  cmake_parse_arguments(arg "" "NAME" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${arg_NAME} ${arg_SOURCES})
  target_link_libraries(${arg_NAME} PRIVATE ${arg_DEPS} streamverse::testkit_main)
  sv_warnings(${arg_NAME})
  # One label word, e.g. "unit-cluster": doctest's generated script flattens a list of
  # labels into separate arguments, and `ctest -L` matches a regular expression anyway.
  set(labels unit ${arg_LABELS})
  list(JOIN labels "-" label)
  doctest_discover_tests(${arg_NAME} TEST_PREFIX "${arg_NAME}: " PROPERTIES LABELS "${label}" ENVIRONMENT
                         "UBSAN_OPTIONS=${SV_UBSAN_OPTIONS}")
endfunction()

function(sv_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Werror)
endfunction()
