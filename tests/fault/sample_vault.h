// The vault the fault and tamper suites start from: built over two sessions, so its
// database holds table files, blob files, a live write-ahead log and a MANIFEST, with
// Cyrillic and Kazakh text, an edited record and a 3-chunk attachment. Also what it
// reads back (vault_snapshot.h), taken from a throw-away copy because reads are logged.
#pragma once

#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "tests/vault/test_util.h"
#include "tests/vault/vault_snapshot.h"
#include "vault/vault.h"

namespace evault::vault::testing {

struct SampleVault {
  VaultIds ids;
  Reads reads;  // every read of ids, from a copy
  std::string case_a, case_b;
  std::string r1, r2, r3;  // r1: edited, with the attachment; r2, r3: one revision
};

// Builds the sample vault in `dir`; `scratch` holds the attachment's source file.
// Use with ASSERT_NO_FATAL_FAILURE.
inline void BuildSampleVault(const fs::path& dir, const fs::path& scratch, SampleVault& out) {
  {
    ASSERT_OK(Vault::Create(dir, Passphrase(kPassphrase), FastKdf()));
    ASSERT_OK_AND_ASSIGN(auto v, Vault::Open(dir, Passphrase(kPassphrase)));
    ASSERT_OK_AND_ASSIGN(CaseInfo a, v->CreateCase("Дело А", {"alpha"}));
    out.case_a = a.id;
    ASSERT_OK_AND_ASSIGN(RecordRevision x, v->AddRecord(a.id, SimpleRecord("first", "Заведомо ложная информация")));
    out.r1 = x.record_id;
    ASSERT_OK_AND_ASSIGN(RecordRevision y, v->AddRecord(a.id, SimpleRecord("second", "protest dispersed")));
    out.r2 = y.record_id;
    ASSERT_OK(v->EditRecord(out.r1, SimpleRecord("first, edited", "ложная информация, ст. 274")));
    WriteFile(scratch / "photo.jpg", Pattern(5, (5u << 20) / 2));
    ASSERT_OK(v->AddAttachment(out.r1, scratch / "photo.jpg"));
  }
  {
    ASSERT_OK_AND_ASSIGN(auto v, Vault::Open(dir, Passphrase(kPassphrase)));
    ASSERT_OK_AND_ASSIGN(CaseInfo b, v->CreateCase("Case B", {}));
    out.case_b = b.id;
    ASSERT_OK_AND_ASSIGN(RecordRevision z, v->AddRecord(b.id, SimpleRecord("third", "Нұр-Сұлтан protest")));
    out.r3 = z.record_id;
    out.ids.cases = {out.case_a, b.id};
    out.ids.records = {out.r1, out.r2, out.r3};
    ASSERT_OK_AND_ASSIGN(auto atts, v->ListAttachments(out.r1));
    ASSERT_EQ(atts.size(), 1u);
    for (const auto& a : atts) out.ids.attachments.push_back(a.id);
    out.ids.words = {"protest", "ложная", "нұр", "second", "first"};
  }
  const fs::path copy = scratch / "sample-reads";
  std::error_code ec;
  fs::remove_all(copy, ec);
  fs::copy(dir, copy, fs::copy_options::recursive);
  {
    ASSERT_OK_AND_ASSIGN(auto v, Vault::Open(copy, Passphrase(kPassphrase)));
    out.reads = ReadEverything(*v, out.ids);
    for (const auto& [op, result] : out.reads) ASSERT_TRUE(result.has_value()) << op << ": " << result.error().message;
  }
  fs::remove_all(copy, ec);
}

}  // namespace evault::vault::testing
