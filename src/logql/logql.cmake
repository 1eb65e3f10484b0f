# LogQL (included from src/CMakeLists.txt). Until its sources land: an interface
# library, so that others may already link kmon_logql.
add_library(kmon_logql INTERFACE)
target_link_libraries(kmon_logql INTERFACE kmon_logs)
