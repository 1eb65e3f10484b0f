# The log store and the log source seam (included from src/CMakeLists.txt).
add_library(kmon_logs STATIC logs/logsource.c)
target_link_libraries(kmon_logs PUBLIC kmon_storage kmon_common PkgConfig::ZSTD)
