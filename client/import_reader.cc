#include "client/import_reader.h"

#include <algorithm>
#include <cctype>
#include <set>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

namespace evault::client {

using nlohmann::json;

namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// A column name as it may appear in an error: it is structure, not evidence, but it is
// still input, so it is capped and shown only if printable.
std::string ShownColumn(std::string_view name) {
  if (!IsValidUtf8(name) ||
      std::any_of(name.begin(), name.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; })) {
    return "(unprintable)";
  }
  if (name.size() <= 40) return std::string(name);
  std::size_t cut = 40;
  while (cut > 0 && (static_cast<unsigned char>(name[cut]) & 0xC0) == 0x80) --cut;  // a whole character
  return std::string(name.substr(0, cut)) + "...";
}

std::string JoinNames(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out;
}

}  // namespace

std::optional<ImportFormat> ImportFormatForFile(std::string_view file_name) {
  const std::string name = Lower(file_name);
  auto ends_with = [&](std::string_view suffix) { return name.ends_with(suffix); };
  if (ends_with(".jsonl") || ends_with(".ndjson")) return ImportFormat::kJsonLines;
  if (ends_with(".csv")) return ImportFormat::kCsv;
  return std::nullopt;
}

std::optional<ImportFormat> ImportFormatByName(std::string_view name) {
  if (name == "jsonl") return ImportFormat::kJsonLines;
  if (name == "csv") return ImportFormat::kCsv;
  return std::nullopt;
}

