# LogQL (included from src/CMakeLists.txt): lexer and parser, printer, the per-line
# pipeline, the template subset of line_format/label_format, and the evaluator over a log
# source (logs/logsource.h). Vector aggregations, binary operators and number formatting
# come from the PromQL library.
add_library(kmon_logql STATIC
  logql/eval.c logql/parse.c logql/pipeline.c logql/print.c logql/tmpl.c)
target_link_libraries(kmon_logql PUBLIC kmon_logs kmon_promql kmon_common)
