// How the CLI shows vault data: one line per item for lists (id first), a readable
// layout for `record show`, and JSON for scripts (--json).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "vault/vault.h"

namespace evault::client {

nlohmann::json ToJson(const vault::CaseInfo& c);
nlohmann::json ToJson(const vault::RecordRevision& r);
nlohmann::json ToJson(const vault::RecordView& v);
nlohmann::json ToJson(const vault::RecordSummary& s);
nlohmann::json ToJson(const vault::AttachmentInfo& a);

std::string CaseLine(const vault::CaseInfo& c);
std::string RecordLine(const vault::RecordSummary& s);
std::string AttachmentLine(const vault::AttachmentInfo& a);
std::string RenderRecord(const vault::RecordView& v, bool with_history);

}  // namespace evault::client