bool IsValidUtf8(std::string_view text) {
  std::size_t i = 0;
  const std::size_t n = text.size();
  while (i < n) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len;
    std::uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2, cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3, cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4, cp = c & 0x07;
    } else {
      return false;  // a continuation byte, an overlong lead (C0, C1) or past F4
    }
    if (i + len > n) return false;
    for (std::size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(text[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += len;
  }
  return true;
}

ImportReader::ImportReader(std::istream& in, ImportFormat format) : in_(in.rdbuf()), format_(format) {}

int ImportReader::Get() {
  const int c = in_ == nullptr ? EOF : in_->sbumpc();
  if (c == EOF) return EOF;
  ++bytes_read_;
  if (c == '\n') ++line_;
  return c;
}

int ImportReader::Peek() { return in_ == nullptr ? EOF : in_->sgetc(); }

std::unexpected<Error> ImportReader::Failed(std::uint64_t line, std::string what) {
  error_ = Error{ErrorCode::kInvalidArgument, fmt::format("line {}: {}", line, what)};
  return std::unexpected(*error_);
}

Result<std::optional<ImportRecord>> ImportReader::Next() {
  if (error_) return std::unexpected(*error_);
  if (!started_) {
    started_ = true;
    // A byte order mark, as spreadsheet programs write before UTF-8 text.
    if (Peek() == 0xEF) {
      Get();
      if (Get() != 0xBB || Get() != 0xBF) return Failed(1, "the input starts with a broken byte order mark");
    }
    if (format_ == ImportFormat::kCsv) EVAULT_TRY(ReadCsvHeader());
  }
  return format_ == ImportFormat::kJsonLines ? NextJsonLine() : NextCsvRecord();
}

// --- JSON Lines ----------------------------------------------------------------------

Result<std::optional<ImportRecord>> ImportReader::NextJsonLine() {
  while (true) {
    const std::uint64_t line = line_;
    std::string text;
    int c;
    bool any = false;
    while ((c = Get()) != EOF) {
      any = true;
      if (c == '\n') break;
      if (text.size() == kMaxImportRecordBytes) {
        return Failed(line, fmt::format("the line is longer than {} MiB", kMaxImportRecordBytes >> 20));
      }
      text.push_back(static_cast<char>(c));
    }
    if (!any) return std::nullopt;
    if (!text.empty() && text.back() == '\r') text.pop_back();
    if (text.find_first_not_of(" \t") == std::string::npos) continue;  // an empty line
    if (!IsValidUtf8(text)) return Failed(line, "the line is not valid UTF-8");
    return ImportRecord{line, std::move(text)};
  }
}

// --- CSV -------------------------------------------------------------------------------

Result<std::optional<ImportReader::Row>> ImportReader::ReadCsvRow() {
  Row row;
  row.line = line_;
  std::string cell;
  std::size_t row_bytes = 0;
  enum class State { kCellStart, kUnquoted, kQuoted, kAfterQuote } state = State::kCellStart;
  auto add_byte = [&](int c) -> Status {
    if (++row_bytes > kMaxImportRecordBytes) {
      return Failed(row.line, fmt::format("the row is longer than {} MiB", kMaxImportRecordBytes >> 20));
    }
    cell.push_back(static_cast<char>(c));
    return Ok();
  };
  auto end_cell = [&] {
    row.cells.push_back(std::move(cell));
    cell.clear();
  };
  if (Peek() == EOF) return std::nullopt;
  while (true) {
    const std::uint64_t at = line_;
    const int c = Get();
    if (c == EOF) {
      if (state == State::kQuoted) return Failed(row.line, "a quoted cell is not closed");
      end_cell();
      return row;
    }
    if (state == State::kQuoted) {
      if (c == '"') {
        if (Peek() == '"') {
          Get();
          EVAULT_TRY(add_byte('"'));
        } else {
          state = State::kAfterQuote;
        }
      } else {
        EVAULT_TRY(add_byte(c));
      }
      continue;
    }
    // Outside quotes: a line end (LF or CRLF) ends the row, a comma the cell.
    if (c == '\r' && Peek() == '\n') continue;
    if (c == '\n') {
      end_cell();
      return row;
    }
    row.blank = false;
    if (c == ',') {
      end_cell();
      state = State::kCellStart;
      continue;
    }
    switch (state) {
      case State::kCellStart:
        if (c == '"') {
          state = State::kQuoted;
          break;
        }
        state = State::kUnquoted;
        EVAULT_TRY(add_byte(c));
        break;
      case State::kUnquoted:
        if (c == '"') return Failed(at, "a quote inside an unquoted cell (quote the whole cell and double the quote)");
        EVAULT_TRY(add_byte(c));
        break;
      case State::kAfterQuote:
        return Failed(at, "text after the closing quote of a cell");
      case State::kQuoted:
        break;
    }
  }
}

Status ImportReader::ReadCsvHeader() {
  std::optional<Row> header;
  while (true) {
    EVAULT_ASSIGN_OR_RETURN(header, ReadCsvRow());
    if (!header) return Failed(line_, "the CSV has no header row");
    if (!header->blank) break;
  }
  const auto& flat = vault::FlatRecordFields();
  std::set<std::string> seen;
  for (const auto& name : header->cells) {
    if (std::find(flat.begin(), flat.end(), name) == flat.end()) {
      return Failed(header->line,
                    fmt::format("column '{}' is not a flat record field; CSV columns are {} "
                                "(lists such as people, sources and tags need JSON Lines)",
                                name.empty() ? "(empty)" : ShownColumn(name), JoinNames(flat)));
    }
    if (!seen.insert(name).second) return Failed(header->line, fmt::format("column '{}' appears twice", name));
  }
  columns_ = header->cells;
  return Ok();
}

Result<std::optional<ImportRecord>> ImportReader::NextCsvRecord() {
  while (true) {
    EVAULT_ASSIGN_OR_RETURN(std::optional<Row> row, ReadCsvRow());
    if (!row) return std::nullopt;
    if (row->blank) continue;
    if (row->cells.size() != columns_.size()) {
      return Failed(row->line, fmt::format("the row has {} cells, the header {}", row->cells.size(), columns_.size()));
    }
    if (std::all_of(row->cells.begin(), row->cells.end(), [](const std::string& s) { return s.empty(); })) {
      continue;  // ",,,": a spreadsheet's empty row
    }
    json record = json::object();
    for (std::size_t i = 0; i < columns_.size(); ++i) {
      std::string& value = row->cells[i];
      if (value.empty()) continue;
      if (!IsValidUtf8(value)) {
        return Failed(row->line, fmt::format("column '{}' is not valid UTF-8", columns_[i]));
      }
      const std::string& path = columns_[i];
      const std::size_t dot = path.find('.');
      if (dot == std::string::npos) {
        record[path] = std::move(value);
      } else {
        record[path.substr(0, dot)][path.substr(dot + 1)] = std::move(value);
      }
    }
    return ImportRecord{row->line, record.dump()};
  }
}

Status CheckImportRecord(const ImportRecord& record) {
  auto parsed = vault::ParseRecordJson(record.json);
  if (parsed) return Ok();
  // The record is one line: its position within the line is the column alone.
  std::string message = parsed.error().message;
  constexpr std::string_view kFirstLine = "invalid JSON at line 1, column ";
  if (message.starts_with(kFirstLine)) message = "invalid JSON at column " + message.substr(kFirstLine.size());
  return Fail(parsed.error().code, fmt::format("line {}: {}", record.line, message));
}

}  // namespace evault::client
