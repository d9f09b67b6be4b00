# Installation and packaging (issue #15).
#
#   cmake --install build --prefix P   P/lib/*.a, P/include/streamverse/..., P/bin/*,
#                                      P/lib/cmake/StreamVerse/ (the CMake package)
#   cd build && cpack -G DEB           streamverse_<version>_amd64.deb
#
# A host application: find_package(StreamVerse 0.2 REQUIRED) and link StreamVerse::streamverse
# (every library of a full node) or single libraries (StreamVerse::runtime_node, ...).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# The one target a host application links.
add_library(streamverse_all INTERFACE)
add_library(streamverse::all ALIAS streamverse_all)
set_target_properties(streamverse_all PROPERTIES EXPORT_NAME streamverse)
target_link_libraries(
  streamverse_all
  INTERFACE streamverse_actors_services streamverse_runtime_node streamverse_runtime_cluster
            streamverse_runtime_config streamverse_runtime_flow streamverse_runtime_metrics
            streamverse_runtime_wire streamverse_actors_session streamverse_actors_catalog
            streamverse_actors_content streamverse_actors_cache streamverse_actors_analytics_service
            streamverse_actors_media_service streamverse_actors_integrations_service)

get_property(sv_exported GLOBAL PROPERTY SV_EXPORTED_TARGETS)
install(TARGETS ${sv_exported} streamverse_all EXPORT StreamVerseTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT StreamVerseTargets NAMESPACE StreamVerse::
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/StreamVerse)

# Headers keep the tree's paths: include/streamverse/runtime/..., include/streamverse/actors/...
# (sources, then what the build generates: protobuf headers and version.hpp).
foreach(dir runtime actors)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${dir}/
          DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/streamverse/${dir}
          FILES_MATCHING PATTERN "*.hpp")
  install(DIRECTORY ${PROJECT_BINARY_DIR}/${dir}/
          DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/streamverse/${dir}
          FILES_MATCHING PATTERN "*.pb.h" PATTERN "*.hpp"
          PATTERN "CMakeFiles" EXCLUDE)
endforeach()

install(TARGETS streamverse-node streamverse-ctl streamverse-soak
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

set(sv_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/StreamVerse)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/StreamVerseConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/StreamVerseConfig.cmake
                              INSTALL_DESTINATION ${sv_cmake_dir})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/StreamVerseConfigVersion.cmake
                                 VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/StreamVerseConfig.cmake
              ${PROJECT_BINARY_DIR}/StreamVerseConfigVersion.cmake
              ${PROJECT_SOURCE_DIR}/cmake/FindCAF.cmake
        DESTINATION ${sv_cmake_dir})

# The node as a service: a systemd unit that runs streamverse-node from
# /etc/streamverse/node.toml. The package installs the default config under share/ and
# its postinst copies it to /etc only when none is there, so local changes survive.
install(FILES ${PROJECT_SOURCE_DIR}/config/packaging/streamverse-node.service
        DESTINATION lib/systemd/system)
install(FILES ${PROJECT_SOURCE_DIR}/config/packaging/node.toml
              ${PROJECT_SOURCE_DIR}/config/single-node.toml ${PROJECT_SOURCE_DIR}/config/README.md
        DESTINATION ${CMAKE_INSTALL_DATADIR}/streamverse)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/config/local-cluster ${PROJECT_SOURCE_DIR}/config/soak
                  ${PROJECT_SOURCE_DIR}/config/examples
        DESTINATION ${CMAKE_INSTALL_DATADIR}/streamverse)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME streamverse)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "StreamVerse developers <streamverse@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "StreamVerse: an actor runtime for video-streaming backends")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT) # streamverse_<version>_amd64.deb
set(CPACK_DEBIAN_PACKAGE_SECTION net)
# The binaries' shared libraries (CAF, protobuf, OpenSSL, curl, ...) as computed by
# dpkg-shlibdeps; the headers and static libraries need the -dev packages to build a host
# application, so those are recommended.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS
    "libcaf-dev, libprotobuf-dev, protobuf-compiler, libspdlog-dev, libfmt-dev, libtomlplusplus-dev, libsqlite3-dev, libcurl4-openssl-dev, libssl-dev, libjwt-dev, pkg-config")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${PROJECT_SOURCE_DIR}/config/packaging/postinst
                                       ${PROJECT_SOURCE_DIR}/config/packaging/prerm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
