# The log store and the log source seam (included from src/CMakeLists.txt).
add_library(kmon_logs STATIC logs/logsource.c logs/logcheck.c logs/lcodec.c logs/store.c logs/lread.c
                             logs/inspect.c)
target_link_libraries(kmon_logs PUBLIC kmon_storage kmon_common PkgConfig::ZSTD PkgConfig::XXHASH
                                       Threads::Threads)
