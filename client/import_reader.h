// Reading the records of an `evault import`: JSON Lines or CSV from a spreadsheet.
//
// The reader streams: it holds one record at a time (at most kMaxImportRecordBytes),
// whatever the size of the input, so the CLI can read a file twice (validate, then
// write) without keeping it. The input is untrusted and is evidence: errors name the
// line, the column and what is wrong, never a value.
//
// JSON Lines: one record per line, each the JSON `record add --json` takes.
// CSV (RFC 4180): a header row naming the record's flat fields (vault/record.h
// FlatRecordFields: kind, title, occurred.from, location.city, ...), then one record
// per row; quoted fields may hold commas, doubled quotes and line breaks. An empty
// cell leaves its field out.
// Both: a UTF-8 byte order mark at the start, CRLF line ends, empty lines and (CSV)
// rows whose every cell is empty are accepted and skipped.
#pragma once

#include <cstdint>
#include <istream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/status.h"
#include "vault/record.h"

namespace evault::client {

enum class ImportFormat { kJsonLines, kCsv };

// By extension (.jsonl or .ndjson, .csv; any case); nullopt for any other name.
std::optional<ImportFormat> ImportFormatForFile(std::string_view file_name);
// "jsonl" or "csv" (the --format option).
std::optional<ImportFormat> ImportFormatByName(std::string_view name);

// A CSV row or JSON line longer than this is refused (the record size limit).
inline constexpr std::size_t kMaxImportRecordBytes = vault::kMaxRecordJsonBytes;

struct ImportRecord {
  std::uint64_t line = 0;  // the input line the record starts on, from 1
  std::string json;        // the record as `record add --json` takes it; not yet validated
};

class ImportReader {
 public:
  // Reads from `in` (binary); `in` must outlive the reader.
  ImportReader(std::istream& in, ImportFormat format);

  // The next record, or nullopt at the end of the input. Errors are kInvalidArgument,
  // begin "line N: " and end the reading (every later call returns the same error).
  Result<std::optional<ImportRecord>> Next();

  // Bytes of input consumed so far (for progress).
  std::uint64_t bytes_read() const { return bytes_read_; }

 private:
  int Get();   // the next byte, or EOF
  int Peek();  // the next byte without consuming it, or EOF
  Result<std::optional<ImportRecord>> NextJsonLine();
  Result<std::optional<ImportRecord>> NextCsvRecord();
  // One CSV row: its cells and whether the row had any content at all.
  struct Row {
    std::uint64_t line = 0;
    std::vector<std::string> cells;
    bool blank = true;  // an empty line: no byte but the line end
  };
  Result<std::optional<Row>> ReadCsvRow();
  Status ReadCsvHeader();
  std::unexpected<Error> Failed(std::uint64_t line, std::string what);

  std::streambuf* in_;
  ImportFormat format_;
  std::uint64_t line_ = 1;  // the line the next byte is on
  std::uint64_t bytes_read_ = 0;
  bool started_ = false;  // the byte order mark was looked for
  std::optional<Error> error_;
  std::vector<std::string> columns_;  // CSV: the header's field paths, in order
};

// Parses and validates `record` as Vault::AddRecord will. Errors begin "line N: ".
Status CheckImportRecord(const ImportRecord& record);

// Whether `text` is valid UTF-8 (no overlong forms, surrogates or code points past U+10FFFF).
bool IsValidUtf8(std::string_view text);

}  // namespace evault::client
